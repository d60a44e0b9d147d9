"""``ftspec eval SPEC --compare --serve``: two answers side by side, the better one chosen by key.

``CompareSession`` holds the pairs (``reports/<spec>/compare.json``) and the choices file
(``reviews/<spec>.choices.json``); ``choose`` saves one decision under the file lock and
renames a complete file into place before it answers (``ftspec.data.choices.save_choice``), so
what the page shows as saved is on disk and a killed server loses nothing. A decision whose
saved answers differ from the pair's current ones (the pairs were regenerated) counts as
undecided.

HTTP (stdlib ``ThreadingHTTPServer``, 127.0.0.1 only): ``GET /`` (``compare_page.html``, one
self-contained file), ``GET /api/state``, ``POST /api/choose`` ``{"id", "choice"}``. A foreign
Host (DNS rebinding) or a foreign Origin on a POST is refused; every refusal is a JSON
``{"error"}`` with a 4xx status and writes nothing.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from ftspec.data.choices import CHOICES, choices_path, load_choices, save_choice, win_rate
from ftspec.errors import FtspecError

MAX_BODY = 64 << 10


class BadRequest(Exception):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class CompareSession:
    def __init__(self, spec_name: str, pairs: dict[str, Any], project_root: Path) -> None:
        self.spec_name = spec_name
        self.models = list(pairs.get("models") or [])
        self.pairs = {p["id"]: p for p in pairs["pairs"]}
        self.path = choices_path(project_root, spec_name)
        self.root = project_root
        self._lock = threading.Lock()

    def _current(self, decisions: dict[str, Any]) -> dict[str, str]:
        """pair id -> choice, for decisions made on the answers the pair holds now."""
        out = {}
        for pid, pair in self.pairs.items():
            entry = decisions.get(pid)
            if entry and all(entry.get(side) == pair[side] for side in ("left", "right")):
                out[pid] = entry["choice"]
        return out

    def state(self) -> dict[str, Any]:
        current = self._current(load_choices(self.path))
        return {"spec": self.spec_name, "models": self.models,
                "choices_file": self.path.relative_to(self.root).as_posix(),
                "progress": {"total": len(self.pairs), "decided": len(current)},
                "win_rate": self.win_rate(current),
                "pairs": [{**p, "choice": current.get(pid)} for pid, p in self.pairs.items()]}

    def win_rate(self, current: dict[str, str]) -> dict[str, Any] | None:
        if len(set(self.models)) < 2:
            return None  # n=2 samples of one model: no model to rate against another
        decided = {pid: {**self.pairs[pid], "choice": c} for pid, c in current.items()}
        return win_rate(decided, self.models[0])

    def choose(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"id", "choice"}:
            raise BadRequest("the body is {\"id\": ..., \"choice\": ...}")
        pair = self.pairs.get(body["id"]) if isinstance(body["id"], str) else None
        if pair is None:
            raise BadRequest(f"unknown pair id {body['id']!r}")
        if body["choice"] not in CHOICES:
            raise BadRequest(f"'choice' must be one of {', '.join(CHOICES)}, not {body['choice']!r}")
        entry = {"choice": body["choice"], "eval": pair["eval"], "input": pair["input"],
                 "left": pair["left"], "right": pair["right"], "decided_at": int(time.time())}
        with self._lock:
            decisions = save_choice(self.path, self.spec_name, pair["id"], entry)
        current = self._current(decisions)
        return {"id": pair["id"], "choice": body["choice"],
                "progress": {"total": len(self.pairs), "decided": len(current)}, "win_rate": self.win_rate(current)}


def page_html(spec_name: str) -> bytes:
    text = resources.files("ftspec.evals").joinpath("compare_page.html").read_text(encoding="utf-8")
    return text.replace("{{SPEC}}", html.escape(spec_name)).encode("utf-8")


class CompareServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: CompareSession, port: int) -> None:
        self.session = session
        self.page = page_html(session.spec_name)
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    server: CompareServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle({"/": lambda: (HTTPStatus.OK, self.server.page),
                      "/api/state": lambda: (HTTPStatus.OK, self.server.session.state())})

    def do_POST(self) -> None:  # noqa: N802
        self._handle({"/api/choose": lambda: (HTTPStatus.OK, self.server.session.choose(self._body()))}, post=True)

    def _handle(self, routes: dict[str, Callable[[], tuple[HTTPStatus, Any]]], post: bool = False) -> None:
        try:
            if self.headers.get("Host") not in self.server.hosts:
                raise BadRequest("foreign Host refused", HTTPStatus.FORBIDDEN)
            origin = self.headers.get("Origin")
            if post and origin is not None and origin.removeprefix("http://") not in self.server.hosts:
                raise BadRequest(f"requests from {origin} are refused", HTTPStatus.FORBIDDEN)
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                raise BadRequest(f"no {self.command} {self.path} here", HTTPStatus.NOT_FOUND)
            status, payload = route()
        except BadRequest as exc:
            status, payload = exc.status, {"error": exc.message}
        except FtspecError as exc:  # the choices file was broken by hand while serving
            status, payload = HTTPStatus.CONFLICT, {"error": "; ".join(exc.lines())}
        if isinstance(payload, bytes):
            data, ctype = payload, "text/html; charset=utf-8"
        else:
            data, ctype = json.dumps(payload, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise BadRequest("Content-Type must be application/json", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            raise BadRequest("a body of 1 byte to 64 KiB is required")
        try:
            return json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: every choice is in the file
        pass


def serve(session: CompareSession, port: int, announce: Callable[[CompareServer], None]) -> None:
    """Serve the compare page on 127.0.0.1:``port`` (0: a free one) until Ctrl-C/SIGTERM."""
    try:
        server = CompareServer(session, port)
    except OSError as exc:
        raise FtspecError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})",
                          hint="pick another port, or --port 0 for a free one") from None
    with server:
        announce(server)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever(poll_interval=0.2)
