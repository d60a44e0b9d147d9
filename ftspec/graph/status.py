"""``ftspec status``: each task up to date, or stale and why; ``plan_actions`` for ``ftspec plan``.

Read-only: no provider call, nothing written. A stale dataset is rebuilt in memory to learn
whether its bytes (and so the upload and the job) would really change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError
from ftspec.graph import inputs as inp
from ftspec.graph.tasks import SPLITS, SpecGraph, Stale, job_reusable
from ftspec.lockfile import dumps_lock
from ftspec.project import project_root

FRIENDLY = {"template.system": "system prompt", "base_model": "base model"}


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

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "summary": self.summary, "tasks": [t.to_json() for t in self.tasks]}


def _friendly(reason: str) -> str:
    for key, label in FRIENDLY.items():
        if reason.startswith(key + " "):
            return label + reason[len(key):]
    return reason


def spec_status(spec, root: Path | None = None) -> SpecStatus:
    root = root or project_root(spec.path)
    g = SpecGraph(spec, root)
    state = g.state
    name = spec.name
    tasks: list[TaskStatus] = []
    chain: list[str] = []

    # dataset
    rec = state.task(name, "dataset")
    ds_reasons = [_friendly(r) for r in inp.diff_inputs(rec["inputs"] if rec else None, g.dataset_inputs())]
    ds_stale = bool(ds_reasons) or not g.dataset_uptodate()
    if ds_stale and not ds_reasons:
        ds_reasons = ["dataset files missing or edited"]
    new_shas = rec["outputs"]["sha256"] if rec else {}
    new_counts = rec["outputs"]["counts"] if rec else {}
    sha_changed = rec is None
    if ds_stale:
        chain.extend(r.split(" changed")[0] + " changed" if " changed" in r else r for r in ds_reasons[:2])
        try:
            from ftspec.data.pipeline import build_dataset
            from ftspec.providers import spec_token_counter

            with spec_token_counter(spec) as counter:
                result = build_dataset(spec, None, counter=counter)
            new_shas = {s: result.sha256.get(s) for s in SPLITS}
            new_counts = {s: result.counts.get(s, 0) for s in SPLITS}
        except FtspecError as exc:
            ds_reasons.append(f"dataset is invalid: {exc.message.splitlines()[0]}")
            new_shas = {}
        sha_changed = rec is None or new_shas != rec["outputs"]["sha256"]
        if sha_changed:
            chain.append("dataset sha changed")
        else:
            ds_reasons.append("the rebuilt bytes are identical, so nothing downstream changes")
    tasks.append(TaskStatus(f"{name}.dataset", not ds_stale, ds_reasons))

    # upload
    up_rec = state.task(name, "upload")
    wanted = {s: inp.upload_inputs(spec, new_shas[s]) for s in SPLITS if new_shas.get(s)}
    up_stale = up_rec is None or up_rec["inputs"] != wanted
    up_reasons: list[str] = []
    reuse_ids: dict[str, str] = {}
    if up_stale:
        up_reasons.append("never uploaded" if up_rec is None else "dataset sha changed")
        for split, inputs in wanted.items():
            receipt = state.receipt(g.scope, "uploads", inp.idempotency_key(inputs))
            if receipt:
                reuse_ids[split] = receipt["file_id"]
    tasks.append(TaskStatus(f"{name}.upload", not up_stale, up_reasons,
                            reuse=", ".join(reuse_ids.values()) if up_stale and len(reuse_ids) == len(wanted) else None))

    # job
    job_rec = state.task(name, "job")
    file_ids = (up_rec or {}).get("outputs", {}) if not up_stale else reuse_ids
    job_reasons: list[str] = []
    job_reuse = None
    try:
        hp = inp.resolved_hyperparameters(spec, new_counts.get("train", 0))
        current = inp.job_inputs(spec, file_ids, hp)
    except (FtspecError, Stale):
        current = None
    if job_rec is None:
        job_reasons.append("never created")
    else:
        old = job_rec["inputs"]
        if current is not None:
            for reason in inp.diff_inputs(old, current):
                if reason.startswith(("training_file", "validation_file")) and up_stale:
                    continue
                job_reasons.append(reason)
        if up_stale and not reuse_ids:
            job_reasons.insert(0, "training file changes (new upload)")
        elif up_stale:
            job_reasons.insert(0, "training file changed")
        receipt = state.receipt(g.scope, "jobs", job_rec["outputs"]["key"])
        if not job_reasons and receipt is not None and not job_reusable(receipt):
            job_reasons.append(f"last job {receipt.get('status')}: a new one will be created")
    if job_reasons and current is not None and (not up_stale or len(reuse_ids) == len(wanted)):
        receipt = state.receipt(g.scope, "jobs", inp.idempotency_key(current))
        if receipt and job_reusable(receipt):
            job_reuse = f"{receipt['id']} ({receipt.get('status')}) from the run-cache"
    job_stale = bool(job_reasons)
    hp_changes = [r for r in job_reasons if r.startswith("hyperparameters.")]
    if hp_changes and not sha_changed:
        chain.extend(r.split(" changed")[0] + " changed" for r in hp_changes)
    tasks.append(TaskStatus(f"{name}.job", not job_stale, job_reasons, reuse=job_reuse))

    # wait
    wait_rec = state.task(name, "wait")
    wait_reasons = []
    if job_stale:
        wait_reasons.append("never run" if job_rec is None else "job changed")
    elif wait_rec is None or wait_rec["outputs"].get("status") != "succeeded":
        wait_reasons.append("job not finished")
    tasks.append(TaskStatus(f"{name}.wait", not wait_reasons, wait_reasons))

    # evals
    stale_evals = []
    for eval_name in g.eval_names:
        reasons = []
        if wait_reasons:
            reasons.append("model changes")
        else:
            try:
                if not g.eval_uptodate(eval_name):
                    rec_e = state.task(name, f"eval.{eval_name}")
                    reasons.append("never run" if rec_e is None else "eval cases, sampling, scorers or report changed")
            except FtspecError as exc:
                reasons.append(exc.message)
        if reasons:
            stale_evals.append(eval_name)
        tasks.append(TaskStatus(f"{name}.eval.{eval_name}", not reasons, reasons))

    # lock
    lock_reasons = []
    stale_upstream = [t.task.split(".", 1)[1] for t in tasks if not t.uptodate]
    if stale_upstream:
        lock_reasons.append("upstream stale")
    else:
        try:
            if not g.lock_file.is_file() or g.lock_file.read_text(encoding="utf-8") != dumps_lock(g.lock_data()):
                lock_reasons.append("lockfile missing or out of date")
        except (FtspecError, Stale) as exc:
            lock_reasons.append(f"cannot compute lock: {exc}")
    tasks.append(TaskStatus(f"{name}.lock", not lock_reasons, lock_reasons))

    return SpecStatus(name, tasks, _summary(chain, tasks))


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


def plan_actions(spec) -> list[tuple[str, str]]:
    """``[(task, what happens and why)]`` for ``ftspec plan``; a paid step says so."""
    status = spec_status(spec)
    out = []
    for t in status.tasks:
        task = t.task.split(".", 1)[1]
        if t.uptodate:
            out.append((task, "up to date"))
            continue
        why = "; ".join(t.reasons)
        if t.reuse:
            out.append((task, f"reuse {t.reuse} (no cost): {why}"))
        elif task == "job":
            out.append((task, f"run, PAID (the estimated cost above): {why}"))
        elif task == "upload":
            out.append((task, f"run (storage only): {why}"))
        else:
            out.append((task, f"run: {why}"))
    return out
