"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests, checked against OpenAI's schemas.

Every request it receives and every response it sends is validated against OpenAI's published
OpenAPI description (``openapi/openai-subset.json``); a mismatch is recorded in
``violations`` (tests assert it stays empty) and a bad request is answered 400. It implements
files, fine-tuning jobs (with simulated progress and metrics events), checkpoints, models, chat
completions (scriptable: ``chat_rules``), completions, embeddings and moderations (scored by
``moderation_rules``), and injects faults (429, 500, dropped connections,
slow responses) on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ftspec.testing.openapi import SchemaBook

SCHEMA_FILE = Path(__file__).with_name("openapi") / "openai-subset.json"
PREFERENCE_SCHEMA_FILE = Path(__file__).with_name("openapi") / "openai-preference-input.json"
BASE_MODELS = {"gpt-4o-mini-2024-07-18": "2027-01-14", "gpt-4.1-mini-2025-04-14": "2027-01-14",
               "babbage-002": "2026-09-28", "text-embedding-3-small": None}


@dataclass
class Fault:
    """Answer the next ``count`` matching requests with a fault instead of the real answer."""

    kind: str  # "429" | "500" | "drop" | "slow"
    method: str = ""  # "" matches any
    path_prefix: str = ""
    count: int = 1
    delay: float = 0.0  # for "slow"


@dataclass
class FakeJob:
    obj: dict[str, Any]
    started: float
    events: list[dict[str, Any]] = field(default_factory=list)
    steps_done: int = 0
    fail: dict[str, Any] | None = None
    hold: str | None = None  # status to stay in (e.g. "paused") until released


