"""One spec compiled into doit tasks: dataset -> upload -> job -> wait -> evals -> lock.

A provider whose fine-tunes answer only once deployed (``Capabilities.deployment``: Fireworks)
gets ``wait -> deploy -> evals -> undeploy -> lock``: the deployment (billed while it runs) is
its own task with its own receipt (``receipts/<scope>/deployments/<key>.json``, written the
moment the provider answers), made only when an eval needs the model served or the spec keeps
it (``providers.<p>.deployment.keep``), and removed after the evals unless kept. ``close()``
removes one this build started if an eval failed or the build was interrupted; after a SIGKILL
the receipt remains and ``ftspec gc`` lists the deployment (no lockfile names it).

The staleness engine: each task has one ``*_check`` method answering "up to date? if not, why,
and what can be reused?" (a ``Check``) from its inputs (``inputs.py``) and the state recorded by
its last success. doit's ``uptodate`` reads that answer when doit reaches the task (after its
upstream ran, so upstream values are the recorded ones); ``ftspec status`` reads the same
answers with the upstream values a rebuild would produce (``status.py``). Actions record their
state atomically the moment they finish, and every paid side effect writes a receipt first
thing after the provider answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from ftspec.errors import FtspecError, JobFailedError
from ftspec.graph import inputs as inp
from ftspec.graph.state import State
from ftspec.lockfile import dumps_lock, lock_from_build, lock_path, write_lock
from ftspec.providers.base import JobRequest
from ftspec.spec.model import Spec
from ftspec.util import sha256_file

SPLITS = ("train", "validation")
FRIENDLY = {"template.system": "system prompt", "base_model": "base model", "parent_model": "parent model"}


@dataclass
class Check:
    """One task's answer: up to date, or stale with the reasons, and what could be reused."""

    uptodate: bool
    reasons: list[str] = field(default_factory=list)
    reuse: str | None = None  # what the run-cache would reuse instead of paying again
    reused: dict[str, Any] = field(default_factory=dict)  # e.g. split -> file id found in receipts

    @classmethod
    def of(cls, reasons: list[str], **kw: Any) -> Check:
        return cls(not reasons, reasons, **kw)


def friendly(reason: str) -> str:
    for key, label in FRIENDLY.items():
        if reason.startswith(key + " "):
            return label + reason[len(key):]
    return reason


