"""``ftspec status``: each task up to date, or stale and why; ``plan_actions`` for ``ftspec plan``.

Read-only: no provider call, nothing written. The answers come from the one staleness engine
(``SpecGraph.*_check`` in ``tasks.py``) that doit's ``uptodate`` reads too; a stale dataset is
rebuilt in memory to learn whether its bytes (and so the upload and the job) would change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError
from ftspec.graph.tasks import SPLITS, Check, SpecGraph
from ftspec.project import project_root


@dataclass
class TaskStatus:
    task: str
    uptodate: bool
    reasons: list[str] = field(default_factory=list)
    reuse: str | None = None  # what the run-cache would reuse instead of paying again

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "uptodate": self.uptodate, "reasons": self.reasons, "reuse": self.reuse}


@dataclass
class SpecStatus:
    spec: str
    tasks: list[TaskStatus]
    summary: str
    warnings: list[str] = field(default_factory=list)  # shutdown dates close or past
    refused: str | None = None  # why a build would refuse the new job it needs
    keep_deployment: bool = False  # the spec keeps its deployment running after the build

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "summary": self.summary, "tasks": [t.to_json() for t in self.tasks],
                "warnings": self.warnings, "refused": self.refused}


def spec_status(spec, root: Path | None = None, *, dataset: Any | None = None) -> SpecStatus:
    """Each task's ``Check`` from the engine in ``tasks.py``, fed the upstream values a build
    would produce: a stale dataset is rebuilt in memory for its new split hashes (or
    ``dataset``, a ``DatasetResult`` the caller already built, is used)."""
    root = root or project_root(spec.path)
    g = SpecGraph(spec, root)
    name = spec.name
    tasks: list[TaskStatus] = []
    chain: list[str] = []

    def add(task: str, check: Check) -> Check:
        tasks.append(TaskStatus(f"{name}.{task}", check.uptodate, check.reasons, check.reuse))
        return check

    rec = g.state.task(name, "dataset")
    data_check = g.dataset_check()
    shas = rec["outputs"]["sha256"] if rec else {}
    counts = rec["outputs"]["counts"] if rec else {}
    sha_changed = rec is None
    if not data_check.uptodate:
        chain.extend(r.split(" changed")[0] + " changed" if " changed" in r else r for r in data_check.reasons[:2])
        shas, counts, problem = _rebuilt(spec, dataset)
        if problem:
            data_check.reasons.append(problem)
        sha_changed = rec is None or shas != rec["outputs"]["sha256"]
        if sha_changed:
            chain.append("dataset sha changed")
        else:
            data_check.reasons.append("the rebuilt bytes are identical, so nothing downstream changes")
    add("dataset", data_check)

    upload = add("upload", g.upload_check(shas))
    recorded_upload = g.state.task(name, "upload")
    file_ids = recorded_upload["outputs"] if upload.uptodate and recorded_upload else upload.reused
    parent = _parent_check(spec, root)
    if parent is not None and not parent.uptodate:
        chain.append(f"parent '{spec.parent.name}' stale")
    job = add("job", g.job_check(file_ids, counts.get("train", 0), upload, parent))
    if any(r.startswith("parent model") for r in job.reasons):
        chain.append("parent model changed")
    hp_changes = [r for r in job.reasons if r.startswith("hyperparameters.")]
    if hp_changes and not sha_changed:
        chain.extend(r.split(" changed")[0] + " changed" for r in hp_changes)
    wait = add("wait", g.wait_check(job))
    deploy = add("deploy", g.deploy_check(wait)) if g.deploy_needed else None
    for eval_name in g.eval_names:
        add(f"eval.{eval_name}", g.eval_check(eval_name, wait))
    if deploy is not None and not g.keep_deployment:
        add("undeploy", g.undeploy_check(deploy))
    add("lock", g.lock_check(any(not t.uptodate for t in tasks)))
    return SpecStatus(name, tasks, _summary(chain, tasks), *_shutdown(g, job, shas, counts.get("train", 0)),
                      keep_deployment=g.keep_deployment)


def _parent_check(spec, root: Path) -> Check | None:
    """A continued spec's parent: its model stays (up to date) or changes (its own status says
    why); None without a parent."""
    if spec.parent is None:
        return None
    parent = spec_status(spec.parent, root)
    wait = next(t for t in parent.tasks if t.task.endswith(".wait"))
    return Check(True) if wait.uptodate else Check.of([f"parent '{spec.parent.name}': {parent.summary}"])


def _shutdown(g: SpecGraph, job: Check, shas: dict[str, Any], n_train: int) -> tuple[list[str], str | None]:
    """Shutdown warnings for the spec and its locked model, and the refusal a build would meet
    if it needs a new job the provider no longer accepts."""
    from ftspec.data.shutdown import refusal
    from ftspec.spec.loader import display_path

    warnings = g.shutdown_warnings()
    refused = None if job.uptodate else refusal(display_path(g.spec.path), g.spec.base_model, g.spec.provider)
    if refused and g.reusable_job(shas, n_train) is not None:
        refused = None  # the run-cache (receipts or lockfile) has the job: nothing new to create
    return warnings, refused


def _rebuilt(spec, result: Any | None) -> tuple[dict[str, Any], dict[str, int], str | None]:
    """Split hashes and counts of the dataset as a build would make it now (in memory)."""
    from ftspec.data.pipeline import build_dataset
    from ftspec.providers import spec_token_counter

    if result is None:
        try:
            with spec_token_counter(spec) as counter:
                result = build_dataset(spec, None, counter=counter)
        except FtspecError as exc:
            return {}, {}, f"dataset is invalid: {exc.message.splitlines()[0]}"
    return ({s: result.sha256.get(s) for s in SPLITS}, {s: result.counts.get(s, 0) for s in SPLITS}, None)


def _summary(chain: list[str], tasks: list[TaskStatus]) -> str:
    stale = [t.task.split(".", 1)[1] for t in tasks if not t.uptodate and t.task.split(".", 1)[1] != "lock"]
    if not stale:
        return "up to date"
    groups = []
    for task in stale:
        label = "evals" if task.startswith("eval.") else task
        if label not in groups and label not in ("dataset", "wait"):
            groups.append(label)
    tail = f"{', '.join(groups)} stale" if groups else "stale"
    return " -> ".join([*dict.fromkeys(chain), tail]) if chain else tail


def plan_actions(spec, *, dataset: Any | None = None) -> list[tuple[str, str]]:
    """``[(task, what happens and why)]`` for ``ftspec plan``; a paid step says so. ``dataset``:
    the plan's own in-memory build, so the dataset is built once."""
    status = spec_status(spec, dataset=dataset)
    refused = status.refused
    out = []
    for t in status.tasks:
        task = t.task.split(".", 1)[1]
        if t.uptodate:
            out.append((task, "up to date"))
            continue
        why = "; ".join(t.reasons)
        if t.reuse:
            out.append((task, f"reuse {t.reuse} (no cost): {why}"))
        elif task == "job" and refused:
            out.append((task, f"REFUSED: {refused}"))
        elif task == "job":
            out.append((task, f"run, PAID (the estimated cost above): {why}"))
        elif task == "upload":
            out.append((task, f"run (storage only): {why}"))
        elif task == "dataset" and _pending_calls(dataset):
            out.append((task, f"run, PAID ({_pending_calls(dataset)} model call(s), the model calls above): {why}"))
        elif task == "deploy":
            out.append((task, f"run, PAID (a deployment bills while it runs; "
                              f"{'kept' if status.keep_deployment else 'removed after the evals'}): {why}"))
        else:
            out.append((task, f"run: {why}"))
    return out


def _pending_calls(dataset: Any | None) -> int:
    """Model calls (extract, distill, moderate) the dataset build would make and pay for."""
    generated = (dataset.manifest.get("generated") or {}) if dataset is not None else {}
    return sum(int(b.get("pending", 0)) for b in generated.values())
