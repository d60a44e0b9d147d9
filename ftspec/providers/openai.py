"""OpenAI and Azure OpenAI fine-tuning on the official ``openai`` SDK.

Idempotency: uploaded files are named ``ftspec-<key>.jsonl`` and jobs carry
``metadata.ftspec_key``, so ``find_file``/``find_job`` recover what an earlier (crashed, or a
teammate's) build already paid for.

Retries: ftspec retries, not the SDK. The client is made with ``max_retries=0`` and every call
goes through ``ftspec.providers.retry.call_with_retries`` (``providers.<name>.max_retries``
bounds it), so there is exactly one retry layer whatever calls the provider, and its backoff
honours the server's Retry-After. SDK errors become a ``ProviderError`` carrying ``status``,
``retryable`` and ``retry_after``, whose message never holds the API key.
"""

from __future__ import annotations

import dataclasses
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
    ModerationResult,
    Provider,
    RemoteFile,
    api_key_from_env,
    resolve_auto,
    usable_job,
)
from ftspec.providers.retry import call_with_retries

KEY_METADATA = "ftspec_key"
FILE_PREFIX = "ftspec-"
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT = 600.0
DEFAULT_POLL = 10.0
_LIST_CAP = 10_000  # bound on items walked when paging through lists


def upload_filename(idempotency_key: str) -> str:
    return f"{FILE_PREFIX}{idempotency_key}.jsonl"


def _is_chat_model(model: str) -> bool:
    """babbage-002/davinci-002 (and their ft: models) are prompt/completion models."""
    bare = model[3:] if model.startswith("ft:") else model
    return not bare.startswith(("babbage-002", "davinci-002"))


