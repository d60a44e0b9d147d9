"""Run a spec's eval sets against a model, outside a build: the library behind ``ftspec eval``.

The CLI and ``ftspec.evaluate`` both call :func:`evaluate`; the CLI only prints the result and
turns gate failures into its exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError


@dataclass
class Evaluation:
    """What one ``evaluate`` call ran: the model, one summary per eval set, the failed gates."""

    spec_name: str
    model: str
    summaries: dict[str, dict[str, Any]]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def selected_evals(spec, name: str | None) -> list[dict[str, Any]]:
    """The spec's eval sets, or just the one named; a located error when there is none."""
    from ftspec.evals.runner import find_eval

    if not spec.evals:
        raise EvalError(f"{spec.path.name}: the spec has no evals")
    return [spec.evals[find_eval(spec, name)]] if name else list(spec.evals)


def evaluate(spec, *, eval_name: str | None = None, model: str | None = None,
             progress_echo: Callable[[str], None] | None = None) -> Evaluation:
    """Run ``spec``'s eval sets (a loaded Spec or a path) against ``model`` (default: the
    lockfile's model); write reports/<spec>/<eval>.json and .html; return the summaries.

    Gate failures (``min_pass_rate``) are returned in ``Evaluation.failures``, not raised, so a
    caller can report every eval before deciding what a failure means to it. ``progress_echo``:
    where each set's throttled progress line goes (``generate.ProgressLine``); default none.
    """
    from ftspec.evals.generate import ProgressLine
    from ftspec.evals.runner import gate_failures, run_eval_set
    from ftspec.project import project_root
    from ftspec.providers import provider_for_spec

    label = spec.path if hasattr(spec, "evals") else Path(spec)  # errors name the path as given
    if not hasattr(spec, "evals"):
        from ftspec.spec.loader import load_spec

        spec = load_spec(label)
    selected = selected_evals(spec, eval_name)
    lock = lock_of(spec)
    model = model or lock.get("model")
    if not model:
        raise EvalError(f"{label}: no model to evaluate (the lockfile names none); "
                        f"pass --model ID or run: ftspec build {label}")
    root = project_root(spec.path)
    provider = provider_for_spec(spec, project_root=root)
    try:
        # The loss curve belongs to the lockfile's model only; another model id has no job here.
        events = _events(provider, lock) if model == lock.get("model") else []
        summaries = {ev["name"]: run_eval_set(
            spec, ev, model, provider, project_root=root, events=events,
            progress=ProgressLine(progress_echo, f"{spec.name}: eval '{ev['name']}'") if progress_echo else None)
            for ev in selected}
    finally:
        provider.close()
    return Evaluation(spec.name, model, summaries, gate_failures(spec.name, summaries))


def lock_of(spec) -> dict[str, Any]:
    """The spec's lockfile, or {} before its first build."""
    from ftspec.lockfile import load_lock, lock_path

    path = lock_path(spec.path)
    return load_lock(path) if path.is_file() else {}


def _events(provider, lock: dict[str, Any]) -> list[Any]:
    """The training job's metrics for the loss curve, when the provider still has them."""
    job_id = (lock.get("job") or {}).get("id")
    if not job_id:
        return []
    try:
        return provider.list_events(job_id, limit=10000)
    except Exception:  # noqa: BLE001 - the curve is optional; the eval is not
        return []
