"""``executor: {ray: {address, num_workers, use_gpu, storage_path, checkpoint_every, max_failures}}``:
the local trainer on a Ray cluster, through Ray's job submission API.

One Ray job per ftspec job, ``submission_id`` = ``ftspec-<idempotency key>-<job id>``; the job
record (with that id) is in the store before the submission, so a build killed at any point
finds the Ray job on the next run (a submission that never reached the cluster is made then,
with the same id: the cluster refuses a second job of one id). The job's data travels as its
``working_dir`` (``job.json``, ``train.jsonl``, ``valid.jsonl``); ``ray_train.py`` is its
entrypoint. Status comes from ``get_job_info``; events and metrics from the ``FTSPEC_EVENT``
lines of ``get_job_logs``; a finished job's adapter is fetched from Ray Train's storage path
(any fsspec URL) into the model store and checked against the sha256 the cluster computed.
``ray`` is imported here only inside methods: a spec that names no Ray executor never loads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from ftspec.errors import ProviderError
from ftspec.providers.base import ACTIVE_STATUSES, JobRequest
from ftspec.providers.local.executors import EXECUTORS, SETTING, Executor, ExecutorUnreachable

WHERE = f"{SETTING}.ray"
DEFAULTS: dict[str, Any] = {"num_workers": 1, "use_gpu": False, "storage_path": None,
                            "checkpoint_every": 50, "max_failures": 2, "eval_min_requests": 256}
GENERATE_TIMEOUT_S = 6 * 3600.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PASSED_ENV = ("FTSPEC_LOCAL_PRECISION", "FTSPEC_MODEL_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")
STOP_GRACE_S = 60.0
RAY_STATUS = {"PENDING": "queued", "RUNNING": "running"}


def submission_id(idempotency_key: str, job_id: str) -> str:
    return f"ftspec-{idempotency_key}-{job_id}"


def _client(address: str, job_id: str | None = None):
    """A job submission client; an unreachable cluster names the job it keeps, when there is one."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise ProviderError(f"{WHERE} needs Ray; run: pip install 'ftspec[ray]'") from None
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, requests' and Ray's own
        raise unreachable(address, exc, job_id) from None


def unreachable(address: str, exc: BaseException, job_id: str | None = None) -> ExecutorUnreachable:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    kept = f"; job {job_id} is kept: build again when the cluster is back" if job_id else ""
    return ExecutorUnreachable(f"cannot reach the Ray cluster at {address} ({first}){kept}", retryable=False)


def cluster_resources(address: str) -> list[dict[str, float]]:
    """Each alive node's total resources, from the cluster's state API (through its dashboard)."""
    from ray.util.state import list_nodes

    try:
        nodes = list_nodes(address=address, filters=[("state", "=", "ALIVE")], detail=True, raise_on_missing_output=False)
    except Exception as exc:  # noqa: BLE001 - the state API's connection errors
        raise unreachable(address, exc) from None
    return [dict(n.resources_total or {}) for n in nodes]


def ray_reason(message: str | None, status: str) -> str:
    """One line of Ray's failure message: its first line and, when it quotes the job's logs, the
    last of them (the exception the entrypoint died of)."""
    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    if not lines:
        return f"Ray job {status.lower()}"
    reason = lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}: {lines[-1]}"
    return reason[:500]


