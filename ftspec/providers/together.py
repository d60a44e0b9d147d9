"""Together AI fine-tuning on the official ``together`` SDK (``pip install 'ftspec[together]'``).

The SDK, not plain HTTP: its upload is a three-step protocol (``POST /v1/files`` answered by a
302 to a presigned URL, a PUT of the bytes, then ``/preprocess``) with a checksum and a
multipart path for big files, and its ``fine_tuning.create`` fetches the model's limits and a
price estimate before it sends the job. Re-implementing either would drift from the service.

Idempotency (Together lets the caller choose no ids and has no idempotency header):
- files: the upload is named ``ftspec-<key>.jsonl`` (the SDK sends the path's name), so
  ``find_file`` finds an earlier upload by name; the server also answers 409 for a file whose
  sha256 it already holds, and the SDK then returns that file.
- jobs: the key rides in the job's ``suffix`` (40 characters at most; it also names the output
  model), and ``find_job`` lists the account's jobs and matches suffix and training file.
  ``create_job`` looks again before every retry, so a lost response never pays twice.

Retries: ftspec retries, not the SDK (``max_retries=0`` on the client; every call goes through
``ftspec.providers.retry.call_with_retries``). SDK errors become ``ProviderError``s carrying
``status``, ``retryable`` and ``retry_after``; no message holds the API key.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ftspec.errors import ProviderError
from ftspec.providers.base import (
    Capabilities,
    ChatRequest,
    ChatResult,
    Job,
    JobEvent,
    JobRequest,
    MigratedHyperparameters,
    Provider,
    RemoteFile,
    api_key_from_env,
    usable_job,
)
from ftspec.providers.retry import call_with_retries

FILE_PREFIX = "ftspec-"
KEY_CHARS = 16  # of the idempotency key carried in the suffix (64 bits: unique per account)
SUFFIX_MAX = 40  # Together's limit on ``suffix``
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT = 600.0
DEFAULT_POLL = 10.0
# Together's default learning rate (SDK 3.1.1); the spec's learning_rate_multiplier scales it.
BASE_LEARNING_RATE = 1e-5

# Together job status -> ftspec's vocabulary (base.TERMINAL_STATUSES etc.)
STATUS = {
    "pending": "queued", "queued": "queued", "running": "running", "compressing": "running",
    "uploading": "running", "cancel_requested": "cancelled", "cancelled": "cancelled",
    "error": "failed", "user_error": "failed", "completed": "succeeded",
}
EVENT_LEVEL = {"info": "info", "warning": "warn", "error": "error"}
# hyperparameters.together keys passed to ``fine_tuning.create`` as they are (the schema lists them)
PASSTHROUGH = ("learning_rate", "lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules",
               "warmup_ratio", "max_seq_length", "n_checkpoints", "n_evals", "lr_scheduler_type",
               "min_lr_ratio", "weight_decay", "max_grad_norm", "train_on_inputs", "packing")
# ... and those only a DPO job takes (the SDK's ``fine_tuning.create`` keywords)
DPO_PASSTHROUGH = ("dpo_normalize_logratios_by_length", "rpo_alpha", "simpo_gamma")


# what a Together conversational line may hold (docs: fine-tuning/data-preparation)
_MESSAGE_KEYS = ("role", "content", "weight", "name", "tool_calls", "tool_call_id", "reasoning", "reasoning_content")
_RECORD_KEYS = ("messages", "tools", "prompt", "completion", "text")


def to_together_record(record: dict[str, Any]) -> dict[str, Any]:
    """One canonical dataset line in the form Together trains on.

    Together detects a line's format from its keys (conversational ``messages`` [+ ``tools``],
    instruction ``prompt``/``completion``, generic ``text``) and rejects a file that matches two,
    so keys it does not know (OpenAI's ``parallel_tool_calls``, ``functions``, anything else) are
    dropped, as are message keys outside its conversational schema.
    """
    if "preferred_output" in record:  # DPO: input{messages[, tools]}, one assistant message a side
        given = record.get("input") or {}
        inner = {k: given[k] for k in ("messages", "tools") if k in given}
        inner["messages"] = [_together_message(m) for m in inner.get("messages") or []]
        return {"input": inner, **{k: [_together_message(m) for m in record.get(k) or []]
                                   for k in ("preferred_output", "non_preferred_output")}}
    out = {k: record[k] for k in _RECORD_KEYS if k in record}
    if "messages" in out:
        out["messages"] = [{k: m[k] for k in _MESSAGE_KEYS if k in m} if isinstance(m, dict) else m
                           for m in out["messages"]]
        for other in ("prompt", "completion", "text"):  # one format per line
            out.pop(other, None)
    return out


def _together_message(m: Any) -> Any:
    return {k: m[k] for k in _MESSAGE_KEYS if k in m} if isinstance(m, dict) else m


def convert_file(src: Path, dst: Path) -> str:
    """Write ``src`` (canonical JSONL) to ``dst`` in Together's form; the sha256 of what is sent."""
    import hashlib
    import json

    digest = hashlib.sha256()
    with open(src, encoding="utf-8") as fin, open(dst, "wb") as fout:
        for line in fin:
            if not line.strip():
                continue
            data = (json.dumps(to_together_record(json.loads(line)), ensure_ascii=False) + "\n").encode()
            digest.update(data)
            fout.write(data)
    return digest.hexdigest()


def upload_filename(idempotency_key: str) -> str:
    return f"{FILE_PREFIX}{idempotency_key}.jsonl"


def job_suffix(idempotency_key: str, user_suffix: str | None = None) -> str:
    """The job's ``suffix``: the spec's suffix (shortened to fit) then the key, or ``ftspec-<key>``."""
    tail = idempotency_key[:KEY_CHARS]
    head = (user_suffix or "ftspec")[: SUFFIX_MAX - KEY_CHARS - 1]
    return f"{head}-{tail}"


def job_parameters(request: JobRequest) -> dict[str, Any]:
    """The one place a ``JobRequest`` becomes ``client.fine_tuning.create`` arguments.

    - ``n_epochs`` -> ``n_epochs``;
    - ``batch_size`` -> ``batch_size``, ``"max"`` when the spec left it on auto (Together picks);
    - ``learning_rate_multiplier`` -> ``learning_rate`` = 1e-5 x multiplier (1e-5 is Together's
      default), unless ``hyperparameters.together.learning_rate`` sets it outright;
    - ``beta`` (dpo) -> ``dpo_beta``; ``seed`` -> ``random_seed``;
    - always LoRA (``lora=True``); ``hyperparameters.together`` keys (``PASSTHROUGH``, and for
      DPO jobs ``DPO_PASSTHROUGH``) verbatim.
    """
    hp = request.hyperparameters
    params: dict[str, Any] = {
        "model": request.model,
        "training_file": request.training_file,
        "lora": True,
        "suffix": job_suffix(request.idempotency_key, request.suffix),
        "training_method": "dpo" if request.method == "dpo" else "sft",
    }
    if request.continue_from:  # the API takes the earlier job's output model instead of ``model``
        params["from_checkpoint"] = request.continue_from
        del params["model"]
    if request.method != "dpo":
        params["train_on_inputs"] = "auto"  # the SDK's default, said so it does not log a warning
    if request.validation_file:
        params["validation_file"] = request.validation_file
    if hp.get("n_epochs") is not None:
        params["n_epochs"] = int(hp["n_epochs"])
    if request.requested("batch_size") == "auto" or hp.get("batch_size") is None:
        params["batch_size"] = "max"
    else:
        params["batch_size"] = int(hp["batch_size"])
    if hp.get("learning_rate_multiplier") is not None:
        params["learning_rate"] = BASE_LEARNING_RATE * float(hp["learning_rate_multiplier"])
    if request.method == "dpo" and hp.get("beta") is not None:
        params["dpo_beta"] = float(hp["beta"])
    if request.seed is not None:
        params["random_seed"] = int(request.seed)
    extras = dict(request.extras.get("hyperparameters") or {})
    params.update({k: extras[k] for k in PASSTHROUGH if k in extras})
    for key in DPO_PASSTHROUGH:
        if key in extras and request.method != "dpo":
            raise ProviderError(f"hyperparameters.together.{key}: a DPO option; this job's method is supervised (job: {{method: dpo}})")
        if key in extras:
            params[key] = extras[key]
    return params


class TogetherProvider(Provider):
    name = "together"
    needs_key = True
    key_env_var = "TOGETHER_API_KEY"
    capabilities = Capabilities(supervised=True, dpo=True, chat=True, completions=True, embeddings=False,
                                exact_tokens=False, metrics_events=True, cancel=True, delete_model=True,
                                multiple_choices=False, native_batching=False, checkpoints=False,
                                continued_training=True)

    default_learning_rate = BASE_LEARNING_RATE

    @classmethod
    def migrate_hyperparameters(cls, hp: dict[str, Any], *, source: type[Provider]) -> MigratedHyperparameters:
        """Epochs kept; the multiplier reset to 1.0 (Together's 1e-5, see ``job_parameters``);
        batch size left to Together (``"max"``): each model has its own minimum batch size,
        often above what OpenAI chose, and Together packs examples, so a small number from
        another provider means something else here."""
        out = super().migrate_hyperparameters(hp, source=source)
        batch = out.values.pop("batch_size", None)
        out.notes = [n for n in out.notes if not n.startswith("batch_size")]
        out.notes.append(f"batch_size auto (Together's \"max\"): {source.name} used {batch}; Together sets a minimum "
                         "batch size per model and packs examples, so that number does not carry over")
        out.notes.append("LoRA: always (lora: true); rank, alpha and the rest go in hyperparameters.together")
        return out

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        super().__init__(settings, project_root=project_root)
        self._client = None
        self.last_upload_sha256: str | None = None

    # ---- client ----------------------------------------------------------------------------
    @property
    def api_key_env(self) -> str:
        return self.settings.get("api_key_env") or type(self).key_env_var

    @property
    def poll_interval(self) -> float:
        return float(self.settings.get("poll_interval", DEFAULT_POLL))

    @property
    def max_retries(self) -> int:
        return int(self.settings.get("max_retries", DEFAULT_MAX_RETRIES))

    def _api_key(self) -> str:
        return api_key_from_env(self.name, self.api_key_env)

    @property
    def client(self):
        if self._client is None:
            import together

            self._client = together.Together(
                api_key=self._api_key(),
                base_url=self.settings.get("base_url") or None,
                timeout=float(self.settings.get("timeout", DEFAULT_TIMEOUT)),
                max_retries=0,  # ftspec retries (see the module docstring)
            )
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        """Run one SDK call with ftspec's retries; SDK errors become ``ProviderError``s."""
        return call_with_retries(lambda: self._call_once(what, fn, *args, **kwargs), retries=self.max_retries)

    def _call_once(self, what: str, fn, *args, **kwargs):
        import together

        try:
            return fn(*args, **kwargs)
        except together.APIStatusError as exc:
            status = exc.status_code
            if status == 401:
                # the SDK's upload words a 401 as "free trial credits"; say what it is
                message = f"the API key in {self.api_key_env} was rejected"
            else:
                message = _error_message(exc)
            raise ProviderError(f"{self.name}: {what} failed: HTTP {status}: {message}",
                                status=status, retry_after=_retry_after(exc)) from None
        except together.APITimeoutError:
            raise ProviderError(f"{self.name}: {what} timed out", retryable=True) from None
        except together.APIConnectionError as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            raise ProviderError(f"{self.name}: {what} failed: cannot connect ({cause})", retryable=True) from None

    # ---- files -----------------------------------------------------------------------------
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile:
        # the SDK names the upload after the path: write the converted file under the key's name
        with tempfile.TemporaryDirectory(prefix="ftspec-together-") as tmp:
            named = Path(tmp) / upload_filename(idempotency_key)
            self.last_upload_sha256 = convert_file(path, named)  # what Together receives (its checksum)
            obj = self._call("upload", self.client.files.upload, named, purpose=purpose, check=False)
        return _remote_file(obj)

    def find_file(self, idempotency_key: str) -> RemoteFile | None:
        wanted = upload_filename(idempotency_key)
        for obj in self._files():
            status = str(getattr(obj, "processing_status", "") or "").upper()
            if obj.filename == wanted and status not in ("FAILED", "INVALID_FORMAT"):
                return _remote_file(obj)
        return None

    def list_files(self) -> list[RemoteFile]:
        return [_remote_file(o) for o in self._files()]

    def _files(self) -> list[Any]:
        return list(self._call("list files", self.client.files.list).data or [])

    def delete_file(self, file_id: str) -> None:
        self._call("delete file", self.client.files.delete, file_id)

    def owns_file(self, file: RemoteFile) -> bool:
        return file.filename.startswith(FILE_PREFIX)

    # ---- jobs ------------------------------------------------------------------------------
    def create_job(self, request: JobRequest) -> Job:
        params = job_parameters(request)

        def attempt() -> Job:
            # a retried create first looks for the job an earlier attempt may have made
            found = self.find_job(request.idempotency_key, training_file=request.training_file)
            if found is not None:
                return found
            return _job(self._call_once("create job", self.client.fine_tuning.create, **params))

        return call_with_retries(attempt, retries=self.max_retries)

    def find_job(self, idempotency_key: str, *, training_file: str | None = None) -> Job | None:
        tail = "-" + idempotency_key[:KEY_CHARS]
        best: Job | None = None
        for obj in self._jobs():
            if not str(getattr(obj, "suffix", None) or "").endswith(tail):
                continue
            job = _job(obj)
            if training_file is not None and job.training_file not in (None, training_file):
                continue
            if usable_job(job) and (best is None or (best.status != "succeeded" and job.status == "succeeded")):
                best = job
        return best

    def _jobs(self) -> list[Any]:
        return list(self._call("list jobs", self.client.fine_tuning.list).data or [])

    def get_job(self, job_id: str) -> Job:
        return _job(self._call("get job", self.client.fine_tuning.retrieve, job_id))

    def list_events(self, job_id: str, *, limit: int = 100) -> list[JobEvent]:
        """The job's events, then one ``metrics`` event per logged training step (from
        ``/metrics``), so the wait line shows step and loss as for the other providers."""
        page = self._call("list events", self.client.fine_tuning.list_events, job_id)
        events, total = [], None
        for n, e in enumerate(page.data or []):
            data = {k: getattr(e, k) for k in ("step", "total_steps") if getattr(e, k, None) is not None}
            total = data.get("total_steps", total)
            events.append(JobEvent(id=f"{job_id}-{n}", created_at=_unix(e.created_at),
                                   level=EVENT_LEVEL.get(str(e.level or "info").lower(), "info"),
                                   message=e.message or "", type="message", data=data))
        events.sort(key=lambda ev: ev.created_at)  # stable: the API's order within a second
        # metric rows carry no time: they are as recent as the latest event, so the list stays oldest first
        latest = events[-1].created_at if events else 0
        return (events + self._metrics_events(job_id, total, latest))[-limit:]

    def _metrics_events(self, job_id: str, total_steps: int | None, created_at: int) -> list[JobEvent]:
        metrics = self._call("list metrics", self.client.fine_tuning.list_metrics, job_id).metrics or []
        out = []
        for row in metrics:
            step = row.get("train/global_step", row.get("eval/global_step"))
            if step is None:
                continue
            data: dict[str, Any] = {"step": int(step), "total_steps": total_steps}
            if "train/loss" in row:
                data["train_loss"] = row["train/loss"]
            if "eval/loss" in row:
                data["valid_loss"] = row["eval/loss"]
            out.append(JobEvent(id=f"{job_id}-metrics-{int(step)}-{len(out)}", created_at=created_at, level="info",
                                message=f"step {int(step)}", type="metrics", data=data))
        return out

    def cancel_job(self, job_id: str) -> Job:
        self._call("cancel job", self.client.fine_tuning.cancel, job_id)
        return self.get_job(job_id)

    # ---- models ----------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Output models of this account's completed jobs (Together's v1 API lists no fine-tunes)."""
        return sorted({job.fine_tuned_model for job in map(_job, self._jobs())
                       if job.status == "succeeded" and job.fine_tuned_model})

    def owns_model(self, model_id: str) -> bool:
        return model_id in self.list_models()

    def delete_model(self, model_id: str) -> None:
        """Delete the job that produced ``model_id``; Together removes its output model with it."""
        for job in map(_job, self._jobs()):
            if job.fine_tuned_model == model_id:
                self._call("delete model", self.client.fine_tuning.delete, job.id)
                return
        raise ProviderError(f"{self.name}: delete model failed: no job produced '{model_id}'")

    # ---- inference -------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        params: dict[str, Any] = {"model": request.model}
        if request.n != 1:
            params["n"] = request.n
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "stop", "seed"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        start = time.perf_counter()
        if request.messages is not None:
            resp = self._call("chat", self.client.chat.completions.create, messages=request.messages, **params)
            texts = [(c.message.content if c.message else "") or "" for c in resp.choices]
        else:
            resp = self._call("completion", self.client.completions.create, prompt=request.prompt or "", **params)
            texts = [c.text or "" for c in resp.choices]
        latency = time.perf_counter() - start
        order = sorted(range(len(resp.choices)), key=lambda i: resp.choices[i].index or 0)
        usage = resp.usage
        return ChatResult(
            choices=[texts[i] for i in order],
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            finish_reasons=[str(resp.choices[i].finish_reason or "") for i in order],
        )

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        raise ProviderError(f"provider '{self.name}' does not embed; use an embeddings provider for this scorer")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _error_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or type(exc).__name__).splitlines()[0][:300]


