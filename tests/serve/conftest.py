"""Fixtures for ``ftspec serve``: one trained project (chat + completion spec, trained once per
session), servers started as subprocesses on 127.0.0.1, and ``openai`` clients whose every
answer (JSON body or streamed event) is checked against OpenAI's OpenAPI schema."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30

COMPLETION_SPEC = """\
ftspec: 1
name: comp
provider: local
base_model: {base_model}
sources:
  - name: sample
    path: ../data/demo/train.jsonl
    format: chat_jsonl
template:
  type: completion
hyperparameters:
  n_epochs: 2
evals:
  - name: smoke
    cases: ../evals/comp.jsonl
    sampling: {{temperature: 0, max_tokens: 24}}
    scorers:
      - contains: {{field: must_include}}
"""
COMPLETION_CASES = [
    {"id": "p-1", "prompt": "How do I reset my password?", "must_include": ["Settings"]},
    {"id": "p-2", "prompt": "Where is my order?", "must_include": ["Orders"]},
]


def offline_env(store: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "FTSPEC_LOCAL_STORE": str(store)}
    env.pop("OPENAI_API_KEY", None)
    env.pop("FTSPEC_SERVE_API_KEY", None)
    return env


def ftspec(cwd: Path, env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def lock(self, name: str) -> dict:
        return json.loads((self.root / "specs" / f"{name}.lock").read_text(encoding="utf-8"))

    def report(self, name: str, eval_name: str = "smoke") -> dict:
        return json.loads((self.root / "reports" / name / f"{eval_name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def project(tiny_model, tmp_path_factory) -> Project:
    """``ftspec init`` + a completion-template spec, both built (trained and evaluated) once."""
    base = tmp_path_factory.mktemp("serve")
    env = offline_env(base / "store")
    done = ftspec(base, env, "init", "demo", "--base-model", tiny_model)
    assert done.returncode == 0, done.stderr
    root = base / "demo"
    spec = root / "specs" / "demo.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("n_epochs: auto", "n_epochs: 3"), encoding="utf-8")
    (root / "specs" / "comp.yaml").write_text(COMPLETION_SPEC.format(base_model=tiny_model), encoding="utf-8")
    (root / "evals" / "comp.jsonl").write_text("".join(json.dumps(c) + "\n" for c in COMPLETION_CASES),
                                                encoding="utf-8")
    built = ftspec(root, env, "build", "specs/demo.yaml", "specs/comp.yaml")
    assert built.returncode == 0, built.stderr
    return Project(root, env)


class Server:
    """``ftspec serve`` in a subprocess on 127.0.0.1 (port 0: the line it prints names the port)."""

    def __init__(self, project: Project, spec: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ftspec", "serve", spec, "--port", "0", *extra], cwd=project.root,
            env={**project.env, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_ready()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_ready(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError("ftspec serve did not start:\n" + "".join(self.stderr)) from None
            if line is None:
                raise AssertionError(f"ftspec serve exited ({self.proc.wait()}):\n" + "".join(self.stderr))
            if line.startswith("serving ") and " on http://" in line:
                return line.split(" on ", 1)[1].split(";", 1)[0].split(" ", 1)[0]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ftspec serve did not stop on a signal:\n" + "".join(self.stderr)) from None

    def health(self, key: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url.removesuffix("/v1") + "/health", headers=headers, timeout=10).json()


@dataclass
class SchemaCheck:
    """Every answer that passes through the client's transport, checked against the schema."""

    book: object
    violations: list[str] = field(default_factory=list)
    streams: int = 0  # streamed answers read to the end
    lock: threading.Lock = field(default_factory=threading.Lock)

    def body(self, method: str, path: str, status: int, data: bytes) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            self._add(f"{method} {path} {status}: not JSON: {data[:200]!r}")
            return
        for problem in self.book.response_errors(method, path, status, body):
            self._add(f"{method} {path} {status}: {problem}")

    def stream(self, path: str, data: bytes, complete: bool) -> None:
        """Server-sent events: each ``data:`` a schema-valid chunk (or error), ``[DONE]`` last."""
        chunk_schema = self.book.component(
            "CreateChatCompletionStreamResponse" if path.endswith("/chat/completions") else "CreateCompletionResponse")
        events = [e for e in data.decode("utf-8").split("\n\n") if e.strip()]
        ids = set()
        for i, event in enumerate(events):
            if not event.startswith("data: "):
                self._add(f"stream {path}: event {i} is not a data line: {event[:100]!r}")
                continue
            payload = event[len("data: "):]
            if payload == "[DONE]":
                if i != len(events) - 1:
                    self._add(f"stream {path}: [DONE] is not the last event")
                continue
            body = json.loads(payload)
            schema = self.book.error_schema() if "error" in body else chunk_schema
            checked = body
            if not path.endswith("/chat/completions") and "error" not in body:
                # The schema has no chunk type for streamed completions: a chunk is a
                # CreateCompletionResponse whose finish_reason is null until the last one (as
                # OpenAI sends them), so only that null is replaced before checking.
                checked = {**body, "choices": [{**c, "finish_reason": c.get("finish_reason") or "stop"}
                                               for c in body.get("choices", [])]}
            for problem in self.book.errors(schema, checked):
                self._add(f"stream {path} event {i}: {problem}")
            ids.add(body.get("id"))
        if complete:
            with self.lock:
                self.streams += 1
            if not events or events[-1] != "data: [DONE]":
                self._add(f"stream {path}: does not end with data: [DONE]")
        if len(ids - {None}) > 1:
            self._add(f"stream {path}: chunks carry different ids {sorted(ids - {None})}")

    def _add(self, problem: str) -> None:
        with self.lock:
            self.violations.append(problem)


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner, on_close) -> None:
        self.inner, self.on_close, self.data, self.complete = inner, on_close, bytearray(), False

    def __iter__(self):
        for chunk in self.inner:
            self.data += chunk
            yield chunk
        self.complete = True

    def close(self) -> None:
        self.inner.close()
        data = bytes(self.data)  # the SDK may stop reading at [DONE]: that is a complete stream too
        self.on_close(data, self.complete or b"data: [DONE]" in data)