def placeable(nodes: list[dict[str, float]], need: dict[str, float]) -> int:
    """How many workers of ``need`` the nodes can hold at once (each worker on one node)."""
    return sum(min(int(node.get(k, 0) // v) for k, v in need.items()) for node in nodes)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    name: ClassVar[str] = "ray"

    def __init__(self, provider, settings: dict[str, Any]) -> None:
        super().__init__(provider, {**DEFAULTS, **settings})
        self.address = str(self.settings.get("address") or "")

    # ---- before anything is written -------------------------------------------------------
    def preflight(self, request: JobRequest) -> None:
        s = self.settings
        if not self.address:
            raise ProviderError(f"{WHERE}.address: required (the cluster's dashboard, e.g. http://127.0.0.1:8265)")
        if not isinstance(s["num_workers"], int) or s["num_workers"] < 1:
            raise ProviderError(f"{WHERE}.num_workers: expected an integer >= 1, got {s['num_workers']!r}")
        if s["storage_path"] is None and urlparse(self.address).hostname not in LOCAL_HOSTS:
            raise ProviderError(f"{WHERE}.storage_path: required for the cluster at {self.address} "
                                "(a folder or fsspec URL both this machine and the cluster reach, e.g. s3://bucket/ftspec)")
        _client(self.address)
        nodes = cluster_resources(self.address)
        gpus = sum(n.get("GPU", 0) for n in nodes)
        if s["use_gpu"] and not gpus:
            raise ProviderError(f"{WHERE}.use_gpu: true, but the Ray cluster at {self.address} has no GPUs")
        need = {"CPU": 1.0, **({"GPU": 1.0} if s["use_gpu"] else {})}
        fits = placeable(nodes, need)
        if s["num_workers"] > fits:
            cpus = sum(n.get("CPU", 0) for n in nodes)
            raise ProviderError(
                f"{WHERE}.num_workers: {s['num_workers']} workers (1 CPU{' + 1 GPU' if s['use_gpu'] else ''} each) "
                f"do not fit the Ray cluster at {self.address}: {fits} can be placed "
                f"({len(nodes)} nodes, {cpus:g} CPUs, {gpus:g} GPUs)")

    # ---- submission ---------------------------------------------------------------------
    def storage_path(self) -> str:
        return str(self.settings["storage_path"] or (self.provider.store.root / "ray-results"))

    def start(self, job_id: str) -> None:
        job = self.provider.store.read_job(job_id)
        sid = submission_id(job["idempotency_key"], job_id)
        self.provider.store.update_job(job_id, ray={
            "submission_id": sid, "address": self.address, "storage_path": self.storage_path(),
            "run_name": sid, "events_seen": 0})
        self._submit(self.provider.store.read_job(job_id))

    def _payload(self, job: dict[str, Any]) -> Path:
        store, request = self.provider.store, job["request"]
        folder = store.job_dir(job["id"]) / "ray-payload"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        shutil.copyfile(store.file_path(request["training_file"]), folder / "train.jsonl")
        if request.get("validation_file"):
            shutil.copyfile(store.file_path(request["validation_file"]), folder / "valid.jsonl")
        ray = job["ray"]
        settings = {k: self.settings[k] for k in ("num_workers", "use_gpu", "checkpoint_every", "max_failures")}
        body = {"job": {"id": job["id"], "request": request},
                "ray": {**settings, "storage_path": ray["storage_path"], "run_name": ray["run_name"]}}
        (folder / "job.json").write_text(json.dumps(body), encoding="utf-8")
        return folder

    def _submit(self, job: dict[str, Any]) -> None:
        ray = job["ray"]
        client = _client(ray["address"], job["id"])
        folder = self._payload(job)
        env = {"RAY_TRAIN_V2_ENABLED": "1", "RAY_DEDUP_LOGS": "0",
               **{k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
        try:
            client.submit_job(
                entrypoint="python -m ftspec.providers.local.ray_train", submission_id=ray["submission_id"],
                runtime_env={"working_dir": str(folder), "env_vars": env},
                metadata={"ftspec_key": job["idempotency_key"], "ftspec_job": job["id"]},
                entrypoint_num_cpus=0,
            )
        except RuntimeError as exc:
            if "already exists" not in str(exc):  # another process submitted it a moment ago
                raise ProviderError(f"Ray refused job {job['id']}: {str(exc).splitlines()[0][:300]}") from None
        except Exception as exc:  # noqa: BLE001 - connection errors
            raise unreachable(ray["address"], exc, job["id"]) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.provider.store.update_job(job["id"], submitted_at=int(time.time()))
        self.provider.store.append_event(job["id"], "info", f"submitted Ray job {ray['submission_id']} to {ray['address']}")

    # ---- status ---------------------------------------------------------------------------
    def _info(self, client, job: dict[str, Any]):
        try:
            return client.get_job_info(job["ray"]["submission_id"])
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return None
            raise unreachable(job["ray"]["address"], exc, job["id"]) from None
        except Exception as exc:  # noqa: BLE001
            raise unreachable(job["ray"]["address"], exc, job["id"]) from None

    def refresh(self, job: dict[str, Any]) -> dict[str, Any]:
        if job["status"] not in ACTIVE_STATUSES:
            return job
        from filelock import FileLock

        store = self.provider.store
        # one process at a time reads the Ray job and takes its events (store.update_job takes
        # the record's own lock, so this is a second one)
        with FileLock(str(store.job_dir(job["id"]) / "ray-sync.lock")):
            job = store.read_job(job["id"])
            if job["status"] not in ACTIVE_STATUSES:
                return job
            ray = job["ray"]
            client = _client(ray["address"], job["id"])
            info = self._info(client, job)
            if info is None:  # the build stopped between recording the job and submitting it
                self._submit(job)
                return store.read_job(job["id"])
            logs = self._logs(client, job)
            self._take_events(job, logs)
            status = str(info.status.value if hasattr(info.status, "value") else info.status)
            if status in RAY_STATUS:
                job = store.update_job(job["id"], status=RAY_STATUS[status])
            elif status == "SUCCEEDED":
                job = self._fetch(job, logs)
            elif status == "STOPPED":
                job = self._final(job, "cancelled", None, "Ray job stopped: job cancelled")
            else:
                reason = ray_reason(info.message, status)
                job = self._final(job, "failed", {"code": "ray_job_failed", "param": None,
                                                  "message": f"Ray job {ray['submission_id']} failed: {reason}"}, None)
        return job

    def _logs(self, client, job: dict[str, Any]) -> str:
        try:
            return client.get_job_logs(job["ray"]["submission_id"])
        except Exception as exc:  # noqa: BLE001
            raise unreachable(job["ray"]["address"], exc, job["id"]) from None

    def _take_events(self, job: dict[str, Any], logs: str) -> None:
        from ftspec.providers.local.ray_train import EVENT

        store, seen = self.provider.store, int(job["ray"].get("events_seen") or 0)
        # a worker's line can reach the job's logs twice (its own stream and Ray Train's print
        # patch); each event carries its time, so equal lines are one event
        lines = list(dict.fromkeys(ln.split(EVENT, 1)[1].strip() for ln in logs.splitlines() if EVENT in ln))
        fields: dict[str, Any] = {}
        for raw in lines[seen:]:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a line Ray cut: its successors still count
            data = dict(event.get("data") or {})
            metrics = bool(data.pop("_metrics", False))
            store.append_event(job["id"], event.get("level", "info"), event.get("message", ""),
                               type="metrics" if metrics else "message", data=data)
            if data.get("hyperparameters"):
                fields["hyperparameters"] = data["hyperparameters"]
            if metrics and data.get("elapsed_s") and data.get("step"):
                left = data["elapsed_s"] / data["step"] * (data["total_steps"] - data["step"])
                fields["estimated_finish"] = int(time.time() + left)
        store.update_job(job["id"], ray={**job["ray"], "events_seen": len(lines)}, **fields)

    def _final(self, job: dict[str, Any], status: str, error: dict[str, Any] | None, note: str | None) -> dict[str, Any]:
        store = self.provider.store
        message = note or (error or {}).get("message", status)
        store.append_event(job["id"], "error" if status == "failed" else "info", message)
        return store.update_job(job["id"], status=status, error=error, finished_at=int(time.time()))

    # ---- artifacts ------------------------------------------------------------------------
    def _fetch(self, job: dict[str, Any], logs: str) -> dict[str, Any]:
        from ftspec.providers.local.ray_train import RESULT, tree_sha256
        from ftspec.providers.local.worker import write_manifest

        found = [ln.split(RESULT, 1)[1] for ln in logs.splitlines() if RESULT in ln]
        if not found:
            return self._final(job, "failed", {"code": "ray_no_result", "param": None,
                                               "message": "the Ray job succeeded but printed no result"}, None)
        rel = json.loads(found[-1])["checkpoint"]
        store, ray = self.provider.store, job["ray"]
        started = time.perf_counter()
        partial = store.model_dir(job["id"]).with_name(f"{job['id']}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        _download(ray["storage_path"], rel, partial)
        result = json.loads((partial / "result.json").read_text(encoding="utf-8"))
        if tree_sha256(partial / "adapter") != result["adapter_sha256"]:
            shutil.rmtree(partial, ignore_errors=True)
            return self._final(job, "failed", {"code": "ray_fetch_mismatch", "param": None,
                                               "message": f"the adapter fetched from {ray['storage_path']} does not match its sha256"}, None)
        out = store.model_dir(job["id"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / "adapter", ignore_errors=True)
        os.replace(partial / "adapter", out / "adapter")
        shutil.rmtree(partial, ignore_errors=True)
        fetch_s = round(time.perf_counter() - started, 3)
        model_id = write_manifest(
            store, job["id"], job, result["hyperparameters"], result["metrics"], result["device"],
            ray={"submission_id": ray["submission_id"], "world_size": result["world_size"],
                 "checkpoint": f"{ray['storage_path'].rstrip('/')}/{rel}", "adapter_sha256": result["adapter_sha256"],
                 "fetch_s": fetch_s})
        store.append_event(job["id"], "info", f"model {model_id} fetched from {ray['storage_path']} in {fetch_s:g} s",
                           data={"model": model_id, "fetch_s": fetch_s})
        return store.update_job(job["id"], status="succeeded", fine_tuned_model=model_id, error=None,
                                trained_tokens=result["metrics"]["trained_tokens"], finished_at=int(time.time()))

    # ---- cancel ---------------------------------------------------------------------------
    def cancel(self, job: dict[str, Any]) -> dict[str, Any]:
        ray = job["ray"]
        client = _client(ray["address"], job["id"])
        try:
            client.stop_job(ray["submission_id"])
        except Exception as exc:  # noqa: BLE001
            raise unreachable(ray["address"], exc, job["id"]) from None
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            job = self.refresh(job)
            if job["status"] not in ACTIVE_STATUSES:
                break
            time.sleep(0.5)
        return job


    # ---- evals at scale ---------------------------------------------------------------------
    def generate(self, job: dict[str, Any], adapter: Path, chunks: list[list[Any]]) -> list[list[Any]] | None:
        """Generations for each chunk of requests (one ``chat_batch`` call's worth) of this job's
        model, spread over the cluster's actors (``ray_generate.py``), or None below
        ``eval_min_requests`` in all (one process does those). Each chunk is planned into the
        ``generate`` calls ``generate_batched`` makes of it, so the answers are the same. The
        Ray job's id is a hash of the model and the requests: asking again finds it."""
        from dataclasses import asdict

        from ftspec.providers.base import ChatResult
        from ftspec.providers.local.generate import Engine, plan_batches
        from ftspec.util import sha256_obj

        requests = [r for chunk in chunks for r in chunk]
        if len(requests) < int(self.settings["eval_min_requests"]) or "ray" not in job:
            return None
        ray = job["ray"]
        bodies = [asdict(r) for r in requests]
        sid = f"ftspec-gen-{sha256_obj({'job': job['id'], 'chunks': [len(c) for c in chunks], 'requests': bodies})[:32]}"
        from ftspec.providers.local import models

        # the base's own chat format (Gemma turns or ChatML) needs its tokenizer, not the weights
        tokenizer = models.load_tokenizer(job["request"]["model"])
        prompt_text = Engine(model=None, tokenizer=tokenizer, device="cpu").prompt_text
        calls, offset = [], 0
        for chunk in chunks:
            calls += [[offset + i for i in call] for call in plan_batches(chunk, prompt_text)]
            offset += len(chunk)
        client = _client(ray["address"])
        probe = {"id": job["id"], "ray": {**ray, "submission_id": sid}}
        if self._info(client, probe) is None:
            self._submit_generation(client, sid, job, adapter, bodies, calls)
        deadline = time.monotonic() + GENERATE_TIMEOUT_S
        while time.monotonic() < deadline:
            info = self._info(client, probe)
            status = str(getattr(info.status, "value", info.status)) if info is not None else "PENDING"
            if status == "SUCCEEDED":
                break
            if status in ("FAILED", "STOPPED"):
                reason = ray_reason(info.message if info is not None else None, status)
                raise ProviderError(f"Ray generation job {sid} {status.lower()}: {reason}")
            time.sleep(1.0)
        else:
            raise ProviderError(f"Ray generation job {sid} did not finish in {GENERATE_TIMEOUT_S:g} s")
        from ftspec.providers.local.ray_train import RESULT

        found = [ln.split(RESULT, 1)[1] for ln in self._logs(client, probe).splitlines() if RESULT in ln]
        rel = json.loads(found[-1])["generations"]
        fs, root = _fs(ray["storage_path"])
        with fs.open(f"{root.rstrip('/')}/{rel}", "r") as fh:
            out = [ChatResult(**r) for r in json.load(fh)]
        self.provider.store.append_event(job["id"], "info", f"generated {len(out)} requests on Ray job {sid}",
                                         data={"generation_job": sid, "requests": len(out)})
        results, offset = [], 0
        for chunk in chunks:
            results.append(out[offset : offset + len(chunk)])
            offset += len(chunk)
        return results

    def _submit_generation(self, client, sid: str, job: dict[str, Any], adapter: Path,
                           bodies: list[dict[str, Any]], calls: list[list[int]]) -> None:
        import tempfile

        ray = job["ray"]
        with tempfile.TemporaryDirectory(prefix="ftspec-gen-") as tmp:
            folder = Path(tmp)
            shutil.copytree(adapter, folder / "adapter")
            settings = {"num_workers": self.settings["num_workers"], "use_gpu": self.settings["use_gpu"],
                        "storage_path": ray["storage_path"], "run_name": sid}
            (folder / "generate.json").write_text(json.dumps({
                "base_model": job["request"]["model"], "requests": bodies, "calls": calls, "ray": settings}))
            env = {"RAY_DEDUP_LOGS": "0", **{k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
            try:
                client.submit_job(entrypoint="python -m ftspec.providers.local.ray_generate", submission_id=sid,
                                  runtime_env={"working_dir": str(folder), "env_vars": env},
                                  metadata={"ftspec_job": job["id"], "ftspec_kind": "generate"}, entrypoint_num_cpus=0)
            except RuntimeError as exc:
                if "already exists" not in str(exc):
                    raise ProviderError(f"Ray refused generation job {sid}: {str(exc).splitlines()[0][:300]}") from None
            except Exception as exc:  # noqa: BLE001
                raise unreachable(ray["address"], exc) from None


def _fs(storage_path: str):
    import fsspec

    return fsspec.core.url_to_fs(storage_path)


def _download(storage_path: str, rel: str, dest: Path) -> None:
    """Copy ``<storage_path>/<rel>/`` (any fsspec URL or folder) to ``dest``."""
    fs, root = _fs(storage_path)
    src = f"{root.rstrip('/')}/{rel}".rstrip("/")
    for path in fs.find(src):
        target = dest / Path(path[len(src):].lstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fs.get_file(path, str(target))
