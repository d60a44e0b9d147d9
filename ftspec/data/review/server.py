"""``ftspec review SPEC --serve``: a review page on 127.0.0.1 over the decisions file.

``ReviewSession`` does the work: the spec's examples (read once, at start, and added to the
decisions file as ``pending`` like ``ftspec review`` does), the decisions file (reread on every
request, so tabs and processes see each other's decisions) and ``decide``/``flag``, each one
``save_decision`` (lock, reread, check with the build's own loader, fsync + rename) before it
answers. A decision the page shows as saved is on disk; killing the server loses nothing.

The HTTP layer (stdlib ``ThreadingHTTPServer``) only routes and parses: ``GET /`` (the page,
``review_page.html``: one file, inline CSS and JS, no external asset), ``GET /api/state``,
``POST /api/decide`` and ``POST /api/flag``. Every refusal is a JSON ``{"error": ...}`` with a
4xx status and writes nothing.
"""

from __future__ import annotations

import contextlib
import html
import json
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any

from ftspec.data.records import Example
from ftspec.data.review.decisions import (
    DECISIONS,
    Decision,
    DecisionsFile,
    decisions_path,
    preview,
    save_decision,
)
from ftspec.data.review.pages import collect_examples, write_review
from ftspec.errors import FtspecError

if TYPE_CHECKING:
    from ftspec.spec.model import Spec

MAX_BODY = 4 << 20  # one decision is small; a larger body is refused unread
CONTENT_KEYS = ("messages", "prompt", "completion")


