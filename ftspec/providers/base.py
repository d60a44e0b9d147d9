"""The provider protocol: what ftspec needs from a fine-tuning backend.

Small and typed. Every side effect that costs money takes an ``idempotency_key`` and every
provider can find what it made under that key again (``find_file``, ``find_job``), so a build
that crashed, or runs from a teammate's clone, never pays twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_STATUSES = frozenset({"validating_files", "queued", "running", "pausing", "paused"})


@dataclass
class RemoteFile:
    id: str
    filename: str
    bytes: int = 0
    purpose: str = "fine-tune"
    created_at: int = 0


@dataclass
class JobRequest:
    model: str
    training_file: str
    idempotency_key: str
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # resolved, no "auto" left unless provider resolves
    method: str = "supervised"  # supervised | dpo
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # provider-specific (hyperparameters.<provider>)


@dataclass
class Job:
    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # {code, message, param}
    training_file: str | None = None
    validation_file: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass
class JobEvent:
    id: str
    created_at: int
    level: str  # info | warn | error
    message: str
    type: str = "message"  # message | metrics
    data: dict[str, Any] = field(default_factory=dict)  # metrics: step, total_steps, train_loss, valid_loss, ...


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]] | None = None  # chat models
    prompt: str | None = None  # completion models
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None


@dataclass
class ChatResult:
    choices: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reasons: list[str] = field(default_factory=list)


@dataclass
class ModelInfo:
    """What ftspec needs to know about a base model the provider trains."""

    name: str
    context_limit: int | None  # per-example training limit in tokens
    tokenizer: str  # label shown in plans
    exact_tokens: bool


class Provider(ABC):
    """A fine-tuning backend. Built-ins and plugins register under ``ftspec.providers``."""

    name: ClassVar[str]
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        self.settings = settings
        self.project_root = project_root

    # ---- files -----------------------------------------------------------------------------
    @abstractmethod
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile: ...

    @abstractmethod
    def find_file(self, idempotency_key: str) -> RemoteFile | None: ...

    @abstractmethod
    def list_files(self) -> list[RemoteFile]: ...

    @abstractmethod
    def delete_file(self, file_id: str) -> None: ...

    # ---- jobs ------------------------------------------------------------------------------
    @abstractmethod
    def create_job(self, request: JobRequest) -> Job: ...

    @abstractmethod
    def find_job(self, idempotency_key: str) -> Job | None:
        """A running or succeeded job created earlier under this key, if any."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abstractmethod
    def list_events(self, job_id: str, *, limit: int = 100) -> list[JobEvent]:
        """Events oldest first."""

    @abstractmethod
    def cancel_job(self, job_id: str) -> Job: ...

    # ---- models ----------------------------------------------------------------------------
    @abstractmethod
    def list_models(self) -> list[str]:
        """Fine-tuned model ids this account/store holds."""

    @abstractmethod
    def delete_model(self, model_id: str) -> None: ...

    def model_info(self, base_model: str) -> ModelInfo | None:
        """Context limit and tokenizer of a base model, when the provider knows better than
        ftspec's base-model table (e.g. a local model's own config)."""
        return None

    def token_counter(self, base_model: str):
        """An exact ``TokenCounter`` for this base model, or None to use ftspec's table."""
        return None

    # ---- inference -------------------------------------------------------------------------
    @abstractmethod
    def chat(self, request: ChatRequest) -> ChatResult: ...

    def chat_batch(self, requests: list[ChatRequest], *, concurrency: int = 4) -> list[ChatResult]:
        """Many requests; remote providers run them concurrently, local ones batch them."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(self.chat, requests))

    @abstractmethod
    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]: ...

    def close(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing
        """Release clients, threads, loaded models."""
