"""Build state under ``.ftspec/``: per-task state, side-effect receipts, the project lock.

doit keeps its database in memory and writes it only when a run ends, so a SIGKILL loses
everything the run did. ftspec therefore records each task's inputs and outputs itself, and
every paid side effect (an upload, a job) in a receipt, atomically, the moment it happens.
Receipts are keyed by the idempotency key, so they double as the run-cache: a spec reverted
to an earlier revision finds its earlier files, job and model by content.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftspec.project import state_dir
from ftspec.util import atomic_write_json

STATE_VERSION = 1


class State:
    """Task state and receipts of one project root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = state_dir(self.root)

    # ---- per-task state: {"inputs": {...}, "outputs": {...}} ----------------------------------
    def task_path(self, spec_name: str, task: str) -> Path:
        return self.dir / "state" / spec_name / f"{task}.json"

    def task(self, spec_name: str, task: str) -> dict[str, Any] | None:
        return _read(self.task_path(spec_name, task))

    def save_task(self, spec_name: str, task: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        atomic_write_json(self.task_path(spec_name, task),
                          {"state_version": STATE_VERSION, "inputs": inputs, "outputs": outputs})

    # ---- receipts: one file per side effect, named by its idempotency key -----------------
    def receipt_path(self, scope: str, kind: str, key: str) -> Path:
        return self.dir / "receipts" / scope / kind / f"{key}.json"

    def receipt(self, scope: str, kind: str, key: str) -> dict[str, Any] | None:
        return _read(self.receipt_path(scope, kind, key))

    def save_receipt(self, scope: str, kind: str, key: str, data: dict[str, Any]) -> None:
        atomic_write_json(self.receipt_path(scope, kind, key), data)

    def receipts(self, kind: str) -> Iterator[dict[str, Any]]:
        for path in sorted((self.dir / "receipts").glob(f"*/{kind}/*.json")):
            data = _read(path)
            if data is not None:
                yield data

    # ---- logs ------------------------------------------------------------------------------
    def log_path(self, spec_name: str, name: str) -> Path:
        return self.dir / "logs" / spec_name / name

    @property
    def doit_db(self) -> Path:
        return self.dir / "doit.sqlite3"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # a torn file cannot exist (atomic writes), but never crash on one
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def project_lock(root: Path, *, announce=None) -> Iterator[None]:
    """Hold ``.ftspec/build.lock``; a second build on the project waits for the first."""
    from filelock import FileLock, Timeout

    path = state_dir(root) / "build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if announce is not None:
            announce(f"another ftspec build holds {path}; waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so it unwinds like Ctrl-C (state flushed, lock freed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stderr_console():
    from rich.console import Console

    return Console(file=sys.__stderr__, highlight=False, soft_wrap=True)