def _retry_after(exc) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds), when the server sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            continue  # an HTTP date: fall back to ftspec's own backoff
    return None


def _unix(value: Any) -> int:
    """Together sends ISO timestamps on jobs and events, unix seconds on files."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    import datetime as dt

    text = str(value).replace("Z", "+00:00")
    try:
        return int(dt.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


def _remote_file(obj) -> RemoteFile:
    return RemoteFile(id=obj.id, filename=obj.filename or "", bytes=obj.bytes or 0,
                      purpose=str(obj.purpose or "fine-tune"), created_at=_unix(obj.created_at))


def _job(obj) -> Job:
    raw_status = getattr(obj.status, "value", obj.status)
    status = STATUS.get(str(raw_status), str(raw_status))
    # the lib type (create) calls it output_name, the generated ones x_model_output_name
    output = getattr(obj, "output_name", None) or getattr(obj, "x_model_output_name", None)
    hp = {k: getattr(obj, k) for k in ("n_epochs", "batch_size", "learning_rate", "warmup_ratio")
          if getattr(obj, k, None) is not None}
    error = {"code": str(raw_status), "message": "the job failed (see ftspec events)", "param": None} \
        if status == "failed" else None
    progress = getattr(obj, "progress", None)
    remaining = getattr(progress, "seconds_remaining", None) if getattr(progress, "estimate_available", False) else None
    return Job(
        id=obj.id, status=status, model=getattr(obj, "model", None) or "",
        estimated_finish=int(time.time() + remaining) if remaining is not None and status == "running" else None,
        fine_tuned_model=output if status == "succeeded" else None,
        trained_tokens=getattr(obj, "token_count", None), created_at=_unix(getattr(obj, "created_at", None)),
        finished_at=_unix(getattr(obj, "updated_at", None)) if status in ("succeeded", "failed", "cancelled") else None,
        hyperparameters=hp, error=error,
        training_file=getattr(obj, "training_file", None), validation_file=getattr(obj, "validation_file", None) or None,
    )
