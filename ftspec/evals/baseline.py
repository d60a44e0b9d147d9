"""Recorded ("golden") baselines: a model's answers to a spec's eval sets, frozen in the repo.

``ftspec eval SPEC --record-baseline`` runs every eval set against the live model and writes
``baselines/<spec>.json``: the model id, the day it was recorded, each set's sampling and
scorers, every output and every score. A spec that names the file (``baseline:``, written by
``ftspec migrate``) compares with those answers in its eval report and in ``ftspec diff``
without calling the model that gave them, so the comparison outlives a model that is shut down.

Cost and crashes: every generation goes through the eval cache (``ftspec.evals.cache``), which
commits each answer as it arrives, so a rerun after a crash asks only for the cases not yet
answered. The file is written once, atomically, from the finished runs; its bytes depend only
on the answers (no latencies, no clock but the day), so a resumed recording is byte-identical to
an uninterrupted one, and recording again with nothing changed rewrites nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError
from ftspec.util import atomic_write_text

BASELINE_VERSION = 1
# per-run fields that are measurements of the moment, not the model's answer
_UNSTABLE = ("latency_s",)


class BaselineError(EvalError):
    """A baseline file that is missing, not JSON, or not a baseline."""


@dataclass
class Recorded:
    path: Path
    model: str
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_generations: int = 0
    changed: bool = True
    rel: str = ""  # the path relative to the project root, as shown and as a spec names it


def baseline_path(project_root: Path, spec_name: str) -> Path:
    return Path(project_root) / "baselines" / f"{spec_name}.json"


def dumps_baseline(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def load_baseline(path: Path) -> dict[str, Any]:
    """Parse and check a baseline file; a located one-line error otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}:{exc.colno}: baseline is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("ftspec_baseline") != BASELINE_VERSION:
        raise BaselineError(f"{path}: not an ftspec baseline (version {BASELINE_VERSION}); "
                            "record one with: ftspec eval SPEC --record-baseline")
    for key in ("model", "evals"):
        if key not in data:
            raise BaselineError(f"{path}: baseline is missing '{key}'")
    return data


def recorded_runs(baseline: dict[str, Any], eval_name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(case id, variant) -> recorded run`` of one eval set ({} when the set was not recorded)."""
    ev = (baseline.get("evals") or {}).get(eval_name) or {}
    return {(case["id"], run["variant"]): run for case in ev.get("cases") or [] for run in case.get("results") or []}


def record_baseline(spec, *, eval_name: str | None = None, model: str | None = None,
                    progress: Any = None) -> Recorded:
    """Run ``spec``'s eval sets (all, or ``eval_name``; ``build: false`` ones too) against its
    locked model (or ``model``) and write the baseline file. Returns what was recorded."""
    from ftspec.evals.evaluate import lock_of, selected_evals
    from ftspec.evals.runner import EvalRun
    from ftspec.project import project_root
    from ftspec.providers import provider_for_spec

    label = spec.path if hasattr(spec, "evals") else Path(spec)
    if not hasattr(spec, "evals"):
        from ftspec.spec.loader import load_spec

        spec = load_spec(label)
    selected = selected_evals(spec, eval_name)
    model = model or lock_of(spec).get("model")
    if not model:
        raise EvalError(f"{label}: no model to record a baseline of (the lockfile names none); "
                        f"build or adopt the model first, or pass --model ID")
    root = project_root(spec.path)
    path = baseline_path(root, spec.name)
    out = Recorded(path=path, model=model, rel=path.relative_to(root).as_posix())
    sets: dict[str, Any] = {}
    provider = provider_for_spec(spec, project_root=root)
    try:
        for ev in selected:
            run = EvalRun(spec, ev, model, provider, project_root=root, progress=progress)
            summary = run.run()
            out.new_generations += run.new_generations
            report = json.loads((root / summary["report"]).read_text(encoding="utf-8"))
            sets[ev["name"]] = _frozen(report)
            out.summaries[ev["name"]] = summary
    finally:
        provider.close()
    out.changed = _write(path, spec, model, sets, merge=eval_name is not None)
    return out


def _frozen(report: dict[str, Any]) -> dict[str, Any]:
    """One eval set as recorded: the report's answers and scores, minus what is not the model's
    (latencies; baseline rows of other models; the training curve)."""
    cases = []
    for case in report["cases"]:
        row = {k: v for k, v in case.items() if k != "baseline"}
        row["results"] = [{k: v for k, v in r.items() if k not in _UNSTABLE} for r in case["results"]]
        cases.append(row)
    summary = {k: v for k, v in report["summary"].items() if k not in ("baseline", "parity", "gate")}
    return {"description": report.get("description", ""), "sampling": report.get("sampling") or {},
            "matrix": report.get("matrix") or {}, "variants": report.get("variants") or [],
            "scorers": report.get("scorers") or [], "summary": summary, "cases": cases}


def _write(path: Path, spec, model: str, sets: dict[str, Any], *, merge: bool) -> bool:
    """Write atomically; keep the recorded day (and every byte) when the answers are unchanged."""
    old = None
    if path.is_file():
        try:
            old = load_baseline(path)
        except BaselineError:
            old = None
    if merge and old is not None and old.get("model") == model:
        sets = {**old["evals"], **sets}
    data = {"ftspec_baseline": BASELINE_VERSION, "spec": spec.name, "provider": spec.provider,
            "base_model": spec.base_model, "model": model, "evals": sets}
    if old is not None and {k: v for k, v in old.items() if k != "recorded_on"} == data:
        return False
    data["recorded_on"] = datetime.now(UTC).date().isoformat()
    atomic_write_text(path, dumps_baseline(data))
    return True
