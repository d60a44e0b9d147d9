"""A Fireworks AI server on 127.0.0.1 for tests, checked against the ``fireworks-ai`` SDK's types.

It speaks the control-plane wire format the SDK uses with a ``base_url`` override
(``/v1/accounts/{a}/datasets|supervisedFineTuningJobs|models|deployments``, camelCase JSON,
int64 values as strings, custom verbs after a colon, ``pageToken``/``nextPageToken``
pagination) and the OpenAI-compatible inference paths (``/v1/chat/completions``,
``/v1/completions``).

Every JSON request body is checked against the SDK's own request ``TypedDict`` (the wire keys
are its field aliases; a key it does not have is a mismatch) and every response against the
SDK's pydantic response type, with unknown top-level keys also counted (the SDK's models would
accept them silently). Mismatches land in ``violations``; the fixture asserts it stays empty.

Jobs advance one state per ``GET`` (``LIFE``); ``fail_jobs`` ends new jobs ``FAILED``,
``hold_jobs`` keeps them ``RUNNING`` (to cancel). A completed job makes its output model
``READY``. Deployments go ``CREATING`` -> ``READY`` on the second ``GET``; chat answers only a
ready deployment's ``model#deployment`` route (or a base model), as Fireworks serves LoRAs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
import typing
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fireworks._utils import PropertyInfo
from fireworks.types import (
    Dataset,
    DatasetUploadResponse,
    Deployment,
    Model,
    SupervisedFineTuningJob,
)
from fireworks.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming as ChatParams,
)
from fireworks.types.chat.completion_create_response import CompletionCreateResponse as ChatResponse
from fireworks.types.completion_create_params import (
    CompletionCreateParamsNonStreaming as TextParams,
)
from fireworks.types.completion_create_response import CompletionCreateResponse as TextResponse
from fireworks.types.dataset_create_params import DatasetCreateParams
from fireworks.types.dataset_param import DatasetParam
from fireworks.types.deployment_create_params import DeploymentCreateParams
from fireworks.types.supervised_fine_tuning_job_create_params import (
    SupervisedFineTuningJobCreateParams,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

ACCOUNT = "fake-acct"
BASE_MODELS = ("accounts/fireworks/models/qwen3-8b", "accounts/fireworks/models/qwen3-4b")
# the job's life, one step per GET of the job
LIFE = ("JOB_STATE_CREATING", "JOB_STATE_VALIDATING", "JOB_STATE_RUNNING", "JOB_STATE_WRITING_RESULTS",
        "JOB_STATE_COMPLETED")
PERCENT = {"JOB_STATE_RUNNING": 50, "JOB_STATE_WRITING_RESULTS": 100, "JOB_STATE_COMPLETED": 100}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def wire_keys(params: type) -> dict[str, str]:
    """A request ``TypedDict``'s wire names (its ``PropertyInfo`` aliases) -> field names."""
    hints = typing.get_type_hints(params, include_extras=True)
    out = {}
    for field, hint in hints.items():
        while typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            hint = typing.get_args(hint)[0]
        alias = next((m.alias for m in getattr(hint, "__metadata__", ()) if isinstance(m, PropertyInfo) and m.alias),
                     None)
        out[alias or field] = field
    return out


