"""Where a local training job runs: one module per executor, registered by name in ``EXECUTORS``.

``hyperparameters.local.executor`` chooses one: ``process`` (the default: a detached worker
process on this machine, ``worker.py``) or ``{ray: {...}}`` (Ray Train on a Ray cluster,
``ray.py``). An executor starts a job whose record the provider has written to the store,
brings the record up to date from wherever the job runs, and cancels it. Executor modules
import their heavy dependencies only inside their methods, so reading the registry is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ftspec.errors import FtspecError, ProviderError
from ftspec.registry import Registry

if TYPE_CHECKING:
    from ftspec.providers.base import JobRequest
    from ftspec.providers.local.provider import LocalProvider

EXECUTORS: Registry[type[Executor]] = Registry("local executor", "ftspec.providers.local.executors")
SETTING = "hyperparameters.local.executor"


class ExecutorUnreachable(ProviderError):
    """Where a recorded job runs cannot be reached now (a cluster that is down): the job is kept,
    and a build must say so rather than take the job for gone and make another."""


class Executor:
    """One way of running the store's jobs; ``settings`` is the spec's block for it."""

    name: ClassVar[str]
    watches_pid: ClassVar[bool] = False  # the provider's own pid watch and signals apply (process)

    def __init__(self, provider: LocalProvider, settings: dict[str, Any]) -> None:
        self.provider, self.settings = provider, settings

    def preflight(self, request: JobRequest) -> None:
        """Refuse, with one line, a job that cannot run, before anything is written or submitted."""

    def start(self, job_id: str) -> None:
        raise NotImplementedError

    def refresh(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's record, brought up to date (final statuses are written to the store)."""
        raise NotImplementedError

    def cancel(self, job: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def executor_choice(extras: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``hyperparameters.local.executor`` of a job request's extras -> (name, settings)."""
    hp = extras.get("hyperparameters") if isinstance(extras.get("hyperparameters"), dict) else extras
    value = (hp or {}).get("executor", "process")
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and len(value) == 1:
        name, settings = next(iter(value.items()))
        return str(name), dict(settings or {})
    raise ProviderError(f"{SETTING}: expected an executor name or {{NAME: {{settings}}}}, got {value!r}")


def executor_for(provider: LocalProvider, choice: tuple[str, dict[str, Any]]) -> Executor:
    name, settings = choice
    try:
        cls = EXECUTORS.get(name)
    except FtspecError as exc:  # the registry's unknown-name line, named by its setting
        raise ProviderError(f"{SETTING}: {exc}") from None
    return cls(provider, settings)