class OpenAIProvider(Provider):
    name = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"
    capabilities = Capabilities(supervised=True, dpo=True, chat=True, completions=True, embeddings=True,
                                exact_tokens=False, metrics_events=True, cancel=True, delete_model=True,
                                multiple_choices=True, native_batching=False, checkpoints=True,
                                moderation=True, continued_training=True)
    # hyperparameters the API chooses itself when the spec says "auto" (n_epochs and beta are
    # sent as the numbers the plan shows, so the bill matches the plan)
    resolves_itself = ("batch_size", "learning_rate_multiplier")

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        super().__init__(settings, project_root=project_root)
        self._client = None

    # ---- client ----------------------------------------------------------------------------
    @property
    def api_key_env(self) -> str:
        return self.settings.get("api_key_env") or type(self).key_env_var

    @property
    def poll_interval(self) -> float:
        return float(self.settings.get("poll_interval", DEFAULT_POLL))

    def _api_key(self) -> str:
        return api_key_from_env(self.name, self.api_key_env)

    def _common(self) -> dict[str, Any]:
        return {
            "api_key": self._api_key(),
            "timeout": float(self.settings.get("timeout", DEFAULT_TIMEOUT)),
            "max_retries": 0,  # ftspec retries (see the module docstring)
        }

    @property
    def max_retries(self) -> int:
        return int(self.settings.get("max_retries", DEFAULT_MAX_RETRIES))

    def _make_client(self):
        import openai

        return openai.OpenAI(
            base_url=self.settings.get("base_url") or None,
            organization=self.settings.get("organization") or None,
            project=self.settings.get("project") or None,
            **self._common(),
        )

    @property
    def client(self):
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        """Run one SDK call with ftspec's retries; SDK errors become ``ProviderError``s."""
        return call_with_retries(lambda: self._call_once(what, fn, *args, **kwargs), retries=self.max_retries)

    def _call_once(self, what: str, fn, *args, **kwargs):
        import openai

        try:
            return fn(*args, **kwargs)
        except openai.APIStatusError as exc:
            message = _error_message(exc)
            raise ProviderError(f"{self.name}: {what} failed: HTTP {exc.status_code}: {message}",
                                status=exc.status_code, retry_after=_retry_after(exc)) from None
        except openai.APITimeoutError:
            raise ProviderError(f"{self.name}: {what} timed out after retries", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"{self.name}: {what} failed: cannot connect ({type(exc.__cause__).__name__ if exc.__cause__ else 'connection error'})",
                                retryable=True) from None

    # ---- files -----------------------------------------------------------------------------
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile:
        with open(path, "rb") as fh:
            obj = self._call("upload", self.client.files.create,
                             file=(upload_filename(idempotency_key), fh), purpose=purpose)
        return _remote_file(obj)

    def find_file(self, idempotency_key: str) -> RemoteFile | None:
        wanted = upload_filename(idempotency_key)
        for obj in self._iter(self.client.files.list, "list files", purpose="fine-tune"):
            if obj.filename == wanted and getattr(obj, "status", None) != "error":
                return _remote_file(obj)
        return None

    def list_files(self) -> list[RemoteFile]:
        return [_remote_file(o) for o in self._iter(self.client.files.list, "list files")]

    def download_file(self, file_id: str, write_line) -> None:
        """Stream a file's content line by line into ``write_line(bytes)`` (never all in memory).
        A download cut off midway is retried whole: the caller's writer must restart cleanly,
        so it is handed ``None`` first on every attempt."""
        def once() -> None:
            write_line(None)
            with self.client.files.with_streaming_response.content(file_id) as resp:
                for line in resp.iter_lines():
                    write_line(line.encode("utf-8") if isinstance(line, str) else line)

        self._call("download file", once)

    def delete_file(self, file_id: str) -> None:
        self._call("delete file", self.client.files.delete, file_id)

    def owns_file(self, file: RemoteFile) -> bool:
        return file.filename.startswith(FILE_PREFIX)

    # ---- jobs ------------------------------------------------------------------------------
    def create_job(self, request: JobRequest) -> Job:
        method_hp = self.method_hyperparameters(request)
        params: dict[str, Any] = {
            "model": request.continue_from or request.model,  # an ft: model id trains further
            "training_file": request.training_file,
            "method": {"type": request.method, request.method: {"hyperparameters": method_hp}},
            "metadata": {**request.metadata, KEY_METADATA: request.idempotency_key},
        }
        for name in ("validation_file", "suffix", "seed"):
            if getattr(request, name) is not None:
                params[name] = getattr(request, name)
        if request.integrations:
            params["integrations"] = request.integrations
        return _job(self._call("create job", self.client.fine_tuning.jobs.create, **params))

    def method_hyperparameters(self, request: JobRequest) -> dict[str, Any]:
        """The one place the spec's and the resolved hyperparameters become the API's
        ``method.<type>.hyperparameters``: resolved numbers, ``"auto"`` where the spec left a key
        on auto that OpenAI resolves itself, then ``hyperparameters.openai`` verbatim."""
        names = ("n_epochs", "batch_size", "learning_rate_multiplier") + (("beta",) if request.method == "dpo" else ())
        resolved = {k: request.hyperparameters[k] for k in names if k in request.hyperparameters}
        method_hp = resolve_auto(request.requested_hyperparameters, resolved, self.resolves_itself)
        method_hp.update(request.extras.get("hyperparameters", {}))
        return method_hp

    def find_job(self, idempotency_key: str) -> Job | None:
        best: Job | None = None
        for obj in self._iter(self.client.fine_tuning.jobs.list, "list jobs",
                              metadata={KEY_METADATA: idempotency_key}):
            job = _job(obj)
            # the filter is applied again here: a server that ignores it must not match
            if job.metadata.get(KEY_METADATA) != idempotency_key:
                continue
            # running (or any unknown, non-terminal status such as paused) or succeeded
            if usable_job(job) and (best is None or (best.status != "succeeded" and job.status == "succeeded")):
                best = job
        return best

    def list_jobs(self) -> list[Job]:
        """Every fine-tuning job of the organization, all pages (``after``/``has_more``), newest first."""
        return [_job(o) for o in self._iter(self.client.fine_tuning.jobs.list, "list jobs", limit=100)]

    def get_job(self, job_id: str) -> Job:
        return _job(self._call("get job", self.client.fine_tuning.jobs.retrieve, job_id))

    def list_events(self, job_id: str, *, limit: int = 100) -> list[JobEvent]:
        page = self._call("list events", self.client.fine_tuning.jobs.list_events, job_id, limit=limit)
        events = [
            JobEvent(id=e.id, created_at=e.created_at, level=e.level, message=e.message,
                     type=getattr(e, "type", None) or "message", data=dict(getattr(e, "data", None) or {}))
            for e in page.data
        ]
        return events[::-1]  # the API lists newest first; ids are not ordered

    def cancel_job(self, job_id: str) -> Job:
        return _job(self._call("cancel job", self.client.fine_tuning.jobs.cancel, job_id))

    def list_checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        page = self._call("list checkpoints", self.client.fine_tuning.jobs.checkpoints.list, job_id)
        return [c.model_dump() for c in page.data]

    # ---- models ----------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        page = self._call("list models", self.client.models.list)
        return sorted(m.id for m in page.data if m.id.startswith("ft:"))

    def owns_model(self, model_id: str) -> bool:
        return model_id.startswith("ft:")

    def model_status(self, model_id: str) -> dict[str, Any]:
        """``{"exists": bool, "shutdown_date": str|None}`` for ``ftspec models``."""
        import openai

        try:
            obj = self.client.models.retrieve(model_id)
        except openai.NotFoundError:
            return {"exists": False, "shutdown_date": None}
        except openai.APIError as exc:
            raise ProviderError(f"{self.name}: get model failed: {_error_message(exc)}") from None
        return {"exists": True, "shutdown_date": getattr(obj, "shutdown_date", None)}

    def delete_model(self, model_id: str) -> None:
        self._call("delete model", self.client.models.delete, model_id)

    # ---- inference -------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        params: dict[str, Any] = {"model": request.model, "n": request.n}
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "stop", "seed"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        start = time.perf_counter()
        if request.messages is not None and _is_chat_model(request.model):
            resp = self._call("chat", self.client.chat.completions.create, messages=request.messages, **params)
            texts = [c.message.content or "" for c in resp.choices]
        else:
            prompt = request.prompt if request.prompt is not None else _flatten(request.messages or [])
            resp = self._call("completion", self.client.completions.create, prompt=prompt, **params)
            texts = [c.text for c in resp.choices]
        latency = time.perf_counter() - start
        ordered = sorted(resp.choices, key=lambda c: c.index)
        usage = resp.usage
        return ChatResult(
            choices=[texts[resp.choices.index(c)] for c in ordered],
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            finish_reasons=[c.finish_reason or "" for c in ordered],
        )

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        resp = self._call("embed", self.client.embeddings.create,
                          model=model or "text-embedding-3-small", input=texts)
        return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]

    def moderate(self, texts: list[str], *, model: str | None = None) -> list[ModerationResult]:
        resp = self._call("moderation", self.client.moderations.create,
                          model=model or "omni-moderation-latest", input=texts)
        out = []
        for result in resp.results:
            scores = {k: float(v) for k, v in result.category_scores.model_dump(by_alias=True).items() if v is not None}
            flagged = sorted(k for k, v in result.categories.model_dump(by_alias=True).items() if v)
            out.append(ModerationResult(scores=scores, flagged=flagged))
        return out

    def has_model(self, model_id: str) -> bool:
        return bool(self.model_status(model_id)["exists"])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- helpers ---------------------------------------------------------------------------
    def _iter(self, list_fn, what: str, **params):
        page = self._call(what, list_fn, **params)
        for n, item in enumerate(page.iter_pages()):
            if n * 100 > _LIST_CAP:
                break
            yield from item.data