class FakeFireworks:
    def __init__(self, api_key: str, account: str = ACCOUNT) -> None:
        self.api_key = api_key
        self.account = account
        self.lock = threading.Lock()
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_bytes: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.chat_models: list[str] = []
        self.fail_jobs = False
        self.hold_jobs = False
        self.slow_s = 1.5  # how late a "slow" fault answers
        self.page_size = 2  # the server's page cap, small so listing must follow nextPageToken
        # (method, path template, kind) -> count: "429" answers 429 with Retry-After first;
        # "lost" does the work then answers 500; "drop" does the work then closes the connection;
        # "slow" answers after ``slow_s`` (past a short client timeout)
        self.faults: dict[tuple[str, str, str], int] = {}
        # (method, path template) -> [nth, pid]: on the nth such request do the work, then SIGKILL
        self.kill_on: dict[tuple[str, str], list[int]] = {}
        self._n = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FakeFireworks:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault(self, method: str, template: str, kind: str, count: int = 1) -> None:
        self.faults[(method, template, kind)] = count

    def take_fault(self, method: str, template: str, kind: str) -> bool:
        left = self.faults.get((method, template, kind), 0)
        if left > 0:
            self.faults[(method, template, kind)] = left - 1
        return left > 0

    def count(self, method: str, template: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == template)

    def template(self, path: str) -> str:
        """``/v1/accounts/fake-acct/datasets/ftspec-ab:upload`` -> ``/v1/accounts/{a}/datasets/{id}:upload``."""
        path = path.replace(f"/accounts/{self.account}/", "/accounts/{a}/")
        return re.sub(r"/(datasets|supervisedFineTuningJobs|models|deployments)/[^/:]+", r"/\1/{id}", path)

    # ---- contract checks ------------------------------------------------------------------
    def check_request(self, where: str, params: type, body: Any) -> bool:
        if not isinstance(body, dict):
            self.violations.append(f"request {where}: body is not a JSON object")
            return False
        names = wire_keys(params)
        unknown = set(body) - set(names)
        if unknown:
            self.violations.append(f"request {where}: keys the SDK type does not have: {sorted(unknown)}")
            return False
        try:
            TypeAdapter(params).validate_python({names[k]: v for k, v in body.items()})
        except ValidationError as exc:
            self.violations.append(f"request {where}: {exc.errors()[:3]}")
            return False
        return True

    def check_response(self, where: str, model: type[BaseModel], body: Any) -> None:
        try:
            obj = model.model_validate(body)
        except ValidationError as exc:
            self.violations.append(f"response {where}: {exc.errors()[:3]}")
            return
        extra = getattr(obj, "model_extra", None) or {}
        if extra:
            self.violations.append(f"response {where}: keys the SDK type does not have: {sorted(extra)}")

    def check_training_lines(self, ds_id: str, raw: bytes) -> None:
        """Fireworks' chat format (docs fine-tuning-models): ``messages`` (+ ``tools``); roles
        system|user|assistant|tool; a system message only first; at least one assistant message."""
        for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            record = json.loads(line)
            where = f"upload {ds_id} line {n}"
            if set(record) - {"messages", "tools"}:
                self.violations.append(f"{where}: keys Fireworks' chat format does not have: {sorted(set(record))}")
            roles = [m.get("role") for m in record.get("messages", [])]
            if (not roles or set(roles) - {"system", "user", "assistant", "tool"} or "assistant" not in roles
                    or "system" in roles[1:]):
                self.violations.append(f"{where}: bad roles {roles}")

    # ---- objects ---------------------------------------------------------------------------
    def name(self, kind: str, rid: str) -> str:
        return f"accounts/{self.account}/{kind}/{rid}"

    def advance(self, job: dict[str, Any]) -> None:
        if job["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return
        step = job["_step"] = job["_step"] + 1
        now = _iso(time.time())
        job["updateTime"] = now
        if self.fail_jobs and step >= 2:
            job["state"] = "JOB_STATE_FAILED"
            job["status"] = {"code": "INVALID_ARGUMENT", "message": "training failed: bad data"}
            job["completedTime"] = now
            return
        if job["_hold"] and step >= 2:
            job["state"] = "JOB_STATE_RUNNING"
            job["jobProgress"] = {"percent": 10, "epoch": 0}
            return
        job["state"] = LIFE[min(step, len(LIFE) - 1)]
        if job["state"] in PERCENT:
            job["jobProgress"] = {"percent": PERCENT[job["state"]], "epoch": 0, "inputTokens": 1200}
        if job["state"] == "JOB_STATE_COMPLETED":
            job["completedTime"] = now
            job["status"] = {"code": "OK", "message": ""}
            model_id = job["outputModel"].rsplit("/", 1)[1]
            self.models[model_id] = {
                "name": job["outputModel"], "displayName": job.get("displayName", ""), "createTime": now,
                "state": "READY", "kind": "HF_PEFT_ADDON", "fineTuningJob": job["name"],
                "peftDetails": {"baseModel": job["baseModel"], "r": job.get("loraRank", 8),
                                "targetModules": ["q_proj", "v_proj"]}}

    # ---- HTTP ------------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client gave up
                    super().handle()

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, code: str = "INVALID_ARGUMENT") -> None:
                self._send(status, {"error": {"message": message, "code": code}})

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                path, query = url.path, dict(parse_qsl(url.query))
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                template = fake.template(path)
                with fake.lock:
                    fake.requests.append((method, template))
                    slow = fake.take_fault(method, template, "slow")
                if slow:
                    time.sleep(fake.slow_s)  # answered later than the client waits
                with fake.lock:
                    if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                        return self._error(401, "invalid api key", "UNAUTHENTICATED")
                    if fake.take_fault(method, template, "429"):
                        return self._send(429, {"error": {"message": "rate limited", "code": "RESOURCE_EXHAUSTED"}},
                                          headers={"Retry-After": "0"})
                    if fake.take_fault(method, template, "500"):
                        return self._error(500, "internal error", "INTERNAL")
                    lost = fake.take_fault(method, template, "lost")
                    drop = fake.take_fault(method, template, "drop")
                    kill = fake.kill_on.get((method, template))
                    if kill is not None:
                        kill[0] -= 1
                        lost = lost or kill[0] == 0
                    if lost or drop:
                        self._send, real = (lambda *_a, **_k: None), self._send  # do the work, drop the answer
                    self._api(method, path, query, raw)
                    if drop:
                        self.close_connection = True
                        self.connection.shutdown(2)  # the reply never comes: a dropped connection
                        return None
                    if lost:
                        self._send = real
                        if kill is not None and kill[0] == 0:
                            os.kill(kill[1], signal.SIGKILL)
                            time.sleep(0.2)  # let it die before any answer could reach it
                        self._error(500, "internal error", "INTERNAL")
                    return None

            def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
                ctype = self.headers.get("Content-Type") or ""
                body = json.loads(raw) if raw and "json" in ctype else None
                prefix = f"/v1/accounts/{fake.account}/"
                if path == "/v1/chat/completions" and method == "POST":
                    return self._chat(body)
                if path == "/v1/completions" and method == "POST":
                    return self._completion(body)
                if not path.startswith(prefix):
                    return self._error(404, f"no route {method} {path}", "NOT_FOUND")
                rest = path[len(prefix):]
                kind, _, tail = rest.partition("/")
                rid, _, verb = tail.partition(":")
                handler = {"datasets": self._datasets, "supervisedFineTuningJobs": self._jobs,
                           "models": self._models, "deployments": self._deployments}.get(kind)
                if handler is None:
                    return self._error(404, f"no route {method} {path}", "NOT_FOUND")
                return handler(method, rid, verb, query, body, raw)

            def _ok(self, model: type[BaseModel], body: Any, status: int = 200) -> None:
                fake.check_response(self.path, model, body)
                self._send(status, body)

            def _empty(self) -> None:  # the SDK's return type for delete/cancel is ``object``
                self._send(200, {})

            def _list(self, key: str, items: list[dict[str, Any]], query: dict[str, str], model: type[BaseModel]) -> None:
                size = min(int(query.get("pageSize") or 50), 200, fake.page_size)
                start = int(query.get("pageToken") or 0)
                page = items[start:start + size]
                for item in page:
                    fake.check_response(self.path, model, item)
                out: dict[str, Any] = {key: page, "totalSize": len(items)}
                if start + size < len(items):
                    out["nextPageToken"] = str(start + size)
                self._send(200, out)

            @staticmethod
            def _view(obj: dict[str, Any]) -> dict[str, Any]:
                return {k: v for k, v in obj.items() if not k.startswith("_")}

            # ---- datasets ------------------------------------------------------------------
            def _datasets(self, method, rid, verb, query, body, raw) -> None:
                if method == "POST" and not rid:
                    if not (fake.check_request("create dataset", DatasetCreateParams, body)
                            and fake.check_request("create dataset: dataset", DatasetParam, body["dataset"])):
                        return self._error(400, "invalid request")
                    ds_id = body["datasetId"]
                    if ds_id in fake.datasets:
                        return self._error(409, f"dataset {ds_id} already exists", "ALREADY_EXISTS")
                    now = _iso(time.time())
                    fake.datasets[ds_id] = {"name": fake.name("datasets", ds_id), "createTime": now, "updateTime": now,
                                            "state": "UPLOADING", "status": {"code": "OK", "message": ""},
                                            **{k: v for k, v in body["dataset"].items() if k != "userUploaded"},
                                            "userUploaded": {}}
                    return self._ok(Dataset, fake.datasets[ds_id])
                if method == "GET" and not rid:
                    return self._list("datasets", list(fake.datasets.values()), query, Dataset)
                rec = fake.datasets.get(rid)
                if rec is None:
                    return self._error(404, f"dataset {rid} not found", "NOT_FOUND")
                if method == "POST" and verb == "upload":
                    return self._upload(rid, rec, raw)
                if method == "GET" and not verb:
                    return self._ok(Dataset, rec)
                if method == "DELETE":
                    del fake.datasets[rid]
                    return self._empty()
                return self._error(404, f"no route {method} datasets/{rid}:{verb}", "NOT_FOUND")

            def _upload(self, rid: str, rec: dict[str, Any], raw: bytes) -> None:
                msg = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode() + raw)
                parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
                if set(parts) != {"file"}:
                    fake.violations.append(f"request {rid}:upload: form fields {sorted(parts)}")
                    return self._error(400, "expected one multipart field 'file'")
                data = parts["file"].get_payload(decode=True) or b""
                fake.dataset_bytes[rid] = data
                fake.check_training_lines(rid, data)
                lines = len(data.decode("utf-8").splitlines())
                if rec.get("exampleCount") not in (None, str(lines)):
                    fake.violations.append(f"{rid}: exampleCount {rec.get('exampleCount')} but {lines} lines uploaded")
                rec.update(state="READY", exampleCount=str(lines), estimatedTokenCount=str(10 * lines),
                           updateTime=_iso(time.time()))
                self._ok(DatasetUploadResponse, {"id": rid, "object": "file", "bytes": len(data),
                                                 "created_at": int(time.time()),
                                                 "filename": parts["file"].get_filename(), "purpose": "fine-tune"})

            # ---- jobs ----------------------------------------------------------------------
            def _jobs(self, method, rid, verb, query, body, raw) -> None:
                if method == "POST" and not rid:
                    return self._create_job(query, body)
                if method == "GET" and not rid:
                    return self._list("supervisedFineTuningJobs", [self._view(j) for j in fake.jobs.values()],
                                      query, SupervisedFineTuningJob)
                job = fake.jobs.get(rid)
                if job is None:
                    return self._error(404, f"supervisedFineTuningJob {rid} not found", "NOT_FOUND")
                if method == "POST" and verb == "cancel":
                    if body != {}:  # SupervisedFineTuningJobCancelParams: a required JSON object body
                        fake.violations.append(f"request {rid}:cancel: body {body!r}, expected {{}}")
                    if job["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED"):
                        return self._error(400, f"job {rid} is already {job['state']}", "FAILED_PRECONDITION")
                    job.update(state="JOB_STATE_CANCELLED", updateTime=_iso(time.time()))
                    return self._empty()
                if method == "DELETE":
                    del fake.jobs[rid]
                    return self._empty()
                if method == "GET" and not verb:
                    fake.advance(job)
                    return self._ok(SupervisedFineTuningJob, self._view(job))
                return self._error(404, f"no route {method} jobs/{rid}:{verb}", "NOT_FOUND")

            def _create_job(self, query: dict[str, str], body: Any) -> None:
                if not fake.check_request("create job", SupervisedFineTuningJobCreateParams, body):
                    return self._error(400, "invalid request")
                job_id = query.get("supervisedFineTuningJobId")
                if not job_id or not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", job_id):
                    return self._error(400, f"bad supervisedFineTuningJobId {job_id!r}")
                if job_id in fake.jobs:
                    return self._error(409, f"supervisedFineTuningJob ID {job_id} already exists", "ALREADY_EXISTS")
                ds_id = body["dataset"].rsplit("/", 1)[-1]
                if ds_id not in fake.datasets or fake.datasets[ds_id]["state"] != "READY":
                    return self._error(400, f"dataset {body['dataset']} is not READY", "FAILED_PRECONDITION")
                if body.get("baseModel") not in BASE_MODELS:
                    return self._error(400, f"base model {body.get('baseModel')} is not tunable", "INVALID_ARGUMENT")
                now = _iso(time.time())
                fake.jobs[job_id] = {**body, "name": fake.name("supervisedFineTuningJobs", job_id),
                                     "outputModel": body.get("outputModel") or fake.name("models", job_id),
                                     "createTime": now, "updateTime": now, "state": "JOB_STATE_CREATING",
                                     "estimatedCost": {"currencyCode": "USD", "units": "0", "nanos": 600000},
                                     "_step": 0, "_hold": fake.hold_jobs}
                self._ok(SupervisedFineTuningJob, self._view(fake.jobs[job_id]))

            # ---- models --------------------------------------------------------------------
            def _models(self, method, rid, verb, query, body, raw) -> None:
                if method == "GET" and not rid:
                    return self._list("models", list(fake.models.values()), query, Model)
                rec = fake.models.get(rid)
                if rec is None:
                    return self._error(404, f"model {rid} not found", "NOT_FOUND")
                if method == "DELETE":
                    if any(d["baseModel"] == rec["name"] for d in fake.deployments.values()):
                        return self._error(400, f"model {rid} is deployed", "FAILED_PRECONDITION")
                    del fake.models[rid]
                    return self._empty()
                return self._ok(Model, rec)

            # ---- deployments ---------------------------------------------------------------
            def _deployments(self, method, rid, verb, query, body, raw) -> None:
                if method == "POST" and not rid:
                    if not fake.check_request("create deployment", DeploymentCreateParams, body):
                        return self._error(400, "invalid request")
                    dep_id = query.get("deploymentId") or fake.name("x", str(len(fake.deployments)))
                    if dep_id in fake.deployments:
                        return self._error(409, f"deployment {dep_id} already exists", "ALREADY_EXISTS")
                    model_id = body["baseModel"].rsplit("/", 1)[-1]
                    if model_id not in fake.models and body["baseModel"] not in BASE_MODELS:
                        return self._error(404, f"model {body['baseModel']} not found", "NOT_FOUND")
                    if "acceleratorType" not in body and "deploymentShape" not in body:
                        return self._error(400, "acceleratorType is required without a deploymentShape")
                    now = _iso(time.time())
                    fake.deployments[dep_id] = {**body, "name": fake.name("deployments", dep_id), "createTime": now,
                                                "state": "CREATING", "_gets": 0}
                    return self._ok(Deployment, self._view(fake.deployments[dep_id]))
                if method == "GET" and not rid:
                    return self._list("deployments", [self._view(d) for d in fake.deployments.values()], query,
                                      Deployment)
                dep = fake.deployments.get(rid)
                if dep is None:
                    return self._error(404, f"deployment {rid} not found", "NOT_FOUND")
                if method == "DELETE":
                    if query.get("ignoreChecks") != "true":
                        return self._error(400, "deployment served traffic in the last hour", "FAILED_PRECONDITION")
                    del fake.deployments[rid]
                    return self._empty()
                dep["_gets"] += 1
                if dep["_gets"] >= 2:
                    dep["state"] = "READY"
                return self._ok(Deployment, self._view(dep))

            # ---- inference -----------------------------------------------------------------
            def _served(self, model: str) -> bool:
                if model in BASE_MODELS:
                    return True
                tuned, _, route = model.partition("#")
                dep = fake.deployments.get(route.rsplit("/", 1)[-1]) if route else None
                return dep is not None and dep["state"] == "READY" and dep["baseModel"] == tuned

            def _chat(self, body: Any) -> None:
                if not fake.check_request("/v1/chat/completions", ChatParams, body):
                    return self._error(400, "invalid request")
                fake.chat_models.append(body["model"])
                if not self._served(body["model"]):
                    return self._error(404, f"model {body['model']} not found or not deployed", "NOT_FOUND")
                last = str(body["messages"][-1].get("content", ""))
                n = int(body.get("n") or 1)
                self._ok(ChatResponse, {
                    "id": f"chat-{len(fake.chat_models)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                    "choices": [{"index": i, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"Sure: {last}"}} for i in range(n)]})

            def _completion(self, body: Any) -> None:
                if not fake.check_request("/v1/completions", TextParams, body):
                    return self._error(400, "invalid request")
                if not self._served(body["model"]):
                    return self._error(404, f"model {body['model']} not found or not deployed", "NOT_FOUND")
                self._ok(TextResponse, {
                    "id": "cmpl-1", "object": "text_completion", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "text": " done", "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

        return Handler
