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
UNUSABLE_STATUSES = frozenset({"failed", "cancelled"})  # never reused under an idempotency key
ACTIVE_STATUSES = frozenset({"validating_files", "queued", "running", "pausing", "paused"})


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do. Callers read these flags instead of probing for methods.

    The defaults describe the smallest useful provider: supervised training and chat.
    """

    supervised: bool = True
    dpo: bool = False
    chat: bool = True
    completions: bool = False  # prompt/completion (non-chat) models
    embeddings: bool = False
    exact_tokens: bool = False  # ``token_counter`` returns an exact tokenizer
    metrics_events: bool = False  # ``list_events`` yields ``type="metrics"`` events
    cancel: bool = True
    delete_model: bool = True
    multiple_choices: bool = False  # ``ChatRequest.n > 1`` in one call
    native_batching: bool = False  # ``chat_batch`` batches on the device; call it as is
    batch_size: int = 1  # with native batching: requests one ``chat_batch`` call runs at once, at best
    checkpoints: bool = False  # ``list_checkpoints``
    # a fine-tuned model answers only once deployed (a paid, running endpoint): the graph runs a
    # ``deploy`` task before evals and an ``undeploy`` task after them (``find_deployment``,
    # ``deploy``, ``get_deployment``, ``undeploy``, ``list_deployments``, ``owns_deployment``)
    deployment: bool = False
    moderation: bool = False  # ``moderate``: a content moderation endpoint (scores per category)
    # a job may start from one of this provider's fine-tuned models (``JobRequest.continue_from``)
    continued_training: bool = False


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
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # resolved numbers (what the plan shows)
    requested_hyperparameters: dict[str, Any] = field(default_factory=dict)  # as the spec wrote them ("auto")
    method: str = "supervised"  # supervised | dpo
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # provider-specific (hyperparameters.<provider>)
    continue_from: str | None = None  # a fine-tuned model of this provider to train further (``model``: its root base)

    def requested(self, key: str) -> Any:
        """What the spec asked for ``key``: a value, ``"auto"``, or None when it did not say."""
        return self.requested_hyperparameters.get(key)


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
class ModerationResult:
    """One input's moderation: every category's score, and those the endpoint itself flagged."""

    scores: dict[str, float]
    flagged: list[str] = field(default_factory=list)


@dataclass
class Deployment:
    """A running endpoint serving one fine-tuned model (``Capabilities.deployment``)."""

    id: str
    model: str  # the fine-tuned model it serves
    served_model: str  # what chat requests name as ``model``
    state: str  # creating | ready | failed | deleting | deleted | <the provider's own word>
    created_at: int = 0

    @property
    def live(self) -> bool:
        """Running (or starting): billed until undeployed."""
        return self.state not in ("failed", "deleting", "deleted")


@dataclass
class ModelInfo:
    """What a provider knows about a base model it trains (the local provider's ``model_info``)."""

    name: str
    context_limit: int | None  # per-example training limit in tokens
    tokenizer: str  # label shown in plans
    exact_tokens: bool


def api_key_from_env(provider: str, env_var: str) -> str:
    """The API key in ``env_var``, or the one-line error that names the variable to set."""
    import os

    from ftspec.errors import NeedsKeyError

    key = os.environ.get(env_var, "")
    if not key:
        raise NeedsKeyError(
            f"provider '{provider}' needs an API key: set the environment variable {env_var}",
            hint=f"export {env_var}=... (or name another variable in providers.{provider}.api_key_env)",
        )
    return key


def usable_job(job: Job) -> bool:
    """The one reuse rule: a job found under a key is reused unless it failed or was cancelled."""
    return job.status not in UNUSABLE_STATUSES


def resolve_auto(requested: dict[str, Any], resolved: dict[str, Any], provider_resolves: tuple[str, ...]) -> dict[str, Any]:
    """The hyperparameters a job request sends: the resolved numbers, except ``"auto"`` for the
    keys the spec left on auto and the provider resolves itself."""
    return {key: ("auto" if key in provider_resolves and requested.get(key) == "auto" else value)
            for key, value in resolved.items() if value is not None}


@dataclass
class MigratedHyperparameters:
    """What ``ftspec migrate`` writes for a target provider: the spec's ``hyperparameters``
    values, the provider's own block (``hyperparameters.<provider>``), and one comment line per
    decision, so the new spec says why each number is what it is."""

    values: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _rate(value: float | None) -> str:
    return "an unpublished rate" if value is None else f"{value:g}"


class Provider(ABC):
    """A fine-tuning backend. Built-ins and plugins register under ``ftspec.providers``."""

    name: ClassVar[str]
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        self.settings = settings
        self.project_root = project_root

    # ---- migration (``ftspec migrate --to NAME``) --------------------------------------------
    # The learning rate that ``learning_rate_multiplier: 1.0`` means on this provider, when known.
    default_learning_rate: ClassVar[float | None] = None

    @classmethod
    def default_base_model(cls) -> str | None:
        """The base model a migration to this provider starts from: the base-model table's
        ``providers.<name>.default_base_model``; None means ``--base-model`` is required."""
        from ftspec.data.base_models import provider_default_base_model

        return provider_default_base_model(cls.name)

    @classmethod
    def migrate_hyperparameters(cls, hp: dict[str, Any], *, source: type[Provider]) -> MigratedHyperparameters:
        """Map a job's resolved hyperparameters (``n_epochs``, ``batch_size``,
        ``learning_rate_multiplier``) from ``source`` to this provider.

        The default: the same number of epochs (the same passes over the same data) and batch
        size; ``learning_rate_multiplier`` is reset to 1.0. A multiplier scales its own provider's
        base rate (OpenAI's is unpublished and depends on the model and batch size), so it is
        not a learning rate and its value does not carry over; the target starts at its own
        default and the parity report says whether that holds up. Providers override this to
        map onto their own knobs.
        """
        out = MigratedHyperparameters()
        epochs = hp.get("n_epochs")
        if isinstance(epochs, int):
            out.values["n_epochs"] = epochs
            out.notes.append(f"n_epochs {epochs}: kept (the same passes over the same data)")
        batch = hp.get("batch_size")
        if isinstance(batch, int):
            out.values["batch_size"] = batch
            out.notes.append(f"batch_size {batch}: kept")
        multiplier = hp.get("learning_rate_multiplier")
        out.values["learning_rate_multiplier"] = 1.0
        if isinstance(multiplier, int | float):
            was = (f"{source.name}'s learning_rate_multiplier {multiplier:g} scaled {source.name}'s own base "
                   f"rate ({_rate(source.default_learning_rate)}); it is not a learning rate and does not carry over")
        else:
            was = f"{source.name} reported no learning_rate_multiplier"
        out.notes.append(f"learning_rate_multiplier 1.0: {was}; 1.0 is {cls.learning_rate_meaning()}")
        return out

    @classmethod
    def learning_rate_meaning(cls) -> str:
        """What ``learning_rate_multiplier: 1.0`` means on this provider, in a few words."""
        return f"{cls.name}'s default learning rate ({_rate(cls.default_learning_rate)})"
    @classmethod
    def spec_problems(cls, spec: Any) -> list[Any]:
        """Located problems with ``spec`` for this provider, found offline at validate time
        (e.g. a base model the service does not tune); ``Problem``s from ``spec.problem``."""
        return []

    def preflight(self, spec: Any, training_file: Path) -> list[str]:
        """Checks of the rendered training file, run just before a new job is created: raise a
        located ``SpecError`` for one that would train a broken model; return lines to print
        (``warning: ...``, ``note: ...``)."""
        return []

    # ---- files -----------------------------------------------------------------------------
    @abstractmethod
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile: ...

    @abstractmethod
    def find_file(self, idempotency_key: str) -> RemoteFile | None: ...

    @abstractmethod
    def list_files(self) -> list[RemoteFile]: ...

    @abstractmethod
    def delete_file(self, file_id: str) -> None: ...

    def owns_file(self, file: RemoteFile) -> bool:
        """Whether ftspec uploaded ``file`` (so ``ftspec gc`` may list it). The default claims
        nothing: gc never touches an object a provider cannot recognise as ftspec's."""
        return False

    # ---- jobs ------------------------------------------------------------------------------
    @abstractmethod
    def create_job(self, request: JobRequest) -> Job: ...

    @abstractmethod
    def find_job(self, idempotency_key: str) -> Job | None:
        """A running or succeeded job created earlier under this key, if any; a failed or
        cancelled one is never returned (see ``usable_job``)."""

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

    def owns_model(self, model_id: str) -> bool:
        """Whether ``model_id`` is a fine-tuned model this provider made (gc candidates are
        further limited to models this project's receipts recorded)."""
        return False

    def model_status(self, model_id: str) -> dict[str, Any]:
        """``{"exists": bool, "shutdown_date": str | None}`` for ``ftspec models``."""
        return {"exists": model_id in self.list_models(), "shutdown_date": None}

    def token_counter(self, base_model: str):
        """An exact ``TokenCounter`` for this base model, or None to use ftspec's table."""
        return None

    # ---- deployments (only with ``capabilities.deployment``) ------------------------------
    def find_deployment(self, model_id: str) -> Deployment | None:
        """The live deployment ftspec made for ``model_id`` (found by its derived id), if any."""
        return None

    def deploy(self, model_id: str) -> Deployment:
        """Start serving ``model_id`` under an id derived from it (so a retry finds it)."""
        from ftspec.errors import ProviderError

        raise ProviderError(f"provider '{self.name}' serves models without a deployment")

    def get_deployment(self, deployment_id: str) -> Deployment:
        from ftspec.errors import ProviderError

        raise ProviderError(f"provider '{self.name}' serves models without a deployment")

    def undeploy(self, deployment_id: str) -> None:  # noqa: B027 - a no-op without deployments
        """Stop and delete a deployment; one already gone is not an error."""

    def list_deployments(self) -> list[Deployment]:
        return []

    def owns_deployment(self, deployment: Deployment) -> bool:
        """Whether ftspec made ``deployment`` (so ``ftspec gc`` may remove it)."""
        return False

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

    def moderate(self, texts: list[str], *, model: str | None = None) -> list[ModerationResult]:
        """Scores per category for each text (providers with ``Capabilities.moderation``)."""
        from ftspec.errors import ProviderError

        raise ProviderError(f"{self.name}: no moderation endpoint")

    def has_model(self, model_id: str) -> bool:
        """Whether ``model_id`` answers chat requests here (checked before a data step pays for
        any call); providers that cannot tell cheaply say yes and let the first call fail."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing
        """Release clients, threads, loaded models."""