class AzureOpenAIProvider(OpenAIProvider):
    name = "azure"
    key_env_var = "AZURE_OPENAI_API_KEY"
    # Azure screens with its own content filters; it serves no /moderations route
    capabilities = dataclasses.replace(OpenAIProvider.capabilities, moderation=False)

    def _make_client(self):
        import openai

        endpoint = self.settings.get("endpoint")
        if not endpoint:
            raise ProviderError("provider 'azure' needs providers.azure.endpoint in the spec")
        return openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_version=self.settings.get("api_version") or "2025-04-01-preview",
            **self._common(),
        )


def _flatten(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def _error_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or type(exc).__name__)


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


def _remote_file(obj) -> RemoteFile:
    return RemoteFile(id=obj.id, filename=obj.filename, bytes=obj.bytes or 0,
                      purpose=obj.purpose, created_at=obj.created_at or 0)


def _job(obj) -> Job:
    hp = obj.hyperparameters.model_dump(exclude_none=True) if obj.hyperparameters else {}
    method = getattr(obj, "method", None)
    if method is not None and getattr(method, "type", None):
        inner = getattr(method, method.type, None)
        if inner is not None and getattr(inner, "hyperparameters", None) is not None:
            hp = {**hp, **inner.hyperparameters.model_dump(exclude_none=True)}
    error = obj.error.model_dump() if obj.error else None
    if error and not error.get("code") and not error.get("message"):
        error = None
    return Job(
        id=obj.id, status=str(obj.status), model=obj.model, fine_tuned_model=obj.fine_tuned_model,
        trained_tokens=obj.trained_tokens, created_at=obj.created_at, finished_at=obj.finished_at,
        estimated_finish=getattr(obj, "estimated_finish", None), hyperparameters=hp,
        metadata=dict(obj.metadata or {}), error=error,
        training_file=obj.training_file, validation_file=obj.validation_file,
    )