class BadRequest(Exception):
    """A request the server refuses; nothing was written."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class ReviewSession:
    """The examples under review and every change to their decisions."""

    def __init__(self, spec: Spec, examples: Iterable[Example] | None = None) -> None:
        self.spec = spec
        self.path = decisions_path(spec)
        unique: dict[str, Example] = {}
        for example in collect_examples(spec) if examples is None else examples:
            unique.setdefault(example.id, example)  # exact duplicates share an id and a decision
        self.examples = unique
        self.sources = list(dict.fromkeys(e.origin.source for e in unique.values()))
        write_review(spec, unique.values())  # new examples join the file as pending, pages refreshed
        self._lock = threading.Lock()  # one save at a time in this process; the file lock covers others
        self.file = DecisionsFile(self.path)

    # ---- reads --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        from ftspec.spec.loader import display_path

        decisions = self.file.read()
        return {"spec": self.spec.name, "decisions_file": display_path(self.path),
                "build_reads_decisions": self.spec.review is not None, "sources": self.sources,
                "progress": self.progress(decisions),
                "examples": [self.example_view(e, decisions.get(e.id)) for e in self.examples.values()]}

    def current_progress(self) -> dict[str, Any]:
        return self.progress(self.file.read())

    def progress(self, decisions: dict[str, Decision]) -> dict[str, Any]:
        counts = dict.fromkeys(DECISIONS, 0)
        flagged = 0
        for ident in self.examples:
            decision = decisions.get(ident)
            counts[decision.decision if decision else "pending"] += 1
            flagged += bool(decision and decision.extra.get("flagged"))
        total = len(self.examples)
        return {"total": total, "reviewed": total - counts["pending"], "counts": counts, "flagged": flagged}

    @staticmethod
    def example_view(example: Example, decision: Decision | None) -> dict[str, Any]:
        """One example as the page shows it: origin, any source context (a generated example's
        source chunk lives in ``meta``), the original record and its decision and edit."""
        return {"id": example.id, "source": example.origin.source, "origin": str(example.origin),
                "kind": example.kind, "context": {k: str(v) for k, v in example.meta.items()},
                "record": example.record, "decision": decision.decision if decision else "pending",
                "edited": decision.record if decision else None,
                "flagged": bool(decision and decision.extra.get("flagged"))}

    # ---- writes -------------------------------------------------------------------------------
    def decide(self, body: Any) -> dict[str, Any]:
        """``{"id", "decision"}``; an ``edit`` also sends the replacement ``messages`` (chat) or
        ``prompt`` and ``completion`` (completion examples)."""
        example = self._target(body, ("id", "decision", *CONTENT_KEYS))
        decision = body.get("decision")
        if decision not in DECISIONS:
            raise BadRequest(f"'decision' must be one of {', '.join(DECISIONS)}, not {decision!r}")
        sent = sorted(k for k in CONTENT_KEYS if k in body)
        change: dict[str, Any] = {"decision": decision}
        if decision == "edit":
            wanted = ["messages"] if example.kind == "chat" else ["completion", "prompt"]
            if sent != wanted:
                raise BadRequest(f"an edit of a {example.kind} example sends {' and '.join(map(repr, wanted))}")
            change.update({k: body[k] for k in wanted})
        elif sent:
            raise BadRequest(f"{sent[0]!r} is only sent with 'decision': 'edit'")
        return self._save(example, change)

    def flag(self, body: Any) -> dict[str, Any]:
        """``{"id", "flagged": true|false}``: a mark to come back to; the build ignores it."""
        example = self._target(body, ("id", "flagged"))
        if not isinstance(body.get("flagged"), bool):
            raise BadRequest("'flagged' must be true or false")
        return self._save(example, {"flagged": body["flagged"]})

    def _target(self, body: Any, allowed: tuple[str, ...]) -> Example:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise BadRequest(f"unknown key {unknown[0]!r}; this request takes {', '.join(allowed)}")
        ident = body.get("id")
        if not isinstance(ident, str) or ident not in self.examples:
            raise BadRequest(f"unknown example id {ident!r}", HTTPStatus.BAD_REQUEST)
        return self.examples[ident]

    def _save(self, example: Example, change: dict[str, Any]) -> dict[str, Any]:
        new = {"id": example.id, "decision": "pending", "origin": str(example.origin),
               "preview": preview(example.record)}
        with self._lock:
            try:
                decisions = save_decision(self.spec, example.id, change, new=new, known=self.file)
            except FtspecError as exc:  # the build's loader refused the result: its located message
                raise BadRequest("; ".join(exc.lines())) from None
        return {"example": self.example_view(example, decisions[example.id]), "progress": self.progress(decisions)}


# ---- HTTP -------------------------------------------------------------------------------------
def page_html(spec_name: str) -> bytes:
    template = resources.files("ftspec.data.review").joinpath("review_page.html").read_text(encoding="utf-8")
    return template.replace("{{SPEC}}", html.escape(spec_name)).encode("utf-8")


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True  # an open keep-alive tab never blocks shutdown

    def __init__(self, session: ReviewSession, port: int) -> None:
        self.session = session
        self.page = page_html(session.spec.name)
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/favicon.ico":  # browsers ask on every load; no icon, and no 404 in the console
            self.send_response(HTTPStatus.NO_CONTENT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._handle({"/": self._page, "/api/state": lambda: (HTTPStatus.OK, self.server.session.state())})

    def do_POST(self) -> None:  # noqa: N802
        session = self.server.session
        self._handle({"/api/decide": lambda: (HTTPStatus.OK, session.decide(self._body())),
                      "/api/flag": lambda: (HTTPStatus.OK, session.flag(self._body()))}, post=True)

    def _handle(self, routes: dict[str, Callable[[], tuple[HTTPStatus, Any]]], post: bool = False) -> None:
        try:
            self._check_origin(post)
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                raise BadRequest(f"no {self.command} {self.path.split('?', 1)[0]} here", HTTPStatus.NOT_FOUND)
            status, payload = route()
        except BadRequest as exc:
            status, payload = exc.status, {"error": exc.message}
        except FtspecError as exc:  # e.g. the decisions file was broken by hand while serving
            status, payload = HTTPStatus.CONFLICT, {"error": "; ".join(exc.lines())}
        if isinstance(payload, bytes):
            self._send(status, payload, "text/html; charset=utf-8")
        else:
            self._send(status, json.dumps(payload, ensure_ascii=False, allow_nan=False).encode(), "application/json")

    def _page(self) -> tuple[HTTPStatus, bytes]:
        return HTTPStatus.OK, self.server.page

    def _check_origin(self, post: bool) -> None:
        # Only this machine's pages may talk to the server: a foreign Host is DNS rebinding, a
        # foreign Origin on a POST is another site's page.
        if self.headers.get("Host") not in self.server.hosts:
            raise BadRequest(f"Host must be one of {', '.join(sorted(self.server.hosts))}", HTTPStatus.FORBIDDEN)
        origin = self.headers.get("Origin")
        if post and origin is not None and origin.removeprefix("http://") not in self.server.hosts:
            raise BadRequest(f"requests from {origin} are refused", HTTPStatus.FORBIDDEN)

    def _body(self) -> Any:
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise BadRequest("Content-Type must be application/json", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            raise BadRequest("Content-Length is required", HTTPStatus.LENGTH_REQUIRED) from None
        if not 0 <= length <= MAX_BODY:
            raise BadRequest(f"the body is over {MAX_BODY} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        raw = self.rfile.read(length)
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from None

    def _send(self, status: HTTPStatus, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        if len(args) == 3 and str(args[1]).startswith(("4", "5")):  # refusals only; every saved decision is in the file
            sys.stderr.write(f"review server: {format % args}\n")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def serve(spec: Spec, port: int, announce: Callable[[ReviewServer], None]) -> None:
    """Serve the review of ``spec`` on 127.0.0.1:``port`` (0: a free port) until Ctrl-C/SIGTERM."""
    session = ReviewSession(spec)
    try:
        server = ReviewServer(session, port)
    except OSError as exc:
        raise FtspecError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})",
                          hint="pick another port, or --port 0 for a free one") from None
    with server:
        announce(server)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop; nothing is unsaved
            server.serve_forever(poll_interval=0.2)