class CheckingTransport(httpx.HTTPTransport):
    def __init__(self, check: SchemaCheck) -> None:
        super().__init__()
        self.check = check

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        method, path = request.method, request.url.path
        if path.endswith("/health"):
            return response
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            stream = _TeeStream(response.stream, lambda data, done: self.check.stream(path, data, done))
        else:
            stream = _TeeStream(response.stream,
                                lambda data, done: self.check.body(method, path, response.status_code, data))
        return httpx.Response(response.status_code, headers=response.headers, stream=stream,
                              extensions=response.extensions, request=request)


@pytest.fixture
def schema_check(openai_schema):
    check = SchemaCheck(openai_schema)
    yield check
    assert check.violations == [], "answers that break OpenAI's schema:\n" + "\n".join(check.violations)


@pytest.fixture
def make_client(schema_check):
    """``make_client(server, api_key=...)``: the official SDK, no retries, schema-checked."""
    import openai

    clients = []

    def make(server: Server, api_key: str = "unused", **kw):
        http = httpx.Client(transport=CheckingTransport(schema_check), timeout=120)
        client = openai.OpenAI(base_url=server.url, api_key=api_key, max_retries=0, http_client=http, **kw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _server(project: Project, spec: str, *extra: str, env: dict[str, str] | None = None):
    server = Server(project, spec, *extra, env=env)
    yield server
    code = server.stop()
    assert code == 0, "".join(server.stderr)
    assert "stopped (SIGTERM)" in "".join(server.stderr)


@pytest.fixture(scope="module")
def chat_server(project):
    yield from _server(project, "specs/demo.yaml")


@pytest.fixture(scope="module")
def completion_server(project):
    yield from _server(project, "specs/comp.yaml")


@pytest.fixture
def chat_client(chat_server, make_client):
    return make_client(chat_server)


def eval_sampling(project: Project, spec: str) -> dict:
    spec_doc = yaml.safe_load((project.root / "specs" / f"{spec}.yaml").read_text(encoding="utf-8"))
    return dict(spec_doc["evals"][0]["sampling"])
