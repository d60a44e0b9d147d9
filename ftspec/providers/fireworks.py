"""Fireworks AI supervised fine-tuning on the official ``fireworks-ai`` SDK (``pip install 'ftspec[fireworks]'``).

The SDK, not plain HTTP: it knows the account-scoped paths, the camelCase wire names, the
custom verbs (``:upload``, ``:cancel``) and the cursor pagination (``pageToken`` ->
``nextPageToken``), and its pydantic types are what the test fake is checked against.

Idempotency (Fireworks lets the caller choose every id, so nothing is searched by name):
- datasets: ``ftspec-<key>`` (``dataset_id``); ``find_file`` GETs that id. A dataset that exists
  but is not ``READY`` (a crash between create and upload) is uploaded into again, never
  created twice; a create answered 409 means an earlier attempt made it.
- jobs: ``ftspec-<key>``, then ``ftspec-<key>-r2``, ``-r3``... (``job_ids``): a failed or
  cancelled job keeps its id, so the next attempt takes the next one. ``find_job`` GETs the
  ids in order up to the first that does not exist; ``create_job`` looks again before every
  retry and treats a 409 as "an earlier attempt made it". The output model is named after the
  job (``accounts/<a>/models/<job id>``).
- deployments: ``ftspec-<model id>`` derived from the model, so ``deploy`` after a crash finds
  the one it started. Fireworks serves a LoRA fine-tune only on a deployment (billed per GPU
  second while it runs, idle or not; docs "deploying-loras"): ``capabilities.deployment`` makes
  the graph deploy before evals and undeploy after them (see ``ftspec/graph/tasks.py``).
  Chat names ``<model>#<deployment name>`` (the live-merge route; docs "create-deployed-model":
  a model is queried on a given deployment by ``#<deployment>``).

Fireworks has no events or metrics API for SFT jobs (SDK 1.2.30): ``list_events`` derives
events from the job's own timestamps, state and ``jobProgress`` (percent, epoch), so the wait
line shows status, ``step <percent>/100`` and an ETA extrapolated from elapsed time; no loss.

Retries: ftspec retries, not the SDK (``max_retries=0``; every call goes through
``ftspec.providers.retry.call_with_retries``). SDK errors become ``ProviderError``s carrying
``status``, ``retryable`` and ``retry_after``; no message holds the API key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from ftspec.errors import NeedsKeyError, ProviderError
from ftspec.providers.base import (
    Capabilities,
    ChatRequest,
    ChatResult,
    Deployment,
    Job,
    JobEvent,
    JobRequest,
    Provider,
    RemoteFile,
    api_key_from_env,
    usable_job,
)
from ftspec.providers.retry import call_with_retries

PREFIX = "ftspec-"
MAX_JOB_ATTEMPTS = 20  # ids ftspec-<key>, -r2 ... -r20: bounded, and a 20th failed job is a user problem
ID_MAX = 63  # Fireworks resource ids: lowercase letters, digits and hyphens, at most 63 characters
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT = 600.0
DEFAULT_POLL = 10.0
DATASET_READY_TIMEOUT_S = 1800.0
DEPLOY_READY_TIMEOUT_S = 3600.0
UPLOAD_MAX_BYTES = 150 * 1024 * 1024  # ``datasets.upload`` limit (bigger files take signed URLs)
# the cookbook's starting rate for LoRA SFT (fw-ai/cookbook); learning_rate_multiplier scales it
BASE_LEARNING_RATE = 1e-4
DEFAULT_ACCELERATOR = "NVIDIA_H100_80GB"

# Fireworks JOB_STATE_* -> ftspec's vocabulary (base.TERMINAL_STATUSES etc.)
STATUS = {
    "JOB_STATE_UNSPECIFIED": "queued", "JOB_STATE_CREATING": "queued", "JOB_STATE_PENDING": "queued",
    "JOB_STATE_VALIDATING": "validating_files", "JOB_STATE_CREATING_INPUT_DATASET": "validating_files",
    "JOB_STATE_RUNNING": "running", "JOB_STATE_WRITING_RESULTS": "running", "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued", "JOB_STATE_PAUSED": "paused", "JOB_STATE_CANCELLING": "cancelled",
    "JOB_STATE_COMPLETED": "succeeded", "JOB_STATE_EARLY_STOPPED": "succeeded",
    "JOB_STATE_FAILED": "failed", "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled", "JOB_STATE_DELETING": "cancelled", "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
}
DEPLOY_STATE = {"CREATING": "creating", "UPDATING": "creating", "READY": "ready", "FAILED": "failed",
                "DELETING": "deleting", "DELETED": "deleted", "STATE_UNSPECIFIED": "creating"}
# hyperparameters.fireworks keys passed to ``supervised_fine_tuning_jobs.create`` as they are
PASSTHROUGH = ("learning_rate", "lora_rank", "max_context_length", "batch_size", "gradient_accumulation_steps",
               "learning_rate_warmup_steps", "optimizer_weight_decay", "early_stop", "eval_auto_carveout",
               "is_turbo")

# what a Fireworks chat line may hold (docs fine-tuning-models: OpenAI chat ``messages``)
_MESSAGE_KEYS = ("role", "content", "weight", "name", "tool_calls", "tool_call_id")


def to_fireworks_record(record: dict[str, Any]) -> dict[str, Any]:
    """One canonical dataset line in the form Fireworks trains on: ``{"messages": [...]}``
    (plus ``tools`` when present), message keys outside the OpenAI chat schema dropped.

    A prompt/completion line becomes a user and an assistant message: Fireworks documents no
    completion schema for SFT (the ``COMPLETION`` format exists, its line shape does not).
    """
    if "messages" in record:
        messages = [{k: m[k] for k in _MESSAGE_KEYS if k in m} if isinstance(m, dict) else m
                    for m in record["messages"]]
    elif "prompt" in record and "completion" in record:
        messages = [{"role": "user", "content": str(record["prompt"])},
                    {"role": "assistant", "content": str(record["completion"])}]
    else:
        raise ProviderError("fireworks: a dataset line has neither messages nor prompt/completion")
    out: dict[str, Any] = {"messages": messages}
    if record.get("tools"):
        out["tools"] = record["tools"]
    return out


def convert_file(src: Path, dst: Path) -> tuple[str, int]:
    """Write ``src`` (canonical JSONL) to ``dst`` in Fireworks' form; the sha256 of what is sent
    and the number of examples."""
    digest = hashlib.sha256()
    count = 0
    with open(src, encoding="utf-8") as fin, open(dst, "wb") as fout:
        for line in fin:
            if not line.strip():
                continue
            data = (json.dumps(to_fireworks_record(json.loads(line)), ensure_ascii=False) + "\n").encode()
            digest.update(data)
            fout.write(data)
            count += 1
    return digest.hexdigest(), count


def resource_id(key: str, attempt: int = 1) -> str:
    """``ftspec-<key>`` as a Fireworks id (lowercase, digits, hyphens; 63 characters at most);
    attempts after the first get ``-r<n>``. A key that does not fit is shortened with its hash."""
    base = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-") or "key"
    if len(base) > 40:
        base = f"{base[:23]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    rid = f"{PREFIX}{base}" + (f"-r{attempt}" if attempt > 1 else "")
    return rid[:ID_MAX]


def dataset_id(key: str) -> str:
    return resource_id(key)


def job_ids(key: str) -> list[str]:
    return [resource_id(key, n) for n in range(1, MAX_JOB_ATTEMPTS + 1)]


def deployment_id(model: str) -> str:
    """The deployment ftspec makes for ``model`` (an ``accounts/a/models/<id>`` name or an id)."""
    return resource_id(_last(model)[len(PREFIX):] if _last(model).startswith(PREFIX) else _last(model))


def _last(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def job_parameters(request: JobRequest, account: str, job_id: str) -> dict[str, Any]:
    """The one place a ``JobRequest`` becomes ``supervised_fine_tuning_jobs.create`` arguments.

    - ``base_model`` -> ``base_model`` (a full name, ``accounts/fireworks/models/<m>``);
    - the training file -> ``dataset``, the validation file -> ``evaluation_dataset``;
    - ``n_epochs`` -> ``epochs``; ``batch_size`` (examples) -> ``batch_size_samples``, left out
      when the spec says ``auto`` (Fireworks picks; ``batch_size`` there counts tokens and is
      set only through ``hyperparameters.fireworks.batch_size``);
    - ``learning_rate_multiplier`` -> ``learning_rate`` = 1e-4 x multiplier (the cookbook's
      LoRA starting rate), unless ``hyperparameters.fireworks.learning_rate`` sets it outright;
    - ``suffix`` -> ``display_name``; the output model is ``accounts/<a>/models/<job id>``;
    - ``seed`` is not sent: SFT jobs have no seed field (SDK 1.2.30);
    - ``hyperparameters.fireworks`` keys (``PASSTHROUGH``) verbatim (``lora_rank`` 4-64,
      ``max_context_length`` a multiple of 16: the schema checks them).
    """
    if request.method == "dpo":
        raise ProviderError("fireworks: DPO runs as a separate dpoJobs API that ftspec does not drive yet; "
                            "use job.method: supervised")
    hp = request.hyperparameters
    params: dict[str, Any] = {
        "supervised_fine_tuning_job_id": job_id,
        "dataset": request.training_file,
        "base_model": request.model,
        "output_model": f"accounts/{account}/models/{job_id}",
        "display_name": (request.suffix or "ftspec")[:60],
    }
    if request.continue_from:  # a PEFT addon to train further, instead of ``base_model``
        params["warm_start_from"] = request.continue_from
        del params["base_model"]
    if request.validation_file:
        params["evaluation_dataset"] = request.validation_file
    if hp.get("n_epochs") is not None:
        params["epochs"] = int(hp["n_epochs"])
    if request.requested("batch_size") != "auto" and hp.get("batch_size") is not None:
        params["batch_size_samples"] = int(hp["batch_size"])
    if hp.get("learning_rate_multiplier") is not None:
        params["learning_rate"] = BASE_LEARNING_RATE * float(hp["learning_rate_multiplier"])
    extras = dict(request.extras.get("hyperparameters") or {})
    params.update({k: extras[k] for k in PASSTHROUGH if k in extras})
    return params


class FireworksProvider(Provider):
    name = "fireworks"
    needs_key = True
    key_env_var = "FIREWORKS_API_KEY"
    account_env_var = "FIREWORKS_ACCOUNT_ID"
    capabilities = Capabilities(supervised=True, dpo=False, chat=True, completions=True, embeddings=False,
                                exact_tokens=False, metrics_events=True, cancel=True, delete_model=True,
                                multiple_choices=True, native_batching=False, checkpoints=False,
                                deployment=True, continued_training=True)

    def __init__(self, settings: dict[str, Any], *, project_root: Path | None = None) -> None:
        super().__init__(settings, project_root=project_root)
        self._client = None
        self.last_upload_sha256: str | None = None

    @classmethod
    def spec_problems(cls, spec: Any) -> list[Any]:
        """``base_model`` must be a full Fireworks name (``accounts/<a>/models/<m>``); under
        ``accounts/fireworks`` it must be a tunable base in ftspec's table (your own account's
        models are not checked offline). DPO is refused here, before anything is uploaded."""
        from ftspec.data.base_models import known_models
        from ftspec.errors import did_you_mean

        problems = []
        model = spec.base_model
        known = sorted(known_models(cls.name))
        parts = model.split("/")
        if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "models" or not all(parts):
            guess = did_you_mean(model, known) or did_you_mean(f"accounts/fireworks/models/{model}", known)
            problems.append(spec.problem(("base_model",), f"'{model}' is not a Fireworks model name "
                                         f"(accounts/<account>/models/<model>){guess}; tunable bases ftspec knows: "
                                         f"{', '.join(known)}"))
        elif parts[1] == "fireworks" and model not in known:
            problems.append(spec.problem(("base_model",), f"unknown Fireworks base model '{model}'"
                                         f"{did_you_mean(model, known)}; tunable bases ftspec knows: {', '.join(known)}"))
        if spec.job.get("method", "supervised") == "dpo":
            problems.append(spec.problem(("job", "method"), "provider 'fireworks' runs supervised jobs only in ftspec "
                                         "(Fireworks DPO is a separate API ftspec does not drive yet)"))
        return problems

    # ---- client ----------------------------------------------------------------------------
    @property
    def api_key_env(self) -> str:
        return self.settings.get("api_key_env") or type(self).key_env_var

    @property
    def account_id_env(self) -> str:
        return self.settings.get("account_id_env") or type(self).account_env_var

    @property
    def poll_interval(self) -> float:
        return float(self.settings.get("poll_interval", DEFAULT_POLL))

    @property
    def max_retries(self) -> int:
        return int(self.settings.get("max_retries", DEFAULT_MAX_RETRIES))

    @property
    def account(self) -> str:
        account = os.environ.get(self.account_id_env, "")
        if not account:
            raise NeedsKeyError(
                f"provider '{self.name}' needs the account id: set the environment variable {self.account_id_env}",
                hint=f"export {self.account_id_env}=... (or name another variable in providers.{self.name}.account_id_env)",
            )
        return account

    @property
    def client(self):
        if self._client is None:
            import fireworks

            key, account = api_key_from_env(self.name, self.api_key_env), self.account
            self._client = fireworks.Fireworks(
                api_key=key, account_id=account,
                base_url=self.settings.get("base_url") or None,  # else FIREWORKS_BASE_URL or the SDK's
                timeout=float(self.settings.get("timeout", DEFAULT_TIMEOUT)),
                max_retries=0,  # ftspec retries (see the module docstring)
            )
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        """Run one SDK call with ftspec's retries; SDK errors become ``ProviderError``s."""
        return call_with_retries(lambda: self._call_once(what, fn, *args, **kwargs), retries=self.max_retries)

    def _call_once(self, what: str, fn, *args, **kwargs):
        import fireworks

        try:
            return fn(*args, **kwargs)
        except fireworks.APIStatusError as exc:
            status = exc.status_code
            message = (f"the API key in {self.api_key_env} was rejected" if status == 401
                       else _error_message(exc))
            raise ProviderError(f"{self.name}: {what} failed: HTTP {status}: {message}",
                                status=status, retry_after=_retry_after(exc)) from None
        except fireworks.APITimeoutError:
            raise ProviderError(f"{self.name}: {what} timed out", retryable=True) from None
        except fireworks.APIConnectionError as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            raise ProviderError(f"{self.name}: {what} failed: cannot connect ({cause})", retryable=True) from None

    def _get_or_none(self, what: str, fn, *args, **kwargs):
        try:
            return self._call(what, fn, *args, **kwargs)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise

    # ---- files (datasets) ------------------------------------------------------------------
    def upload(self, path: Path, *, idempotency_key: str, purpose: str = "fine-tune") -> RemoteFile:
        ds_id = dataset_id(idempotency_key)
        with tempfile.TemporaryDirectory(prefix="ftspec-fireworks-") as tmp:
            converted = Path(tmp) / f"{ds_id}.jsonl"
            sha, count = convert_file(path, converted)
            size = converted.stat().st_size
            if size > UPLOAD_MAX_BYTES:
                raise ProviderError(f"{self.name}: {path.name} is {size:,} bytes once converted; ftspec uploads "
                                    f"at most {UPLOAD_MAX_BYTES:,} (the single-request dataset upload)")
            self.last_upload_sha256 = sha  # what Fireworks receives
            existing = self._get_or_none("get dataset", self.client.datasets.get, ds_id)
            if existing is None:
                try:
                    existing = self._call("create dataset", self.client.datasets.create, dataset_id=ds_id, dataset={
                        "display_name": f"ftspec sha256 {sha[:16]}", "format": "CHAT",
                        "example_count": str(count), "user_uploaded": {}})
                except ProviderError as exc:
                    if exc.status != 409:  # 409: an earlier attempt created it
                        raise
                    existing = self._call("get dataset", self.client.datasets.get, ds_id)
            if existing.state != "READY":
                with open(converted, "rb") as fh:
                    self._call("upload dataset", self.client.datasets.upload, ds_id,
                               file=(converted.name, fh.read(), "application/jsonl"))
        ready = self._wait_dataset(ds_id)
        return _remote_file(ready, size)

    def _wait_dataset(self, ds_id: str):
        deadline = time.monotonic() + DATASET_READY_TIMEOUT_S
        while True:
            obj = self._call("get dataset", self.client.datasets.get, ds_id)
            code = getattr(obj.status, "code", None) if obj.status else None
            if code not in (None, "OK"):
                raise ProviderError(f"{self.name}: dataset {ds_id} was rejected: {code}: "
                                    f"{getattr(obj.status, 'message', '') or 'no message'}")
            if obj.state == "READY":
                return obj
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.name}: dataset {ds_id} not READY after {DATASET_READY_TIMEOUT_S:.0f} s")
            time.sleep(min(self.poll_interval, 2.0))

    def find_file(self, idempotency_key: str) -> RemoteFile | None:
        obj = self._get_or_none("get dataset", self.client.datasets.get, dataset_id(idempotency_key))
        if obj is None or obj.state != "READY" or getattr(obj.status, "code", "OK") not in (None, "OK"):
            return None  # not there, or never finished uploading: ``upload`` completes it
        return _remote_file(obj)

    def list_files(self) -> list[RemoteFile]:
        return [_remote_file(o) for o in self._call("list datasets", lambda: list(self.client.datasets.list(page_size=200)))]

    def delete_file(self, file_id: str) -> None:
        self._call("delete dataset", self.client.datasets.delete, _last(file_id))

    def owns_file(self, file: RemoteFile) -> bool:
        return _last(file.id).startswith(PREFIX)

    # ---- jobs ------------------------------------------------------------------------------
    def _scan(self, key: str) -> tuple[Job | None, str | None]:
        """The usable job under ``key`` (if any) and the first id not taken yet."""
        for jid in job_ids(key):
            obj = self._get_or_none("get job", self.client.supervised_fine_tuning_jobs.get, jid)
            if obj is None:
                return None, jid
            job = _job(obj)
            if usable_job(job):
                return job, None
        return None, None

    def create_job(self, request: JobRequest) -> Job:
        account = self.account

        def attempt() -> Job:
            # a retried create first looks for the job an earlier attempt may have made
            found, free = self._scan(request.idempotency_key)
            if found is not None:
                return found
            if free is None:
                raise ProviderError(f"{self.name}: {MAX_JOB_ATTEMPTS} jobs under key {request.idempotency_key} "
                                    "failed or were cancelled; fix the data or hyperparameters first")
            params = job_parameters(request, account, free)
            try:
                return _job(self._call_once("create job", self.client.supervised_fine_tuning_jobs.create, **params))
            except ProviderError as exc:
                if exc.status == 409:  # an earlier attempt made it and its answer was lost
                    return _job(self._call_once("get job", self.client.supervised_fine_tuning_jobs.get, free))
                raise

        return call_with_retries(attempt, retries=self.max_retries)

    def find_job(self, idempotency_key: str) -> Job | None:
        return self._scan(idempotency_key)[0]

    def get_job(self, job_id: str) -> Job:
        return _job(self._call("get job", self.client.supervised_fine_tuning_jobs.get, _last(job_id)))

    def list_events(self, job_id: str, *, limit: int = 100) -> list[JobEvent]:
        """Events derived from the job itself (Fireworks has no SFT events API): created,
        progress (a ``metrics`` event: percent done as step N/100, epoch), then how it ended."""
        obj = self._call("get job", self.client.supervised_fine_tuning_jobs.get, _last(job_id))
        job = _job(obj)
        created = _unix(obj.create_time)
        events = [JobEvent(id=f"{job.id}-created", created_at=created, level="info", message="job created")]
        progress = obj.job_progress
        if progress is not None and progress.percent is not None:
            data: dict[str, Any] = {"step": int(progress.percent), "total_steps": 100}
            if progress.epoch is not None:
                data["epoch"] = int(progress.epoch)
            events.append(JobEvent(id=f"{job.id}-progress-{progress.percent}", created_at=max(created, _unix(obj.update_time)),
                                   level="info", message=f"{progress.percent}% done (epoch {progress.epoch})",
                                   type="metrics", data=data))
        if job.done:
            level = "info" if job.status == "succeeded" else "error"
            message = f"job {str(obj.state).removeprefix('JOB_STATE_').lower()}"
            if obj.status is not None and obj.status.message:
                message += f": {obj.status.message}"
            events.append(JobEvent(id=f"{job.id}-end", created_at=max(created, job.finished_at or 0),
                                   level=level, message=message))
        return events[-limit:]

    def cancel_job(self, job_id: str) -> Job:
        self._call("cancel job", self.client.supervised_fine_tuning_jobs.cancel, _last(job_id), body={})
        return self.get_job(job_id)

    # ---- models ----------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Ready models of this account that ftspec's jobs produced (named ``ftspec-*``)."""
        models = self._call("list models", lambda: list(self.client.models.list(page_size=200)))
        return sorted(m.name for m in models if m.name and _last(m.name).startswith(PREFIX) and m.state == "READY")

    def owns_model(self, model_id: str) -> bool:
        return _last(model_id).startswith(PREFIX) and model_id in self.list_models()

    def model_status(self, model_id: str) -> dict[str, Any]:
        obj = self._get_or_none("get model", self.client.models.get, _last(model_id))
        return {"exists": obj is not None and obj.state == "READY", "shutdown_date": None}

    def delete_model(self, model_id: str) -> None:
        self._call("delete model", self.client.models.delete, _last(model_id))

    # ---- deployments -----------------------------------------------------------------------
    def _deployment(self, obj) -> Deployment:
        state = DEPLOY_STATE.get(str(obj.state), str(obj.state).lower())
        name = obj.name or ""
        return Deployment(id=_last(name), model=obj.base_model, served_model=f"{obj.base_model}#{name}",
                          state=state, created_at=_unix(obj.create_time))

    def find_deployment(self, model_id: str) -> Deployment | None:
        obj = self._get_or_none("get deployment", self.client.deployments.get, deployment_id(model_id))
        if obj is None:
            return None
        dep = self._deployment(obj)
        return dep if dep.live else None

    def deploy(self, model_id: str) -> Deployment:
        """A dedicated deployment of ``model_id`` (live merge: one replica on
        ``providers.fireworks.deployment.accelerator_type``, H100 by default)."""
        found = self.find_deployment(model_id)
        if found is not None:
            return found
        cfg = dict(self.settings.get("deployment") or {})
        dep_id = deployment_id(model_id)
        params: dict[str, Any] = {
            "deployment_id": dep_id, "base_model": model_id,
            "accelerator_type": cfg.get("accelerator_type", DEFAULT_ACCELERATOR),
            "min_replica_count": int(cfg.get("min_replicas", 1)), "max_replica_count": int(cfg.get("max_replicas", 1)),
            "display_name": f"ftspec {_last(model_id)}"[:60],
        }
        if cfg.get("accelerator_count"):
            params["accelerator_count"] = int(cfg["accelerator_count"])
        try:
            obj = self._call("create deployment", self.client.deployments.create, **params)
        except ProviderError as exc:
            if exc.status != 409:  # 409: an earlier attempt created it
                raise
            obj = self._call("get deployment", self.client.deployments.get, dep_id)
        return self._deployment(obj)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._deployment(self._call("get deployment", self.client.deployments.get, _last(deployment_id)))

    def wait_deployment(self, deployment_id: str, timeout: float = DEPLOY_READY_TIMEOUT_S) -> Deployment:
        deadline = time.monotonic() + timeout
        while True:
            dep = self.get_deployment(deployment_id)
            if dep.state == "ready":
                return dep
            if not dep.live:
                raise ProviderError(f"{self.name}: deployment {deployment_id} is {dep.state}")
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.name}: deployment {deployment_id} not ready after {timeout:.0f} s")
            time.sleep(self.poll_interval)

    def undeploy(self, deployment_id: str) -> None:
        try:
            # ignore_checks: otherwise Fireworks refuses to delete one that served traffic within the hour
            self._call("delete deployment", self.client.deployments.delete, _last(deployment_id), ignore_checks=True)
        except ProviderError as exc:
            if exc.status != 404:
                raise

    def list_deployments(self) -> list[Deployment]:
        found = self._call("list deployments", lambda: list(self.client.deployments.list(page_size=200)))
        return [d for d in map(self._deployment, found) if d.live]

    def owns_deployment(self, deployment: Deployment) -> bool:
        return deployment.id.startswith(PREFIX)

    # ---- inference -------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        params: dict[str, Any] = {"model": request.model}
        if request.n != 1:
            params["n"] = request.n
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "stop", "seed"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        start = time.perf_counter()
        if request.messages is not None:
            resp = self._call("chat", self.client.chat.completions.create, messages=request.messages, **params)
            texts = [(c.message.content if c.message else "") or "" for c in resp.choices]
        else:
            resp = self._call("completion", self.client.completions.create, prompt=request.prompt or "", **params)
            texts = [c.text or "" for c in resp.choices]
        latency = time.perf_counter() - start
        order = sorted(range(len(resp.choices)), key=lambda i: resp.choices[i].index or 0)
        usage = resp.usage
        return ChatResult(
            choices=[str(texts[i]) for i in order],
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
            latency_s=latency,
            finish_reasons=[str(resp.choices[i].finish_reason or "") for i in order],
        )

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        raise ProviderError(f"provider '{self.name}' does not embed; use an embeddings provider for this scorer")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _error_message(exc) -> str:
    """``error.message``, then a bare ``message`` (both shapes appear in Fireworks' fixtures)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return str(getattr(exc, "message", "") or type(exc).__name__).splitlines()[0][:300]


def _retry_after(exc) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds), when the server sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            continue  # an HTTP date: fall back to ftspec's own backoff
    return None


def _unix(value: Any) -> int:
    if value is None:
        return 0
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    return int(value) if isinstance(value, (int, float)) else 0


def _remote_file(obj, size: int = 0) -> RemoteFile:
    name = obj.name or ""
    return RemoteFile(id=name, filename=_last(name), bytes=size, purpose="fine-tune", created_at=_unix(obj.create_time))


def _job(obj) -> Job:
    raw = str(obj.state or "JOB_STATE_UNSPECIFIED")
    status = STATUS.get(raw, raw.removeprefix("JOB_STATE_").lower())
    hp = {k: v for k, v in (("n_epochs", obj.epochs), ("batch_size", obj.batch_size_samples),
                             ("learning_rate", obj.learning_rate), ("lora_rank", obj.lora_rank)) if v is not None}
    error = None
    if status == "failed":
        st = obj.status
        error = {"code": str(getattr(st, "code", None) or raw), "param": None,
                 "message": (getattr(st, "message", None) or "the job failed (see ftspec events)")}
    created = _unix(obj.create_time)
    estimated = None
    progress = obj.job_progress
    if status == "running" and progress is not None and progress.percent and created:
        elapsed = max(0.0, time.time() - created)
        estimated = int(time.time() + elapsed * (100 - progress.percent) / progress.percent)
    finished = _unix(obj.completed_time) or _unix(obj.update_time)
    return Job(
        id=_last(obj.name or ""), status=status, model=obj.base_model or "",
        fine_tuned_model=obj.output_model if status == "succeeded" else None,
        trained_tokens=None, created_at=created, estimated_finish=estimated,
        finished_at=finished if status in ("succeeded", "failed", "cancelled") else None,
        hyperparameters=hp, error=error, training_file=obj.dataset, validation_file=obj.evaluation_dataset or None,
    )
