"""Experiment tracking for built specs: the build's observer, and ``ftspec track`` (backfill).

A spec is tracked when its ``tracking.<tracker>`` block says so, or, for MLflow, when
``MLFLOW_TRACKING_URI`` is set (``tracking.mlflow.enabled: false`` opts out). After a build,
each spec whose lock is current is handed to its trackers as a ``TrackRecord`` built from what
the build recorded (lockfile, job inputs, the job's events log, eval reports). A marker in
``.ftspec/tracking/`` remembers what was logged where, so a no-op build neither imports the
tracker's SDK nor calls its server. A tracker failing (server down) is a warning; the build's
result and files are never touched by it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError
from ftspec.graph import inputs as inp
from ftspec.graph.tasks import SpecGraph
from ftspec.tracking import TRACKERS, TrackRecord, flatten_metrics
from ftspec.util import atomic_write_json, sha256_file

MAX_MODEL_ARTIFACT = 256 * 1024 * 1024  # a local adapter above this is not copied to the tracker


def enabled_trackers(spec: Any) -> dict[str, dict[str, Any]]:
    """``{tracker name: settings}`` for the trackers this spec reports to."""
    import os

    blocks = dict(spec.raw.get("tracking") or {})
    if "mlflow" not in blocks and os.environ.get("MLFLOW_TRACKING_URI"):
        blocks["mlflow"] = {}
    return {name: dict(cfg or {}) for name, cfg in blocks.items() if (cfg or {}).get("enabled", True)}


class TrackingObserver:
    """Reports each built spec to its trackers after a build (``graph/observers.py``)."""

    def spec_built(self, graph: SpecGraph, echo: Callable[[str], None]) -> None:
        for name, settings in enabled_trackers(graph.spec).items():
            try:
                record = track_record(graph)
                if record is None or _marker(graph, name, settings) == _target(record, settings):
                    continue  # nothing built yet, or already logged there: no import, no call
                run_id = _log(graph, name, settings, record)
                echo(f"{graph.spec.name}: tracked in {name}: run {run_id}")
            except Exception as exc:  # noqa: BLE001 - tracking never fails a build
                echo(f"{graph.spec.name}: warning: {name} tracking failed ({_one_line(exc)}); the build is "
                     f"unaffected; `ftspec track {graph.spec.path.name}` logs it later")


def track(spec_paths: Sequence[str | Path], *, echo: Callable[[str], None] = print) -> dict[str, dict[str, str]]:
    """Backfill: log what each spec's lockfile records to its trackers (``ftspec track``).
    Returns ``{spec: {tracker: run id}}``; a tracker failing here is an error."""
    from ftspec.project import project_root
    from ftspec.spec import load_spec

    out: dict[str, dict[str, str]] = {}
    for path in spec_paths:
        spec = load_spec(path)
        trackers = enabled_trackers(spec)
        if not trackers:
            raise FtspecError(f"{path}: no tracker configured: add tracking: {{mlflow: {{experiment: ...}}}} "
                              "or set MLFLOW_TRACKING_URI")
        graph = SpecGraph(spec, project_root(spec.path), echo=echo)
        try:
            record = track_record(graph, events_from_provider=True)
            if record is None:
                raise FtspecError(f"{path}: nothing built yet (no model in {graph.lock_file.name}); run: ftspec build {path}")
            for name, settings in trackers.items():
                try:
                    run_id = _log(graph, name, settings, record)
                except FtspecError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the tracker's own errors, one line
                    raise FtspecError(f"{spec.name}: {name} tracking failed: {_one_line(exc)}") from None
                out.setdefault(spec.name, {})[name] = run_id
                echo(f"{spec.name}: tracked in {name}: run {run_id}")
        finally:
            graph.close()
    return out


def track_record(graph: SpecGraph, *, events_from_provider: bool = False) -> TrackRecord | None:
    """What the spec's lockfile and build state record, as a tracker's input (None: no model)."""
    from ftspec.errors import LockError
    from ftspec.lockfile import load_lock

    try:
        lock = load_lock(graph.lock_file)
    except LockError:
        return None
    job = lock.get("job") or {}
    if not lock.get("model") or not job.get("key"):
        return None
    spec, root = graph.spec, graph.root
    dataset = lock.get("dataset") or {}
    params: dict[str, Any] = {
        "provider": lock["provider"], "base_model": lock["base_model"], "spec_sha256": lock["spec_sha256"],
        "dataset_sha256": dataset.get("sha256"), "job_id": job.get("id"), "method": spec.job.get("method", "supervised"),
        **{f"examples.{k}": v for k, v in sorted((dataset.get("counts") or {}).items())},
        **{f"hyperparameters.{k}": v for k, v in sorted((job.get("hyperparameters") or {}).items())},
    }
    parent = (lock.get("parent") or {}).get("model")
    if parent:
        params["parent_model"] = parent
    metrics: dict[str, float] = {}
    for name, summary in sorted((lock.get("evals") or {}).items()):
        flatten_metrics(f"eval/{name}", summary, metrics)
    return TrackRecord(
        spec=spec.name, spec_path=_shown(spec.path, root), job_key=job["key"], job_id=str(job.get("id")),
        provider=lock["provider"], base_model=lock["base_model"], model=lock.get("model"),
        lock_sha256=sha256_file(graph.lock_file), params=params,
        history=_history(graph, str(job.get("id")), events_from_provider), metrics=metrics,
        artifacts=_artifacts(graph, lock), model_artifact=_model_files(graph, lock.get("model")),
        parent_model=parent,
    )


def _history(graph: SpecGraph, job_id: str, from_provider: bool) -> list[tuple[str, int, float, int]]:
    """Per-step training and validation loss, as the job reported them (its events log; for a
    backfill without one, the provider's events)."""
    rows: list[dict[str, Any]] = []
    log = graph.state.log_path(graph.spec.name, f"{job_id}.events.jsonl")
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line after a kill
    elif from_provider:
        try:
            rows = [{"type": e.type, "data": e.data, "created_at": e.created_at}
                    for e in graph.provider.list_events(job_id, limit=100_000)]
        except FtspecError:
            rows = []
    seen: dict[tuple[str, int], tuple[str, int, float, int]] = {}
    for row in rows:
        data = row.get("data") or {}
        if row.get("type") != "metrics" or not isinstance(data.get("step"), int):
            continue
        for metric in ("train_loss", "valid_loss"):
            value = data.get(metric)
            if isinstance(value, int | float) and not isinstance(value, bool):
                seen[(metric, data["step"])] = (metric, data["step"], float(value), int(row.get("created_at") or 0) * 1000)
    return sorted(seen.values(), key=lambda r: (r[0], r[1]))


def _artifacts(graph: SpecGraph, lock: dict[str, Any]) -> list[tuple[Path, str]]:
    out = [(graph.lock_file, "ftspec"), (inp.dataset_files(graph.spec, graph.root)["manifest"], "dataset")]
    for summary in (lock.get("evals") or {}).values():
        report = summary.get("report") if isinstance(summary, dict) else None
        if report:
            path = graph.root / report
            out += [(path, "evals"), (path.with_suffix(".html"), "evals")]
    return [(p, folder) for p, folder in out if p.is_file()]


def _model_files(graph: SpecGraph, model: str | None) -> Path | None:
    """A local model's adapter folder, when it is on this machine and small."""
    if graph.spec.provider != "local" or not model:
        return None
    try:
        folder = Path(graph.provider.adapter_path(model))
    except FtspecError:
        return None
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0
    return folder if 0 < size <= MAX_MODEL_ARTIFACT else None


def _log(graph: SpecGraph, name: str, settings: dict[str, Any], record: TrackRecord) -> str:
    run_id = TRACKERS.get(name)().log(record, settings)
    atomic_write_json(_marker_path(graph, name), {"target": _target(record, settings), "run_id": run_id})
    return run_id


def _target(record: TrackRecord, settings: dict[str, Any]) -> str:
    """Where and what was logged: the tracker's address and experiment, the job, the lock bytes."""
    import os

    where = settings.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or ""
    return inp.short({"where": where, "settings": settings, "job": record.job_key, "lock": record.lock_sha256})


def _marker_path(graph: SpecGraph, name: str) -> Path:
    return graph.state.dir / "tracking" / f"{graph.spec.name}.{name}.json"


def _marker(graph: SpecGraph, name: str, settings: dict[str, Any]) -> str | None:
    try:
        return json.loads(_marker_path(graph, name).read_text(encoding="utf-8")).get("target")
    except (OSError, ValueError):
        return None


def _shown(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"//[^/@\s]+@", "//", text)[:300]  # never echo credentials in a URI
