"""A Together AI fine-tuning server on 127.0.0.1 for tests, checked against the ``together`` SDK's types.

Every JSON request body it receives is validated against the SDK's own request types
(``lib.types.fine_tuning.FinetuneRequest``, the ``*Params`` TypedDicts) and every response it
sends against the SDK's pydantic response types, with unknown top-level keys also counted as a
mismatch (the SDK's models would accept them silently). Mismatches land in ``violations``;
tests assert it stays empty, so the fake cannot drift from the SDK unnoticed.

It speaks the upload protocol the SDK uses (``POST /v1/files`` -> 302 to a presigned PUT ->
``/preprocess``), model limits, price estimates, jobs that advance one state per ``GET``, events,
cancel/delete, and chat/text completions. ``fail_jobs`` makes new jobs end in ``error``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from loopback_fake import LoopbackFake
from pydantic import BaseModel, TypeAdapter, ValidationError
from together.lib.types.fine_tuning import FinetuneRequest
from together.lib.types.fine_tuning import FinetuneResponse as LibFinetuneResponse
from together.types import (
    FileDeleteResponse,
    FileList,
    FileResponse,
    FinetuneModelLimits,
    FinetuneResponse,
    FineTuningDeleteResponse,
    FineTuningListEventsResponse,
    FineTuningListMetricsResponse,
    FineTuningListResponse,
)
from together.types.chat import ChatCompletion
from together.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming as ChatParams,
)
from together.types.completion import Completion
from together.types.completion_create_params import CompletionCreateParamsNonStreaming as TextParams
from together.types.fine_tuning_estimate_price_params import FineTuningEstimatePriceParams
from together.types.fine_tuning_estimate_price_response import FineTuningEstimatePriceResponse
from together.types.fine_tuning_list_response import Data as ListedJob

BASE_MODELS = ("Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B-Instruct")
USER_ID = "user-fake-1"
# the job's life, one step per GET of the job
LIFE = ("pending", "queued", "running", "uploading", "completed")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class FakeTogether(LoopbackFake):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {}
        self.pending_bytes: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.fail_jobs = False
        self.hold_jobs = False  # new jobs stay ``running`` until cancelled (the contract's cancel check)
        # (method, path, kind) -> how many more requests get it: "429" answers 429 with
        # Retry-After before doing anything; "lost" does the work, then answers 500 (a lost reply)
        super().__init__()  # faults, kill_on, request log, the server on 127.0.0.1

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self._n:06d}"

    # ---- contract checks ------------------------------------------------------------------
    def check_request(self, where: str, adapter: Any, body: Any) -> bool:
        try:
            if isinstance(adapter, type) and issubclass(adapter, BaseModel):
                adapter.model_validate(body)
                known = {f.alias or n for n, f in adapter.model_fields.items()}
            else:
                TypeAdapter(adapter).validate_python(body)
                known = set(getattr(adapter, "__annotations__", {})) | {
                    k for base in adapter.__mro__ for k in getattr(base, "__annotations__", {})}
        except ValidationError as exc:
            self.violations.append(f"request {where}: {exc.errors()[:3]}")
            return False
        unknown = set(body) - known
        if unknown:
            self.violations.append(f"request {where}: keys the SDK type does not have: {sorted(unknown)}")
            return False
        return True

    def check_response(self, where: str, model: type[BaseModel] | Any, body: Any) -> None:
        try:
            obj = TypeAdapter(model).validate_python(body)
        except ValidationError as exc:
            self.violations.append(f"response {where}: {exc.errors()[:3]}")
            return
        extra = getattr(obj, "model_extra", None) or {}
        if extra:
            self.violations.append(f"response {where}: keys the SDK type does not have: {sorted(extra)}")

    def check_training_lines(self, file_id: str, raw: bytes) -> None:
        """Together's conversational format (docs fine-tuning/data-preparation): ``messages``
        (+ ``tools``) only; roles system|user|assistant|tool; at least one assistant message."""
        for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            record = json.loads(line)
            where = f"upload {file_id} line {n}"
            if "preferred_output" in record:
                self._check_preference_line(where, record)
                continue
            if set(record) - {"messages", "tools"}:
                self.violations.append(f"{where}: keys Together's chat format does not have: {sorted(set(record) - {'messages', 'tools'})}")
            roles = [m.get("role") for m in record.get("messages", [])]
            if not roles or set(roles) - {"system", "user", "assistant", "tool"} or "assistant" not in roles:
                self.violations.append(f"{where}: bad roles {roles}")

    def _check_preference_line(self, where: str, record: dict[str, Any]) -> None:
        """Together's DPO format (hosted-providers.md 1.2): ``input{messages}``,
        ``preferred_output`` and ``non_preferred_output`` of one assistant message each."""
        if set(record) != {"input", "preferred_output", "non_preferred_output"}:
            self.violations.append(f"{where}: DPO keys are input, preferred_output, non_preferred_output: {sorted(record)}")
            return
        if set(record["input"]) - {"messages", "tools"} or not record["input"].get("messages"):
            self.violations.append(f"{where}: DPO input holds messages (+ tools): {sorted(record['input'])}")
        for side in ("preferred_output", "non_preferred_output"):
            messages = record[side]
            if len(messages) != 1 or messages[0].get("role") != "assistant":
                self.violations.append(f"{where}: {side} must be one assistant message")

    # ---- objects ---------------------------------------------------------------------------
    def _job_view(self, job: dict[str, Any], model: type[BaseModel] = FinetuneResponse) -> dict[str, Any]:
        """The job as ``model`` has it: each endpoint's type knows a different set of keys."""
        known = {f.alias or n for n, f in model.model_fields.items()}
        out = {k: v for k, v in job.items() if k in known}
        if "adapter_output_name" in known:  # the create response's lib type requires the key
            out["adapter_output_name"] = None
        return out

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] in ("completed", "error", "cancelled"):
            return
        if self.hold_jobs and job["status"] == "running":
            return
        step = job["_step"] = job["_step"] + 1
        if self.fail_jobs and step >= 2:
            job["status"] = "error"
            self.events[job["id"]].append(self._event("job_error", "error", "training failed: bad data"))
        else:
            job["status"] = LIFE[min(step, len(LIFE) - 1)]
            if job["status"] == "running":
                job["progress"] = {"estimate_available": True, "seconds_remaining": 90}
            self.events[job["id"]].append(self._event(f"job_{job['status']}", "info", f"job is {job['status']}",
                                                      step=step, total_steps=len(LIFE) - 1))
        job["updated_at"] = _iso(time.time())

    @staticmethod
    def _event(kind: str, level: str, message: str, **extra: Any) -> dict[str, Any]:
        kind = {"job_running": "training_start", "job_uploading": "model_uploading",
                "job_completed": "job_complete", "job_queued": "job_pending"}.get(kind, kind)
        return {"object": "fine-tune-event", "created_at": _iso(time.time()), "message": message,
                "type": kind, "level": level, **extra}

    # ---- HTTP ------------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

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

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                path, query = url.path, dict(parse_qsl(url.query))
                raw = self._body()
                with fake.lock:
                    template = re.sub(r"/(file|ft)-\d+", r"/{\1}", path)
                    fake.requests.append((method, template))
                    if method == "PUT" and path.startswith("/upload/"):
                        return self._put(path.rsplit("/", 1)[1], raw)  # presigned: no auth
                    if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                        return self._error(401, "Invalid API key provided")
                    if fake.take_fault(method, path, "429"):
                        return self._send(429, {"error": {"message": "rate limited", "type": "dynamic_request_limited"}},
                                          headers={"Retry-After": "0"})
                    lost = fake.take_fault(method, path, "lost")
                    kill = fake.kill_on.get((method, template))
                    if kill is not None:
                        kill[0] -= 1
                        lost = lost or kill[0] == 0
                    if lost:
                        self._send, real = (lambda *_a, **_k: None), self._send  # do the work, drop the answer
                    self._api(method, path, query, raw)
                    if lost:
                        self._send = real
                        if kill is not None and kill[0] == 0:
                            os.kill(kill[1], signal.SIGKILL)
                            time.sleep(0.2)  # let it die before any answer could reach it
                        self._error(500, "internal error")

            def _put(self, file_id: str, raw: bytes) -> None:
                rec = fake.files.get(file_id)
                if rec is None or hashlib.sha256(raw).hexdigest() != rec["_checksum"]:
                    return self._send(400, {"error": {"message": "checksum mismatch"}})
                rec["bytes"] = len(raw)
                fake.pending_bytes[file_id] = raw
                fake.check_training_lines(file_id, raw)
                self._send(200)

            def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
                body = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "") else None
                m = re.fullmatch(r"/v1/files/([\w.-]+)(/preprocess)?", path)
                j = re.fullmatch(r"/v1/fine-tunes/(ft-\d+)(/events|/cancel|/metrics)?", path)
                if method == "POST" and path == "/v1/files":
                    return self._create_file(raw)
                if m and m.group(2) and method == "POST":
                    return self._file_out(fake.files.get(m.group(1)), processed=True)
                if m and method == "GET":
                    return self._file_out(fake.files.get(m.group(1)))
                if m and method == "DELETE":
                    fake.files.pop(m.group(1), None)
                    return self._ok(FileDeleteResponse, {"id": m.group(1), "deleted": True})
                if method == "GET" and path == "/v1/files":
                    return self._ok(FileList, {"data": [self._file_view(f) for f in fake.files.values()
                                                        if f["processing_status"] == "COMPLETED"]})
                if method == "GET" and path == "/v1/fine-tunes/models/limits":
                    return self._limits(query.get("model_name", ""))
                if method == "POST" and path == "/v1/fine-tunes/estimate-price":
                    fake.check_request("estimate-price", FineTuningEstimatePriceParams, body)
                    return self._ok(FineTuningEstimatePriceResponse, {
                        "estimation_available": True, "estimated_total_price": 0.42, "allowed_to_proceed": True,
                        "user_limit": 100.0, "estimated_train_token_count": 1200.0, "estimated_eval_token_count": 0.0})
                if method == "POST" and path == "/v1/fine-tunes":
                    return self._create_job(body)
                if method == "GET" and path == "/v1/fine-tunes":
                    return self._ok(FineTuningListResponse,
                                    {"data": [fake._job_view(x, ListedJob) for x in fake.jobs.values()]})
                if j:
                    return self._job_call(method, j.group(1), j.group(2))
                if method == "POST" and path == "/v1/chat/completions":
                    return self._chat(body)
                if method == "POST" and path == "/v1/completions":
                    return self._completion(body)
                return self._error(404, f"no route {method} {path}")

            def _ok(self, model: Any, body: Any, status: int = 200) -> None:
                fake.check_response(self.path, model, body)
                self._send(status, body)

            def _file_view(self, rec: dict[str, Any]) -> dict[str, Any]:
                return {k: v for k, v in rec.items() if not k.startswith("_")}

            def _file_out(self, rec: dict[str, Any] | None, processed: bool = False) -> None:
                if rec is None:
                    return self._error(404, "file not found")
                if processed and rec["id"] in fake.pending_bytes:
                    rec["processing_status"] = "COMPLETED"
                self._ok(FileResponse, self._file_view(rec))

            def _create_file(self, raw: bytes) -> None:
                msg = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode() + raw)
                form = {p.get_param("name", header="content-disposition"): p.get_content()
                        for p in msg.iter_parts()}
                if set(form) != {"purpose", "file_name", "file_type", "checksum"}:
                    fake.violations.append(f"request /v1/files: form fields {sorted(form)}")
                for rec in fake.files.values():
                    if rec["_checksum"] == form.get("checksum") and rec["processing_status"] == "COMPLETED":
                        return self._send(409, {"file_id": rec["id"]})
                file_id = fake._id("file")
                fake.files[file_id] = {
                    "id": file_id, "bytes": 0, "created_at": int(time.time()), "filename": form.get("file_name"),
                    "FileType": form.get("file_type"), "object": "file", "purpose": form.get("purpose"),
                    "processing_status": "PENDING", "_checksum": form.get("checksum")}
                self._send(302, headers={"Location": f"{fake.url}/upload/{file_id}", "X-Together-File-Id": file_id})

            def _limits(self, model: str) -> None:
                if model not in BASE_MODELS:
                    return self._send(404, {"message": f"model {model} is not supported for fine-tuning"})
                self._ok(FinetuneModelLimits, {
                    "model_name": model, "max_num_epochs": 20, "max_num_evals": 100, "max_num_checkpoints": 20,
                    "min_learning_rate": 1e-7, "max_learning_rate": 1e-2, "max_seq_length_sft": 8192,
                    "max_seq_length_dpo": 4096, "min_max_seq_length": 512, "default_gradient_accumulation_steps": 1,
                    "merge_output_lora": False, "supports_vision": False, "supports_tools": True,
                    "supports_reasoning": False, "supports_full_training": True,
                    "lora_training": {"default_rank": 64, "max_rank": 64, "min_batch_size": 8, "max_batch_size": 32,
                                      "max_batch_size_dpo": 16, "target_modules": ["q_proj", "v_proj"]}})

            def _create_job(self, body: Any) -> None:
                if not fake.check_request("/v1/fine-tunes", FinetuneRequest, body):
                    return self._error(400, "invalid request")
                if body["training_file"] not in fake.files:
                    return self._error(400, f"training_file {body['training_file']} not found")
                job_id = fake._id("ft")
                now = _iso(time.time())
                fake.jobs[job_id] = {
                    "id": job_id, "status": "pending", "user_id": USER_ID, "created_at": now, "updated_at": now,
                    "model": body["model"], "training_file": body["training_file"],
                    "validation_file": body.get("validation_file") or "", "suffix": body.get("suffix"),
                    "n_epochs": body.get("n_epochs"),
                    # the server resolves "max" to a number (the response type is an int)
                    "batch_size": body["batch_size"] if isinstance(body.get("batch_size"), int) else 32,
                    "learning_rate": body.get("learning_rate"),
                    "model_output_name": f"fakeacct/{body['model'].split('/')[-1]}-{body.get('suffix')}-{job_id}",
                    "_step": 0, "_training_method": body.get("training_method")}
                fake.events[job_id] = [fake._event("job_pending", "info", "job created")]
                self._ok(LibFinetuneResponse, fake._job_view(fake.jobs[job_id], LibFinetuneResponse))

            def _job_call(self, method: str, job_id: str, tail: str | None) -> None:
                job = fake.jobs.get(job_id)
                if job is None:
                    return self._error(404, f"job {job_id} not found")
                if tail == "/metrics":
                    steps = range(1, min(job["_step"], len(LIFE) - 1) + 1) if job["status"] != "pending" else ()
                    return self._ok(FineTuningListMetricsResponse, {"metrics": [
                        {"train/global_step": float(n), "train/loss": round(2.0 / n, 4)} for n in steps]})
                if tail == "/events":
                    return self._ok(FineTuningListEventsResponse, {"data": fake.events[job_id]})
                if tail == "/cancel" and method == "POST":
                    job["status"] = "cancelled"
                    return self._ok(FinetuneResponse, fake._job_view(job))
                if method == "DELETE":
                    fake.jobs.pop(job_id)
                    return self._ok(FineTuningDeleteResponse, {"message": "deleted"})
                fake._advance(job)
                self._ok(FinetuneResponse, fake._job_view(job))

            def _served(self, model: str) -> bool:
                done = {j["model_output_name"] for j in fake.jobs.values() if j["status"] == "completed"}
                return model in done or model in BASE_MODELS

            def _chat(self, body: Any) -> None:
                if not fake.check_request("/v1/chat/completions", ChatParams, body):
                    return self._error(400, "invalid request")
                if not self._served(body["model"]):
                    return self._error(404, f"model {body['model']} not found")
                last = str(body["messages"][-1].get("content", ""))
                usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
                self._ok(ChatCompletion, {
                    "id": fake._id("chat"), "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "prompt": [], "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"Sure: {last}"}}]})

            def _completion(self, body: Any) -> None:
                if not fake.check_request("/v1/completions", TextParams, body):
                    return self._error(400, "invalid request")
                self._ok(Completion, {
                    "id": fake._id("cmpl"), "object": "text.completion", "created": int(time.time()),
                    "model": body["model"], "prompt": [], "choices": [{"text": " done", "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._route("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

        return Handler