class FakeOpenAI:
    """The server state plus a real ThreadingHTTPServer bound to 127.0.0.1."""

    def __init__(self, *, phase_s: float = 0.02, total_steps: int = 4, api_key: str | None = None) -> None:
        self.book = SchemaBook(SCHEMA_FILE)
        self.preference_book = SchemaBook(PREFERENCE_SCHEMA_FILE)
        self.lock = threading.RLock()
        self.phase_s = phase_s
        self.total_steps = total_steps
        self.api_key = api_key
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.deleted_models: set[str] = set()
        self.shutdown_dates: dict[str, str | None] = {}  # model id -> the API's own shutdown_date
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.kill_after: dict[str, int] = {}  # hook name -> pid to SIGKILL before answering
        self.kill_on_retrieve: tuple[int, int] | None = None  # (nth job retrieve, pid)
        self.retrieves = 0
        self.fail_next_job: dict[str, Any] | None = None
        self.hold_next_job: str | None = None
        # crash tests: chat requests after the first ``hold_chat_after`` wait (unanswered) for ``chat_gate``
        self.hold_chat_after: int | None = None
        self.chat_gate = threading.Event()
        self.chat_started = 0
        self.chat_answered: list[tuple[str, str]] = []  # (model, last user turn) of every answer sent
        # scripted chat: the first rule whose text occurs in the last user turn gives the answer
        # (a string, or a callable of that turn); "finish_reason" rules send a cut-off answer
        self.chat_rules: list[tuple[str, Any]] = []
        self.length_rules: list[str] = []  # last user turn containing one: finish_reason "length"
        self.chat_latency = 0.0  # seconds each chat answer takes (benchmarks: requests in flight)
        self.chat_abort = False  # crash tests: held chat requests are refused (never answered, never paid)
        # moderation: word -> {category: score}; each input scores the max over the words it holds
        self.moderation_rules: dict[str, dict[str, float]] = {}
        self.moderated: list[str] = []  # every input screened
        # crash tests: file content is sent in 64 KiB chunks with this pause between them
        self.content_chunk_delay = 0.0
        self._ids = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- helpers for tests ---------------------------------------------------------------------
    def uploads_named(self, filename: str) -> int:
        return sum(1 for f in self.files.values() if f["filename"] == filename)

    def jobs_with_key(self, key: str) -> list[dict[str, Any]]:
        return [j.obj for j in self.jobs.values() if (j.obj.get("metadata") or {}).get("ftspec_key") == key]

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    def seed_file(self, filename: str, content: bytes) -> str:
        """A file uploaded outside ftspec (by the organization's own scripts)."""
        with self.lock:
            fid = self._id("file")
            self.files[fid] = {"object": "file", "id": fid, "bytes": len(content), "created_at": 1700000000,
                               "filename": filename, "purpose": "fine-tune", "status": "processed"}
            self.contents[fid] = content
            return fid

    def seed_job(self, *, training_file: str, validation_file: str | None = None, status: str = "succeeded",
                 suffix: str | None = None, created_at: int = 1700000100,
                 model: str = "gpt-4o-mini-2024-07-18") -> str:
        """A job that already finished before ftspec was ever run (as an adopted org has)."""
        with self.lock:
            jid = self._id("ftjob")
            hp = {"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 1.8}
            obj = {
                "object": "fine_tuning.job", "id": jid, "model": model, "created_at": created_at,
                "finished_at": created_at + 600, "fine_tuned_model": None, "organization_id": "org-fake",
                "result_files": [], "status": status, "validation_file": validation_file,
                "training_file": training_file, "hyperparameters": hp, "trained_tokens": None,
                "error": None, "seed": 7, "estimated_finish": None, "integrations": None, "metadata": None,
                "method": {"type": "supervised", "supervised": {"hyperparameters": hp}},
            }
            if status == "succeeded":
                obj["fine_tuned_model"] = f"ft:{model}:fake-org:{suffix or ''}:{jid[-8:]}"
                obj["trained_tokens"] = 3 * (self.files[training_file]["bytes"] // 4)
            elif status == "failed":
                obj["error"] = {"code": "invalid_training_file", "message": "bad line 3", "param": "training_file"}
            self.jobs[jid] = FakeJob(obj=obj, started=time.monotonic())
            return jid

    def release(self, job_id: str) -> None:
        with self.lock:
            self.jobs[job_id].hold = None

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{hashlib.sha256(f'{prefix}{self._ids}{id(self)}'.encode()).hexdigest()[:20]}"

    def _hook(self, name: str) -> None:
        """Crash tests: SIGKILL the client after the side effect, before it hears the answer."""
        pid = self.kill_after.pop(name, None)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    # ---- job simulation --------------------------------------------------------------------
    def advance(self, job: FakeJob) -> None:
        """Move the job along its life by elapsed time: validating -> queued -> running -> done."""
        obj = job.obj
        if obj["status"] in ("succeeded", "failed", "cancelled"):
            return
        if job.hold:
            if obj["status"] != job.hold:
                obj["status"] = job.hold
                self._event(job, "info", f"Job {job.hold}")
            return
        elapsed = time.monotonic() - job.started
        phase = int(elapsed / self.phase_s)
        if phase >= 1 and obj["status"] == "validating_files":
            obj["status"] = "queued"
            self._event(job, "info", "Files validated, moving job to queued state")
        if phase >= 2 and obj["status"] in ("queued", "paused", "pausing"):
            obj["status"] = "running"
            obj["estimated_finish"] = int(time.time()) + 60
            self._event(job, "info", "Fine-tuning job started")
        if obj["status"] == "running":
            target = min(self.total_steps, max(0, phase - 2))
            while job.steps_done < target:
                job.steps_done += 1
                step = job.steps_done
                self._event(job, "info", f"Step {step}/{self.total_steps}: training loss={1.0 / step:.4f}",
                            type_="metrics",
                            data={"step": step, "total_steps": self.total_steps, "train_loss": 1.0 / step,
                                  "valid_loss": 1.1 / step, "train_mean_token_accuracy": 0.5})
            if job.steps_done >= self.total_steps and phase >= self.total_steps + 3:
                self._finish(job)

    def _finish(self, job: FakeJob) -> None:
        obj = job.obj
        obj["finished_at"] = int(time.time())
        obj["estimated_finish"] = None
        if job.fail:
            obj["status"] = "failed"
            obj["error"] = job.fail
            self._event(job, "error", f"Job failed: {job.fail['message']}")
            return
        obj["status"] = "succeeded"
        suffix = obj.get("user_provided_suffix") or ""
        base = obj["model"].split(":")[1] if obj["model"].startswith("ft:") else obj["model"]  # ft:BASE:... again
        obj["fine_tuned_model"] = f"ft:{base}:fake-org:{suffix}:{obj['id'][-8:]}"
        size = self.files[obj["training_file"]]["bytes"]
        epochs = obj["hyperparameters"].get("n_epochs")
        obj["trained_tokens"] = (size // 4) * (epochs if isinstance(epochs, int) else 3)
        obj["result_files"] = []
        self._event(job, "info", "The job has successfully completed")

    def _event(self, job: FakeJob, level: str, message: str, *, type_: str = "message",
               data: dict[str, Any] | None = None) -> None:
        job.events.append({"object": "fine_tuning.job.event", "id": self._id("ftevent"),
                           "created_at": int(time.time()), "level": level, "message": message,
                           "type": type_, "data": data or {}})


def _handler(server: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        # ---- plumbing --------------------------------------------------------------------
        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path
            for prefix in ("/v1", "/openai"):  # OpenAI, and Azure OpenAI's layout
                path = path[len(prefix):] if path.startswith(prefix + "/") else path
            path = re.sub(r"^/deployments/[^/]+", "", path)  # Azure: /deployments/<model>/chat/...
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with server.lock:
                server.requests.append((method, path))
                fault = next((f for f in server.faults if f.count > 0 and (not f.method or f.method == method)
                              and path.startswith(f.path_prefix)), None)
                if fault is not None:
                    fault.count -= 1
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)  # the client sees the connection die mid-request
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind in ("429", "500"):
                status = int(fault.kind)
                self._send_error(status, "rate limited" if status == 429 else "server error",
                                 "rate_limit_exceeded" if status == 429 else "server_error",
                                 headers={"retry-after-ms": "10"})
                return
            authorized = (self.headers.get("Authorization") == f"Bearer {server.api_key}"
                          or self.headers.get("api-key") == server.api_key)
            if server.api_key is not None and not authorized:
                self._send_error(401, "Incorrect API key provided", "invalid_api_key")
                return
            found = server.book.operation(method, path)
            if found is None:
                self._send_error(404, f"Unknown path {method} {path}", "not_found")
                return
            template, op = found
            if template == "/chat/completions":
                with server.lock:
                    server.chat_started += 1
                    hold = server.hold_chat_after is not None and server.chat_started > server.hold_chat_after
                if hold and (not server.chat_gate.wait(timeout=60) or server.chat_abort):
                    self._send_error(503, "held too long", "server_error")
                    return
                if server.chat_latency:
                    time.sleep(server.chat_latency)
            query = dict(parse_qsl(url.query))
            problems = self._check_request(op, template, query, body)
            if problems:
                server.violations.extend(f"request {method} {template}: {p}" for p in problems)
                self._send_error(400, "; ".join(problems), "invalid_request")
                return
            try:
                status, payload = _route(server, method, template, path, query, self._parsed)
            except _HTTPError as exc:
                self._send_error(exc.status, exc.message, exc.code)
                return
            if isinstance(payload, bytes):
                self._send(status, payload, "application/octet-stream", chunk_delay=server.content_chunk_delay)
                return
            schema = (op["responses"].get(str(status), {}).get("content", {})
                      .get("application/json", {}).get("schema"))
            if schema is not None:
                for p in server.book.errors(schema, payload):
                    server.violations.append(f"response {method} {template}: {p}")
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _check_request(self, op: dict[str, Any], template: str, query: dict[str, str], body: bytes) -> list[str]:
            problems: list[str] = []
            for param in op.get("parameters", []):
                if param["in"] != "query":
                    continue
                name, schema = param["name"], param.get("schema", {})
                if param.get("style") == "deepObject":
                    value: Any = {k[len(name) + 1:-1]: v for k, v in query.items() if k.startswith(f"{name}[")}
                    if not value:
                        continue
                elif name not in query:
                    continue
                else:
                    value = _coerce(query[name], schema)
                problems += [f"query {name}: {e}" for e in server.book.errors(schema, value)]
            self._parsed: Any = None
            content = (op.get("requestBody") or {}).get("content", {})
            if "multipart/form-data" in content:
                form = _multipart(self.headers.get("Content-Type", ""), body)
                self._parsed = form
                fields = {k: ("<binary>" if isinstance(v, tuple) else v) for k, v in form.items()}
                problems += server.book.errors(content["multipart/form-data"]["schema"], fields)
            elif "application/json" in content:
                try:
                    self._parsed = json.loads(body or b"null")
                except json.JSONDecodeError as exc:
                    return [f"body is not JSON: {exc}"]
                problems += server.book.errors(content["application/json"]["schema"], self._parsed)
            return problems

        def _send_error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
            payload = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
            for p in server.book.errors(server.book.error_schema(), payload):
                server.violations.append(f"error response: {p}")
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None,
                  chunk_delay: float = 0.0) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not chunk_delay:
                    self.wfile.write(data)
                    return
                for start in range(0, len(data), 65536):
                    self.wfile.write(data[start:start + 65536])
                    self.wfile.flush()
                    time.sleep(chunk_delay)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: str = "not_found") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        out[name] = (filename, payload) if filename is not None else payload.decode()
    return out


def _page(data: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, **extra}


def _cursor_page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """OpenAI's cursor paging: ``after`` is the last id of the previous page, ``limit`` its size."""
    limit = int(query.get("limit", 20))
    after = query.get("after")
    if after:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise _HTTPError(400, f"invalid cursor: {after}", "invalid_cursor")
        items = items[ids.index(after) + 1:]
    return _page(items[:limit], has_more=len(items) > limit)


def _route(s: FakeOpenAI, method: str, template: str, path: str, query: dict[str, str], body: Any):
    parts = path.strip("/").split("/")
    with s.lock:
        if template == "/files" and method == "POST":
            filename, content = body["file"]
            fid = s._id("file")
            s.files[fid] = {"object": "file", "id": fid, "bytes": len(content), "created_at": int(time.time()),
                            "filename": filename, "purpose": body["purpose"], "status": "processed"}
            s.contents[fid] = content
            s._hook("upload")
            return 200, s.files[fid]
        if template == "/files":
            files = [f for f in s.files.values() if not query.get("purpose") or f["purpose"] == query["purpose"]]
            files = sorted(files, key=lambda f: f["id"])
            return 200, _page(files, first_id=files[0]["id"] if files else "", last_id=files[-1]["id"] if files else "")
        if template.startswith("/files/"):
            fid = parts[1]
            if fid not in s.files:
                raise _HTTPError(404, f"No such File object: {fid}")
            if template.endswith("/content"):
                return 200, s.contents[fid]
            if method == "DELETE":
                del s.files[fid]
                return 200, {"id": fid, "object": "file", "deleted": True}
            return 200, s.files[fid]
        if template == "/fine_tuning/jobs" and method == "POST":
            return 200, _create_job(s, body)
        if template == "/fine_tuning/jobs":
            wanted = {k[len("metadata["):-1]: v for k, v in query.items() if k.startswith("metadata[")}
            jobs = [j for j in s.jobs.values()
                    if all((j.obj.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
            for j in jobs:
                s.advance(j)
            ordered = [_public(j) for j in sorted(jobs, key=lambda j: (j.obj["created_at"], j.obj["id"]), reverse=True)]
            return 200, _cursor_page(ordered, query)
        if template.startswith("/fine_tuning/jobs/"):
            job = s.jobs.get(parts[2])
            if job is None:
                raise _HTTPError(404, f"Could not find fine-tune: {parts[2]}")
            s.advance(job)
            if template.endswith("/cancel"):
                if job.obj["status"] in ("succeeded", "failed", "cancelled"):
                    raise _HTTPError(400, f"Job {job.obj['id']} is already {job.obj['status']}", "invalid_state")
                job.obj["status"] = "cancelled"
                job.obj["finished_at"] = int(time.time())
                s._event(job, "info", "Job cancelled")
                return 200, _public(job)
            if template.endswith("/events"):
                limit = int(query.get("limit", 20))
                return 200, _page(list(reversed(job.events))[:limit])
            if template.endswith("/checkpoints"):
                data = [] if job.obj["status"] != "succeeded" else [{
                    "object": "fine_tuning.job.checkpoint", "id": f"ftckpt-{job.obj['id'][-8:]}",
                    "created_at": job.obj["finished_at"], "fine_tuning_job_id": job.obj["id"],
                    "fine_tuned_model_checkpoint": f"{job.obj['fine_tuned_model']}:ckpt-step-{s.total_steps}",
                    "step_number": s.total_steps, "metrics": {"step": s.total_steps, "train_loss": 0.25}}]
                return 200, _page(data)
            s.retrieves += 1
            if s.kill_on_retrieve and s.retrieves >= s.kill_on_retrieve[0]:
                pid = s.kill_on_retrieve[1]
                s.kill_on_retrieve = None
                os.kill(pid, signal.SIGKILL)
            return 200, _public(job)
        if template == "/models":
            return 200, {"object": "list", "data": _models(s)}
        if template == "/models/{model}":
            model = path[len("/models/"):]
            found = next((m for m in _models(s) if m["id"] == model), None)
            if found is None:
                raise _HTTPError(404, f"The model '{model}' does not exist", "model_not_found")
            if method == "DELETE":
                s.deleted_models.add(model)
                return 200, {"id": model, "object": "model", "deleted": True}
            return 200, found
        if template == "/chat/completions":
            _require_model(s, body["model"])
            last = next((m.get("content") for m in reversed(body["messages"]) if m.get("role") == "user"), "")
            answer = _scripted(s, last)
            if answer is None:
                answer = _memorised(s, body["model"]).get(last, f"echo: {last}")
            s.chat_answered.append((body["model"], last))
            n = body.get("n") or 1
            finish = "length" if any(w in (last or "") for w in s.length_rules) else "stop"
            choices = [{"index": i, "finish_reason": finish, "logprobs": None,
                        "message": {"role": "assistant", "content": answer, "refusal": None}}
                       for i in range(n)]
            return 200, {"id": s._id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                         "model": body["model"], "choices": choices,
                         "usage": {"prompt_tokens": 5, "completion_tokens": 3 * n, "total_tokens": 5 + 3 * n}}
        if template == "/completions":
            _require_model(s, body["model"])
            n = body.get("n") or 1
            choices = [{"index": i, "text": " done", "finish_reason": "stop", "logprobs": None} for i in range(n)]
            return 200, {"id": s._id("cmpl"), "object": "text_completion", "created": int(time.time()),
                         "model": body["model"], "choices": choices,
                         "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}}
        if template == "/moderations":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            s.moderated.extend(str(t) for t in inputs)
            return 200, {"id": s._id("modr"), "model": body.get("model") or "omni-moderation-latest",
                         "results": [_moderation(s, str(t)) for t in inputs]}
        if template == "/embeddings":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": _vector(str(t))} for i, t in enumerate(texts)]
            return 200, {"object": "list", "model": body["model"], "data": data,
                         "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}
    raise _HTTPError(404, f"not implemented: {method} {template}")


def _create_job(s: FakeOpenAI, body: dict[str, Any]) -> dict[str, Any]:
    for key in ("training_file", "validation_file"):
        if body.get(key) and body[key] not in s.files:
            raise _HTTPError(400, f"invalid {key}: {body[key]}", "invalid_file")
    tuned = {j.obj.get("fine_tuned_model") for j in s.jobs.values() if j.obj.get("fine_tuned_model")}
    if body["model"] not in BASE_MODELS and body["model"] not in tuned:  # a fine-tune may be trained again
        raise _HTTPError(400, f"Model {body['model']} is not available for fine-tuning", "model_not_available")
    method = body.get("method") or {"type": "supervised", "supervised": {}}
    hp = dict((method.get(method["type"]) or {}).get("hyperparameters") or body.get("hyperparameters") or {})
    chosen = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}  # what "auto" becomes
    if method["type"] == "dpo":
        chosen["beta"] = 0.1
    hp = {k: v if hp.get(k, "auto") == "auto" else hp[k] for k, v in chosen.items()}
    problems = _training_file_problems(s, body, method["type"])
    if problems:
        s.violations.extend(problems)
    jid = s._id("ftjob")
    obj = {
        "object": "fine_tuning.job", "id": jid, "model": body["model"], "created_at": int(time.time()),
        "finished_at": None, "fine_tuned_model": None, "organization_id": "org-fake",
        "result_files": [], "status": "validating_files", "validation_file": body.get("validation_file"),
        "training_file": body["training_file"], "hyperparameters": hp, "trained_tokens": None,
        "error": None, "seed": body.get("seed", 42), "estimated_finish": None,
        "integrations": body.get("integrations"), "metadata": body.get("metadata"),
        "user_provided_suffix": body.get("suffix"),
        "method": {"type": method["type"], method["type"]: {"hyperparameters": hp}},
    }
    fail = s.fail_next_job
    if problems:  # as OpenAI does: file validation errors surface on the job's error
        fail = {"code": "invalid_training_file", "message": problems[0], "param": "training_file"}
    job = FakeJob(obj=obj, started=time.monotonic(), fail=fail, hold=s.hold_next_job)
    s.fail_next_job = None
    s.hold_next_job = None
    s.jobs[jid] = job
    s._event(job, "info", f"Created fine-tuning job: {jid}")
    s._hook("job")
    return _public(job)


def _training_file_problems(s: FakeOpenAI, body: dict[str, Any], method: str) -> list[str]:
    """A DPO job's files, line by line, against ``FineTunePreferenceRequestInput`` and the
    guide's rules (both sides, one assistant message each); a supervised job must not get one."""
    problems: list[str] = []
    for key in ("training_file", "validation_file"):
        fid = body.get(key)
        if not fid:
            continue
        for n, line in enumerate(s.contents[fid].decode("utf-8").splitlines(), 1):
            record = json.loads(line)
            if method == "dpo":
                problems += [f"{key} line {n}: {p}" for p in _preference_line_problems(s, record)]
            elif "preferred_output" in record:
                problems.append(f"{key} line {n}: a preference example in a {method} job")
    return problems[:20]


def _preference_line_problems(s: FakeOpenAI, record: Any) -> list[str]:
    if not isinstance(record, dict):
        return ["not a JSON object"]
    out = [f"missing '{k}'" for k in ("input", "preferred_output", "non_preferred_output") if k not in record]
    out += [f"'{k}' must hold exactly one assistant message (single-turn)"
            for k in ("preferred_output", "non_preferred_output")
            if isinstance(record.get(k), list) and len(record[k]) != 1]
    # the schema names the sides *_completion, the guide (and every client) *_output
    as_schema = {{"preferred_output": "preferred_completion", "non_preferred_output": "non_preferred_completion"}.get(k, k): v
                 for k, v in record.items()}
    return out + s.preference_book.errors(s.preference_book.component("FineTunePreferenceRequestInput"), as_schema)


def _public(job: FakeJob) -> dict[str, Any]:
    return {k: v for k, v in job.obj.items() if k != "user_provided_suffix"}


def _models(s: FakeOpenAI) -> list[dict[str, Any]]:
    out = [{"id": name, "object": "model", "created": 1700000000, "owned_by": "system",
            "shutdown_date": s.shutdown_dates.get(name, date)} for name, date in BASE_MODELS.items()]
    for job in s.jobs.values():
        model = job.obj.get("fine_tuned_model")
        if model and model not in s.deleted_models:  # a fine-tune shuts down with its base
            out.append({"id": model, "object": "model", "created": job.obj["finished_at"],
                        "owned_by": "org-fake",
                        "shutdown_date": s.shutdown_dates.get(model, BASE_MODELS.get(job.obj["model"]))})
    return out


def _memorised(s: FakeOpenAI, model: str) -> dict[str, str]:
    """A fine-tuned model "learns" its training file: it answers each trained user turn with
    the assistant turn that followed it (so eval results really depend on the data built)."""
    job = next((j for j in s.jobs.values() if j.obj.get("fine_tuned_model") == model), None)
    if job is None:
        return {}
    answers: dict[str, str] = {}
    for line in s.contents.get(job.obj["training_file"], b"").decode("utf-8").splitlines():
        record = json.loads(line)
        messages = record.get("messages") or []
        if "preferred_output" in record:  # a DPO model learns to give the preferred answer
            messages = (record.get("input") or {}).get("messages", []) + record["preferred_output"]
        for asked, said in zip(messages, messages[1:], strict=False):
            if asked.get("role") == "user" and said.get("role") == "assistant":
                answers.setdefault(asked.get("content"), said.get("content"))
    return answers


def _scripted(s: FakeOpenAI, last: str | None) -> str | None:
    for needle, answer in s.chat_rules:
        if needle in (last or ""):
            return answer(last) if callable(answer) else answer
    return None


# the categories of OpenAI's moderation result (CreateModerationResponse), and the input types
# each applies to there
MODERATION_CATEGORIES = {
    "harassment": ["text"], "harassment/threatening": ["text"], "hate": ["text"], "hate/threatening": ["text"],
    "illicit": ["text"], "illicit/violent": ["text"], "self-harm": ["text"], "self-harm/intent": ["text"],
    "self-harm/instructions": ["text"], "sexual": ["text"], "sexual/minors": ["text"], "violence": ["text"],
    "violence/graphic": ["text"],
}


def _moderation(s: FakeOpenAI, text: str) -> dict[str, Any]:
    scores = dict.fromkeys(MODERATION_CATEGORIES, 0.0001)
    for word, found in s.moderation_rules.items():
        if word in text:
            for category, score in found.items():
                scores[category] = max(scores[category], score)
    categories = {c: v >= 0.5 for c, v in scores.items()}
    return {"flagged": any(categories.values()), "categories": categories, "category_scores": scores,
            "category_applied_input_types": dict(MODERATION_CATEGORIES)}


def _require_model(s: FakeOpenAI, model: str) -> None:
    if not any(m["id"] == model for m in _models(s)):
        raise _HTTPError(404, f"The model '{model}' does not exist", "model_not_found")


def _vector(text: str, dims: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 128) / 128 for b in digest[:dims]]
