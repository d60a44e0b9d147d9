"""Experiment trackers a build reports to (one module per tracker, registered by name).

A tracker takes a ``TrackRecord`` (plain data the graph assembles from a finished spec: the
lockfile, the job's parameters and loss history, eval metrics, artifact files) and logs it,
idempotently: one run per job idempotency key, so logging the same record twice, or again after
a crash, makes no second run. This layer sits between evals and graph: it knows nothing of
doit, state or receipts, and imports its tracker's SDK only when it logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ftspec.registry import Registry


@dataclass
class TrackRecord:
    spec: str  # the spec's name
    spec_path: str  # shown from the project root
    job_key: str  # the job's idempotency key: one run per key
    job_id: str
    provider: str
    base_model: str
    model: str | None
    lock_sha256: str  # the lockfile's bytes: a run is complete when it carries this
    params: dict[str, Any]
    history: list[tuple[str, int, float, int]] = field(default_factory=list)  # (metric, step, value, ms)
    metrics: dict[str, float] = field(default_factory=dict)  # eval metrics, flattened
    artifacts: list[tuple[Path, str]] = field(default_factory=list)  # (file or folder, artifact dir)
    model_artifact: Path | None = None  # the model's files (a local adapter), when small enough
    parent_model: str | None = None  # continued training: the model this one was trained from
    tags: dict[str, str] = field(default_factory=dict)


class Tracker(Protocol):
    name: str

    def log(self, record: TrackRecord, settings: Mapping[str, Any]) -> str:
        """Log ``record`` (idempotently); returns the run id."""
        ...


TRACKERS: Registry[type[Tracker]] = Registry("tracker", "ftspec.tracking")


def flatten_metrics(prefix: str, value: Any, out: dict[str, float]) -> None:
    """Numeric leaves of a nested summary as ``prefix/key/...`` (booleans and text skipped)."""
    if isinstance(value, Mapping):
        for key in sorted(value):
            flatten_metrics(f"{prefix}/{key}", value[key], out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix] = float(value)
