"""``executor: process`` (the default): the detached worker process on this machine (``worker.py``).

The provider itself watches the worker's pid and signals its process group (``watches_pid``),
as it always has; this executor only starts it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ftspec.providers.local.executors import EXECUTORS, Executor


@EXECUTORS.register("process")
class ProcessExecutor(Executor):
    name: ClassVar[str] = "process"
    watches_pid: ClassVar[bool] = True

    def start(self, job_id: str) -> None:
        self.provider.spawn_worker(job_id)

    def refresh(self, job: dict[str, Any]) -> dict[str, Any]:
        return job  # the provider's pid watch does it

    def cancel(self, job: dict[str, Any]) -> dict[str, Any]:
        return job  # the provider signals the worker's process group