def job_reusable(receipt: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """The one reuse rule: a recorded job is reused unless it failed or was cancelled."""
    return receipt is not None and receipt.get("status") not in ("failed", "cancelled")


class SpecGraph:
    """The tasks of one spec, their checks and their actions."""

    def __init__(self, spec: Spec, root: Path, *, echo: Callable[[str], None] = print,
                 live: bool = False, pull: bool = True) -> None:
        self.spec = spec
        self.pull = pull  # pull a locked model from a remote instead of retraining it
        self.root = Path(root)
        self.state = State(self.root)
        self.echo = echo
        self.live = live
        self.errors: list[Exception] = []
        self._provider = None
        self.scope = inp.provider_scope(spec)
        self.files = inp.dataset_files(spec, self.root)
        self.deploys = _needs_deployment(spec.provider)
        self.keep_deployment = bool((spec.provider_settings.get("deployment") or {}).get("keep", False))
        self._started: list[dict[str, Any]] = []  # deployments this run used (close() removes unkept ones)
        self.report_name = spec.name  # reports/<report_name>/ (a sweep variant's is its own)
        self.after: list[str] = []  # other specs' tasks the job waits for (a parent's lock)

    # ---- names ----------------------------------------------------------------------------
    def name(self, task: str) -> str:
        return f"{self.spec.name}.{task}"

    @property
    def eval_names(self) -> list[str]:
        # ``build: false`` sets run only by ``ftspec eval`` (an adopted model's: adopting spends nothing)
        return [e["name"] for e in self.spec.evals if e.get("build", True)]

    @property
    def provider(self):
        if self._provider is None:
            from ftspec.providers import provider_for_spec

            self._provider = provider_for_spec(self.spec, project_root=self.root)
        return self._provider

    def close(self) -> None:
        try:
            self._teardown_started()
        finally:
            if self._provider is not None:
                self._provider.close()

    def _teardown_started(self) -> None:
        """A deployment this run used and does not keep is never left running: an eval that
        failed or an interrupt skipped the undeploy task, so remove it here."""
        for receipt in self._started:
            current = self.state.receipt(self.scope, "deployments", receipt["key"]) or receipt
            if self.keep_deployment or current.get("status") == "deleted":
                continue
            try:
                self._undeploy(current)
            except Exception as exc:  # noqa: BLE001 - report it, and gc still lists it
                self.echo(f"{self.spec.name}: warning: deployment {current['id']} is still running and "
                          f"billed ({exc}); `ftspec gc --yes` removes it")
        self._started = []

    @property
    def deploy_needed(self) -> bool:
        """A deploy task exists: the provider serves fine-tunes only on deployments, and an eval
        needs the model served or the spec keeps a deployment."""
        return self.deploys and (bool(self.eval_names) or self.keep_deployment)

    # ---- doit task dicts --------------------------------------------------------------------
    def task_dicts(self) -> list[dict[str, Any]]:
        chain = [("dataset", self.run_dataset, self.dataset_uptodate),
                 ("upload", self.run_upload, self.upload_uptodate),
                 ("job", self.run_job, self.job_uptodate),
                 ("wait", self.run_wait, self.wait_uptodate)]
        out, previous = [], None
        for task, action, check in chain:
            out.append(self._task(task, action, check, [previous] if previous else []))
            previous = task
        out[2]["task_dep"] += self.after  # the job trains from the parent's model: built first
        served_by = "wait"
        if self.deploy_needed:
            out.append(self._task("deploy", self.run_deploy, self.deploy_uptodate, ["wait"]))
            served_by = "deploy"
        for name in self.eval_names:
            out.append(self._task(f"eval.{name}", _bind(self.run_eval, name),
                                  _bind(self.eval_uptodate, name), [served_by]))
        before_lock = ["wait", *[f"eval.{n}" for n in self.eval_names]]
        if self.deploy_needed and not self.keep_deployment:
            out.append(self._task("undeploy", self.run_undeploy, self.undeploy_uptodate,
                                  ["deploy", *[f"eval.{n}" for n in self.eval_names]]))
            before_lock.append("undeploy")
        out.append(self._task("lock", self.run_lock, self.lock_uptodate, before_lock))
        return out

    def _task(self, task: str, action, check, deps: list[str]) -> dict[str, Any]:
        return {
            "name": self.name(task),
            "actions": [(self._guard(action), [], {})],
            "uptodate": [_check(check)],
            "task_dep": [self.name(d) for d in deps],
            "verbosity": 2,
            "doc": f"{task} of spec {self.spec.name}",
        }

    def _guard(self, action):
        """Errors become quiet doit failures; the build re-raises them as they were, so the
        CLI prints one clean line (or, for a bug, its usual internal-error report)."""
        from doit.exceptions import TaskFailed

        def run():
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - handed back to build() unchanged
                self.errors.append(exc)
                return TaskFailed(str(exc), report=False)
            return None

        return run

    # ---- dataset ----------------------------------------------------------------------------
    def dataset_inputs(self) -> dict[str, Any]:
        return inp.dataset_inputs(self.spec, self.root)

    def dataset_check(self) -> Check:
        recorded = self.state.task(self.spec.name, "dataset")
        reasons = [friendly(r) for r in inp.diff_inputs(recorded["inputs"] if recorded else None,
                                                        self.dataset_inputs())]
        if not reasons and recorded is not None:
            shas = recorded["outputs"]["sha256"]
            if not all(shas.get(s) is None or (self.files[s].is_file() and sha256_file(self.files[s]) == shas[s])
                       for s in SPLITS):
                reasons = ["dataset files missing or edited"]
        return Check.of(reasons)

    def dataset_uptodate(self) -> bool:
        return self.dataset_check().uptodate

    def run_dataset(self) -> None:
        from ftspec.data.pipeline import build_dataset

        inputs = self.dataset_inputs()
        from ftspec.providers import spec_token_counter
        from ftspec.providers.models import spec_models

        # the model steps' calls are paid here: the plan (``ftspec plan``) priced them
        with spec_token_counter(self.spec) as counter, spec_models(self.spec) as models:
            result = build_dataset(self.spec, self.files["manifest"].parent, counter=counter, models=models)
        tokens = result.manifest.get("tokens", {})
        outputs: dict[str, Any] = {
            "dataset_sha256": result.dataset_sha256,
            "sha256": {s: result.sha256.get(s) for s in SPLITS},
            "counts": {s: result.counts.get(s, 0) for s in SPLITS},
            "tokens": {s: (tokens.get(s) or {}).get("total", 0) for s in SPLITS},
        }
        self.state.save_task(self.spec.name, "dataset", inputs, outputs)
        for warning in result.warnings:
            self.echo(f"{self.spec.name}: warning: {warning}")
        self.echo(f"{self.spec.name}: dataset {result.dataset_sha256[:12]} "
                  f"({outputs['counts']['train']} train, {outputs['counts']['validation']} validation)")

    def _dataset_out(self) -> dict[str, Any]:
        recorded = self.state.task(self.spec.name, "dataset")
        if recorded is None:
            raise Stale("dataset not built")
        return recorded["outputs"]

    # ---- upload -----------------------------------------------------------------------------
    def upload_inputs(self, shas: dict[str, Any] | None = None) -> dict[str, Any]:
        shas = self._dataset_out()["sha256"] if shas is None else shas
        return {s: inp.upload_inputs(self.spec, sha) for s in SPLITS if (sha := shas.get(s))}

    def upload_check(self, shas: dict[str, Any]) -> Check:
        """For the dataset split hashes ``shas``; a stale upload says which files the receipts
        already hold (``reused``), so no second upload is paid."""
        recorded = self.state.task(self.spec.name, "upload")
        wanted = self.upload_inputs(shas)
        gone = self._local_uploads_missing(wanted)
        if recorded is not None and recorded["inputs"] == wanted and not gone:
            return Check(True)
        reused = {}
        for split, inputs in wanted.items():
            receipt = self.state.receipt(self.scope, "uploads", inp.idempotency_key(inputs))
            if receipt and split not in gone:
                reused[split] = receipt["file_id"]
        complete = len(reused) == len(wanted)
        why = ("never uploaded" if recorded is None else "dataset sha changed" if recorded["inputs"] != wanted
               else f"uploaded files missing on this machine ({', '.join(gone)})")
        return Check(False, [why], reuse=", ".join(reused.values()) if complete else None, reused=reused)

    def _local_uploads_missing(self, wanted: dict[str, Any]) -> list[str]:
        """Splits whose upload a provider on this machine (local) no longer holds (a cleaned
        store, another user): its receipt then names nothing, so it is uploaded again."""
        from ftspec.artifacts.sync import has_model_kind

        if not has_model_kind(self.spec):
            return []
        return [split for split, inputs in wanted.items()
                if self.provider.find_file(inp.idempotency_key(inputs)) is None]

    def upload_uptodate(self) -> bool:
        return self.upload_check(self._dataset_out()["sha256"]).uptodate

    def run_upload(self) -> None:
        inputs = self.upload_inputs()
        outputs = {s: self._upload_one(s, inputs[s]) for s in SPLITS if s in inputs}
        self.state.save_task(self.spec.name, "upload", inputs, outputs)

    def _upload_one(self, split: str, inputs: dict[str, Any]) -> str:
        key = inp.idempotency_key(inputs)
        receipt = self.state.receipt(self.scope, "uploads", key)
        if receipt is not None and self._local_uploads_missing({split: inputs}):
            receipt = None  # the receipt names a file this machine's store lost
        if receipt is not None:
            self.echo(f"{self.spec.name}: {split} file already uploaded: {receipt['file_id']}")
            return receipt["file_id"]
        locked = self._locked_file(split, inputs["sha256"])
        found = locked or self.provider.find_file(key)
        if locked is not None:
            self.echo(f"{self.spec.name}: {split} file recorded in {self.lock_file.name}: {locked.id} (reused)")
            remote = locked
        elif found is not None:
            self.echo(f"{self.spec.name}: {split} file found on {self.spec.provider}: {found.id} (reused)")
            remote = found
        else:
            self._refuse_closed_provider()  # a new file means a new job: refuse before paying
            remote = self.provider.upload(self.files[split], idempotency_key=key)
            self.echo(f"{self.spec.name}: uploaded {split} -> {remote.id}")
        self.state.save_receipt(self.scope, "uploads", key, {
            "key": key, "file_id": remote.id, "filename": remote.filename, "bytes": remote.bytes,
            "sha256": inputs["sha256"], "provider": self.spec.provider, "spec": self.spec.name, "split": split,
        })
        return remote.id

    # ---- the committed lockfile as a run-cache ------------------------------------------------
    # A fresh clone has no receipts. Its lockfile still says which file and job these exact
    # inputs made (the job key covers the endpoint, files, hyperparameters), so they are reused
    # instead of paid for again; this is also what makes an adopted job (``ftspec adopt``),
    # whose file names and metadata ftspec never chose, safe to build on any clone. Not for a
    # provider whose files and models live on this machine (local): a clone's store lacks the
    # ids the lock names, so those come from a remote (``artifacts.sync``) or are made again.
    def _locked(self) -> dict[str, Any] | None:
        from ftspec.artifacts.sync import has_model_kind
        from ftspec.errors import LockError
        from ftspec.lockfile import load_lock

        if not self.lock_file.is_file() or has_model_kind(self.spec):
            return None
        try:
            lock = load_lock(self.lock_file)
        except LockError:
            return None
        return lock if lock.get("provider") == self.spec.provider else None

    def _locked_file(self, split: str, sha: str):
        from ftspec.providers.base import RemoteFile

        lock = self._locked()
        if lock is None or (lock.get("dataset") or {}).get("files", {}).get(split) != sha:
            return None
        file_id = (lock.get("files") or {}).get(split)
        return RemoteFile(id=file_id, filename="", bytes=0, purpose="fine-tune", created_at=0) if file_id else None

    def _locked_job(self, key: str):
        from ftspec.providers.base import Job

        lock = self._locked() or {}
        job = lock.get("job") or {}
        if job.get("key") != key or job.get("status") != "succeeded" or not lock.get("model"):
            return None
        return Job(id=job["id"], status="succeeded", model=self.spec.base_model, fine_tuned_model=lock["model"],
                   trained_tokens=job.get("trained_tokens"), hyperparameters=dict(job.get("hyperparameters") or {}))

    def reusable_job(self, shas: dict[str, Any], n_train: int) -> str | None:
        """The job a build would reuse for these dataset split hashes instead of creating one
        (from the receipts or the committed lockfile; no provider call), or None."""
        file_ids: dict[str, Any] = {}
        for split, inputs in self.upload_inputs(shas).items():
            receipt = self.state.receipt(self.scope, "uploads", inp.idempotency_key(inputs))
            locked = self._locked_file(split, inputs["sha256"])
            file_ids[split] = receipt["file_id"] if receipt else (locked.id if locked else None)
        if not file_ids or None in file_ids.values():
            return None
        try:
            key = inp.idempotency_key(inp.job_inputs(self.spec, file_ids,
                                                     inp.resolved_hyperparameters(self.spec, n_train),
                                                     self.parent_model()))
        except (FtspecError, Stale):
            return None
        receipt = self.state.receipt(self.scope, "jobs", key)
        if job_reusable(receipt):
            return str(receipt["id"])
        locked = self._locked_job(key)
        return locked.id if locked else None

    def shutdown_warnings(self) -> list[str]:
        """Warnings when this spec's base model or its locked fine-tune shuts down, or its
        provider stops taking new jobs, within 90 days (``ftspec.data.shutdown``)."""
        from ftspec.data.shutdown import shutdown_warnings
        from ftspec.errors import LockError
        from ftspec.lockfile import load_lock
        from ftspec.spec.loader import display_path

        try:
            model = load_lock(self.lock_file).get("model") if self.lock_file.is_file() else None
        except LockError:
            model = None
        return shutdown_warnings(display_path(self.spec.path), self.spec.base_model, self.spec.provider,
                                 model=model)

    def _refuse_closed_provider(self) -> None:
        """Before the first paid step of a new job (an upload, then the job itself): refuse when
        the provider no longer accepts jobs on this base model, so nothing is spent."""
        from ftspec.data.shutdown import ensure_accepts_jobs
        from ftspec.spec.loader import display_path

        ensure_accepts_jobs(display_path(self.spec.path), self.spec.base_model, self.spec.provider)

    # ---- job --------------------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        return inp.resolved_hyperparameters(self.spec, self._dataset_out()["counts"]["train"])

    def job_inputs(self) -> dict[str, Any]:
        recorded = self.state.task(self.spec.name, "upload")
        if recorded is None:
            raise Stale("nothing uploaded")
        return inp.job_inputs(self.spec, recorded["outputs"], self.hyperparameters(), self.parent_model())

    def parent_model(self) -> str | None:
        """The model a continued spec trains further: what its parent's lockfile records (None
        without a parent). Stale while the parent has no model."""
        from ftspec.errors import LockError
        from ftspec.lockfile import load_lock

        parent = self.spec.parent
        if parent is None:
            return None
        try:
            model = load_lock(lock_path(parent.path)).get("model")
        except LockError:
            model = None
        if not model:
            raise Stale(f"parent spec '{parent.name}' has no model yet")
        return str(model)

    def job_check(self, file_ids: dict[str, Any], n_train: int, upload: Check,
                  parent: Check | None = None) -> Check:
        """For the uploaded (or reusable) ``file_ids`` and ``n_train`` training examples;
        ``parent``: whether a continued spec's parent model stays as its lockfile says."""
        recorded = self.state.task(self.spec.name, "job")
        try:
            current = inp.job_inputs(self.spec, file_ids, inp.resolved_hyperparameters(self.spec, n_train),
                                     self.parent_model())
        except (FtspecError, Stale):
            current = None
        reasons: list[str] = []
        if parent is not None and not parent.uptodate:
            reasons.append(f"parent model changes ({'; '.join(parent.reasons)})")
        if recorded is None:
            reasons.append("never created")
        else:
            if current is not None:
                reasons += [r.replace("parent_model ", "parent model ", 1)
                            for r in inp.diff_inputs(recorded["inputs"], current)
                            if upload.uptodate or not r.startswith(("training_file", "validation_file"))]
            elif upload.uptodate:
                reasons.append("job inputs cannot be computed")
            if not upload.uptodate:
                reasons.insert(0, "training file changed" if upload.reused else "training file changes (new upload)")
            receipt = self.state.receipt(self.scope, "jobs", recorded["outputs"]["key"])
            if not reasons and receipt is not None and not job_reusable(receipt):  # a failed job is retried
                reasons.append(f"last job {receipt.get('status')}: a new one will be created")
            missing = self.model_missing()
            if missing:
                reasons.append(missing)
        reuse = None
        if reasons and current is not None and (upload.uptodate or upload.reuse is not None) \
                and (parent is None or parent.uptodate) and not self.model_missing():
            receipt = self.state.receipt(self.scope, "jobs", inp.idempotency_key(current))
            if receipt and job_reusable(receipt):
                reuse = f"{receipt['id']} ({receipt.get('status')}) from the run-cache"
        return Check.of(reasons, reuse=reuse)

    def job_uptodate(self) -> bool:
        recorded = self.state.task(self.spec.name, "upload")
        if recorded is None:
            raise Stale("nothing uploaded")
        return self.job_check(recorded["outputs"], self._dataset_out()["counts"]["train"], Check(True)).uptodate

    def run_job(self) -> None:
        inputs = self.job_inputs()
        key = inp.idempotency_key(inputs)
        receipt = self.state.receipt(self.scope, "jobs", key)
        if job_reusable(receipt) and not self.model_missing():
            self.echo(f"{self.spec.name}: job already created: {receipt['id']} ({receipt.get('status')})")
            job_id = receipt["id"]
        else:  # pulls a missing local model from a remote, or trains it again
            job_id = self._create_job(key, inputs)
        self.state.save_task(self.spec.name, "job", inputs, {"id": job_id, "key": key})

    def _create_job(self, key: str, inputs: dict[str, Any]) -> str:
        from ftspec.artifacts.sync import restore_model

        restore_model(self.spec, self.root, self.provider, key, pull_enabled=self.pull, echo=self.echo)
        locked = self._locked_job(key)
        found = locked or self.provider.find_job(key)
        if locked is not None:
            self.echo(f"{self.spec.name}: job recorded in {self.lock_file.name}: {locked.id} (reused)")
            job = locked
        elif found is not None:
            self.echo(f"{self.spec.name}: job found on {self.spec.provider}: {found.id} ({found.status}, reused)")
            job = found
        else:
            self._refuse_closed_provider()
            for line in self.provider.preflight(self.spec, self.files["train"]):
                self.echo(f"{self.spec.name}: {line}")
            job = self.provider.create_job(self._job_request(key, inputs))
            self.echo(f"{self.spec.name}: created job {job.id}")
        self.state.save_receipt(self.scope, "jobs", key, {
            "key": key, "id": job.id, "status": job.status, "spec": self.spec.name,
            "provider": self.spec.provider, "base_model": self.spec.base_model,
            "fine_tuned_model": job.fine_tuned_model, "trained_tokens": job.trained_tokens,
            "hyperparameters": job.hyperparameters,
        })
        return job.id

    def _job_request(self, key: str, inputs: dict[str, Any]) -> JobRequest:
        job = self.spec.job
        hp = {k[len("hyperparameters."):]: v for k, v in inputs.items() if k.startswith("hyperparameters.")}
        raw_hp = self.spec.hyperparameters
        extras: dict[str, Any] = {
            "hyperparameters": dict((self.spec.raw.get("hyperparameters") or {}).get(self.spec.provider) or {}),
        }
        return JobRequest(
            model=self.spec.base_model, training_file=inputs["training_file"], idempotency_key=key,
            validation_file=inputs["validation_file"], hyperparameters=hp,
            requested_hyperparameters={k: raw_hp.get(k) for k in hp},
            method=inputs["method"], suffix=inputs["suffix"], seed=inputs["seed"],
            metadata={**(job.get("metadata") or {}), "ftspec_spec": self.spec.name},
            integrations=list(job.get("integrations") or []), extras=extras,
            continue_from=inputs.get("parent_model"),
        )

    def model_missing(self) -> str | None:
        """``"model files missing"`` when the last trained model lives on this machine (local)
        and its files are not here (another user, a cleaned store), else None."""
        from ftspec.artifacts.sync import has_model_kind, model_kind

        if not has_model_kind(self.spec):
            return None
        recorded = self.state.task(self.spec.name, "wait")
        model = (recorded or {}).get("outputs", {}).get("fine_tuned_model")
        if not model or model_kind(self.spec).present(self.provider, model):
            return None
        return "model files missing"

    def _job_out(self) -> dict[str, Any]:
        recorded = self.state.task(self.spec.name, "job")
        if recorded is None:
            raise Stale("no job")
        return recorded["outputs"]

    # ---- wait -------------------------------------------------------------------------------
    def wait_check(self, job: Check) -> Check:
        if not job.uptodate:
            return Check.of(["never run" if self.state.task(self.spec.name, "job") is None else "job changed"])
        recorded = self.state.task(self.spec.name, "wait")
        if (recorded is None or recorded["inputs"] != {"job_id": self._job_out()["id"]}
                or recorded["outputs"].get("status") != "succeeded"):
            return Check.of(["job not finished"])
        return Check(True)

    def wait_uptodate(self) -> bool:
        return self.wait_check(Check(True)).uptodate

    def run_wait(self) -> None:
        job_out = self._job_out()
        key, job_id = job_out["key"], job_out["id"]
        receipt = self.state.receipt(self.scope, "jobs", key) or {"key": key, "id": job_id}
        if receipt.get("status") == "succeeded" and receipt.get("fine_tuned_model"):
            self.echo(f"{self.spec.name}: model {receipt['fine_tuned_model']} (cached)")
        else:
            receipt = self._wait(job_id, receipt)
        outputs = {k: receipt.get(k) for k in ("fine_tuned_model", "status", "trained_tokens", "hyperparameters")}
        self.state.save_task(self.spec.name, "wait", {"job_id": job_id}, outputs)

    def _wait(self, job_id: str, receipt: dict[str, Any]) -> dict[str, Any]:
        from ftspec.graph.wait import wait_for_job

        log = self.state.log_path(self.spec.name, f"{job_id}.events.jsonl")
        try:
            job = wait_for_job(self.provider, job_id, spec_label=self.spec.name, events_log=log,
                               live=self.live, echo=self.echo)
        except JobFailedError:
            final = self.provider.get_job(job_id)
            self.state.save_receipt(self.scope, "jobs", receipt["key"], {**receipt, "status": final.status})
            raise
        receipt = {**receipt, "status": job.status, "fine_tuned_model": job.fine_tuned_model,
                   "trained_tokens": job.trained_tokens, "hyperparameters": job.hyperparameters}
        self.state.save_receipt(self.scope, "jobs", receipt["key"], receipt)
        self.echo(f"{self.spec.name}: job {job_id} succeeded: model {job.fine_tuned_model}")
        return receipt

    def _model(self) -> str:
        recorded = self.state.task(self.spec.name, "wait")
        if recorded is None or not recorded["outputs"].get("fine_tuned_model"):
            raise Stale("no model")
        return recorded["outputs"]["fine_tuned_model"]

    # ---- deploy / undeploy (providers with ``capabilities.deployment``) -----------------------
    def deployment_key(self, model: str) -> str:
        return inp.idempotency_key({"scope": self.scope, "model": model})

    def _deploy_receipt(self, model: str) -> dict[str, Any] | None:
        return self.state.receipt(self.scope, "deployments", self.deployment_key(model))

    def deploy_check(self, model: Check) -> Check:
        """Up to date when nothing needs the model served (every eval is up to date and the
        deployment is not kept), or a kept deployment of this model is recorded ready."""
        if not model.uptodate:
            return Check.of(["model changes"])
        try:
            current = self._model()
        except Stale:
            return Check.of(["no model"])
        if self.keep_deployment:
            receipt = self._deploy_receipt(current)
            if receipt is not None and receipt.get("status") == "ready":
                return Check(True)
            return Check.of(["kept deployment not running" if receipt else "never deployed"])
        stale = [n for n in self.eval_names if not self.eval_check(n, Check(True)).uptodate]
        return Check.of([f"eval '{n}' needs the model served" for n in stale])

    def deploy_uptodate(self) -> bool:
        return self.deploy_check(Check(True)).uptodate

    def run_deploy(self) -> None:
        model = self._model()
        key = self.deployment_key(model)
        found = self.provider.find_deployment(model)
        if found is not None:
            self.echo(f"{self.spec.name}: deployment found on {self.spec.provider}: {found.id} ({found.state}, reused)")
            dep = found
        else:
            dep = self.provider.deploy(model)
            self.echo(f"{self.spec.name}: deploying {model} as {dep.id} (billed while it runs; "
                      + ("kept after the build: `ftspec gc` lists it once no lockfile names it)"
                         if self.keep_deployment else "removed after the evals)"))
        receipt = {"key": key, "id": dep.id, "model": model, "served_model": dep.served_model,
                   "status": dep.state, "spec": self.spec.name, "provider": self.spec.provider,
                   "keep": self.keep_deployment}
        self.state.save_receipt(self.scope, "deployments", key, receipt)
        self._started.append(receipt)  # found or new: a failed run never leaves it running
        dep = self._wait_deployment(dep.id)
        receipt = {**receipt, "status": dep.state, "served_model": dep.served_model}
        self.state.save_receipt(self.scope, "deployments", key, receipt)
        self.state.save_task(self.spec.name, "deploy", {"model": model},
                             {"id": dep.id, "key": key, "served_model": dep.served_model})
        self.echo(f"{self.spec.name}: deployment {dep.id} ready")

    def _wait_deployment(self, deployment_id: str):
        import time

        from ftspec.errors import ProviderError
        from ftspec.graph.wait import MAX_WAIT_S

        interval = float(getattr(self.provider, "poll_interval", 10.0))
        deadline = time.monotonic() + min(MAX_WAIT_S, 6 * 3600)
        while True:
            dep = self.provider.get_deployment(deployment_id)
            if dep.state == "ready":
                return dep
            if not dep.live:
                raise ProviderError(f"{self.spec.provider}: deployment {deployment_id} is {dep.state}")
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.spec.provider}: deployment {deployment_id} not ready after 6 h")
            time.sleep(interval)

    def _served_model(self) -> str:
        """What eval requests name: the deployment's route when the provider needs one."""
        model = self._model()
        if not self.deploy_needed:
            return model
        recorded = self.state.task(self.spec.name, "deploy")
        if recorded is None or recorded["inputs"] != {"model": model}:
            raise Stale("model not deployed")
        return str(recorded["outputs"]["served_model"])

    def undeploy_check(self, deploy: Check) -> Check:
        if not deploy.uptodate:
            return Check.of(["a new deployment is removed after the evals"])
        recorded = self.state.task(self.spec.name, "deploy")
        if recorded is None:
            return Check(True)
        receipt = self.state.receipt(self.scope, "deployments", recorded["outputs"]["key"])
        if receipt is None or receipt.get("status") == "deleted":
            return Check(True)
        return Check.of([f"deployment {receipt['id']} still running"])

    def undeploy_uptodate(self) -> bool:
        return self.undeploy_check(Check(True)).uptodate

    def run_undeploy(self) -> None:
        recorded = self.state.task(self.spec.name, "deploy")
        if recorded is None:
            return
        receipt = self.state.receipt(self.scope, "deployments", recorded["outputs"]["key"])
        if receipt is not None and receipt.get("status") != "deleted":
            self._undeploy(receipt)

    def _undeploy(self, receipt: dict[str, Any]) -> None:
        self.provider.undeploy(receipt["id"])
        self.state.save_receipt(self.scope, "deployments", receipt["key"], {**receipt, "status": "deleted"})
        self.echo(f"{self.spec.name}: undeployed {receipt['id']}")

    # ---- evals ------------------------------------------------------------------------------
    def eval_cfg(self, name: str) -> dict[str, Any]:
        return next(e for e in self.spec.evals if e["name"] == name)

    def eval_inputs(self, name: str) -> dict[str, Any]:
        from ftspec.evals import runner

        return {"key": runner.eval_task_key(self.spec, self.eval_cfg(name), self._model())}

    def eval_check(self, name: str, model: Check) -> Check:
        """For the model the wait task answers with (``model``: its check)."""
        if not model.uptodate:
            return Check.of(["model changes"])
        recorded = self.state.task(self.spec.name, f"eval.{name}")
        try:
            fresh = recorded is not None and recorded["inputs"] == self.eval_inputs(name)
        except FtspecError as exc:  # e.g. a cases file gone: the action reports it, located
            return Check.of([exc.message])
        if fresh and recorded is not None:
            report = recorded["outputs"].get("report")
            path = self.root / report if report else None
            if path is not None and path.is_file() and sha256_file(path) == recorded["outputs"].get("report_sha256"):
                return Check(True)
        return Check.of(["never run" if recorded is None else "eval cases, sampling, scorers or report changed"])

    def eval_uptodate(self, name: str) -> bool:
        return self.eval_check(name, Check(True)).uptodate

    def run_eval(self, name: str) -> None:
        from ftspec.evals import runner

        inputs = self.eval_inputs(name)
        events = self.provider.list_events(self._job_out()["id"])
        progress = None  # on a terminal: the generator's live bar
        if not self.live:
            from ftspec.evals.generate import ProgressLine

            progress = ProgressLine(self.echo, f"{self.spec.name}: eval '{name}'")
        summary = runner.run_eval_set(self.spec, self.eval_cfg(name), self._served_model(), self.provider,
                                      project_root=self.root, events=events, progress=progress,
                                      report_name=self.report_name)
        self.state.save_task(self.spec.name, f"eval.{name}", inputs, summary)
        self.echo(f"{self.spec.name}: eval '{name}' done: {summary.get('report')}")

    # ---- lock -------------------------------------------------------------------------------
    def lock_data(self) -> dict[str, Any]:
        dataset = self._dataset_out()
        upload = self.state.task(self.spec.name, "upload") or {"outputs": {}}
        job = self._job_out()
        wait = self.state.task(self.spec.name, "wait")
        if wait is None:
            raise Stale("job not finished")
        out = wait["outputs"]
        evals = {}
        for name in self.eval_names:
            recorded = self.state.task(self.spec.name, f"eval.{name}")
            if recorded is not None:
                evals[name] = recorded["outputs"]
        hp = {**self.hyperparameters(), **(out.get("hyperparameters") or {})}
        lock = lock_from_build(self.spec, dataset=dataset, files={s: upload["outputs"].get(s) for s in SPLITS},
                               job=job, finished=out, hyperparameters=hp, evals=evals, serve=self._serve(out))
        from ftspec.artifacts.sync import has_model_kind, model_lock_entry

        parent_model = (self.state.task(self.spec.name, "job") or {}).get("inputs", {}).get("parent_model")
        if self.spec.parent is not None and parent_model:  # lineage: what this model was trained from
            lock["parent"] = {"spec": _shown(self.spec.parent.path, self.root), "model": parent_model}
        if has_model_kind(self.spec):  # the model lives on this machine: record its tree
            artifacts = model_lock_entry(self.spec, self.root, self.provider, out.get("fine_tuned_model"))
            if artifacts:
                lock["artifacts"] = artifacts
        if self.deploy_needed and self.keep_deployment:  # gc keeps what a lockfile names
            deployed = self.state.task(self.spec.name, "deploy")
            if deployed is not None and deployed["inputs"] == {"model": out.get("fine_tuned_model")}:
                lock["deployment"] = {"id": deployed["outputs"]["id"],
                                      "served_model": deployed["outputs"]["served_model"]}
        return lock

    def _serve(self, finished: dict[str, Any]) -> dict[str, Any] | None:
        """How to serve a local model (``ftspec serve``, and the exports ``ftspec export`` made)."""
        if self.spec.provider != "local" or not finished.get("fine_tuned_model"):
            return None
        from ftspec.lockfile import load_lock, serve_entry

        previous = None
        if self.lock_file.is_file():
            try:
                previous = load_lock(self.lock_file)
            except FtspecError:
                previous = None
        try:
            shown = Path(self.spec.path).resolve().relative_to(Path(self.root).resolve()).as_posix()
        except ValueError:
            shown = str(self.spec.path)
        return serve_entry(shown, finished.get("fine_tuned_model"), previous)

    @property
    def lock_file(self) -> Path:
        return lock_path(self.spec.path)

    def lock_check(self, upstream_stale: bool) -> Check:
        if upstream_stale:
            return Check.of(["upstream stale"])
        try:
            current = dumps_lock(self.lock_data())
        except (FtspecError, Stale) as exc:
            return Check.of([f"cannot compute lock: {exc}"])
        path = self.lock_file
        return Check.of([] if path.is_file() and path.read_text(encoding="utf-8") == current
                        else ["lockfile missing or out of date"])

    def lock_uptodate(self) -> bool:
        return self.lock_check(False).uptodate

    def run_lock(self) -> None:
        data = self.lock_data()
        if write_lock(self.lock_file, data):
            self.echo(f"{self.spec.name}: wrote {self.lock_file.name}")
        if data["evals"]:
            from ftspec.errors import EvalError
            from ftspec.evals import runner


            failures = runner.gate_failures(self.spec.name, data["evals"])
            if failures:
                raise EvalError("\n".join(failures))


def _shown(path: Path, root: Path) -> str:
    """A spec's path from the project root (never a machine path in a lockfile)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


class Stale(Exception):
    """The engine's own signal: an upstream result is missing, so the task is stale (and cannot
    run yet). Any other exception in a check is a bug and surfaces as one."""


def _needs_deployment(provider: str) -> bool:
    """The provider's capability flag, read from its class (nothing is started)."""
    from ftspec.errors import ProviderNotFoundError
    from ftspec.providers import provider_class

    try:
        return bool(provider_class(provider).capabilities.deployment)
    except ProviderNotFoundError:
        return False  # the build reports the missing provider where it first needs it


def _check(fn):
    def uptodate(task, values) -> bool:  # noqa: ARG001 - doit's uptodate signature
        try:
            return bool(fn())
        except (Stale, FtspecError):  # FtspecError: a located user error the action reports
            return False

    return uptodate


def _bind(fn, *args):
    def bound():
        return fn(*args)

    return bound
