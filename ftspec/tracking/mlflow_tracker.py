"""MLflow: one run per ftspec job, found again by the tag holding the job's idempotency key.

Settings (``tracking.mlflow`` in the spec): ``experiment`` (default ``ftspec``),
``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``), ``registered_model`` (default the spec's
name). Uses only ``MlflowClient`` (no fluent global state), so the skinny client suffices
against a tracking server.

Idempotent and resumable: the run is created with its key tag in one call; the parameters and
loss history are logged once (tag ``ftspec.history``); eval metrics, artifacts and the model
version follow; the lockfile's sha256 is tagged last, so a run carrying the current lock sha is
complete and nothing is logged again, and a run a crash left half-logged is finished, not
duplicated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ftspec.errors import FtspecError
from ftspec.tracking import TRACKERS, TrackRecord

KEY_TAG = "ftspec.job_key"
LOCK_TAG = "ftspec.lock_sha256"
HISTORY_TAG = "ftspec.history"
DEFAULT_EXPERIMENT = "ftspec"
BATCH = 900  # MLflow's log_batch takes at most 1000 metrics and 100 params per call
PARAM_BATCH = 90

# A tracking server that is down must cost a build seconds, not MLflow's default of 7 retries
# with exponential backoff and a 120 s timeout each. The user's own settings win.
# MLflow also prints run links to stdout, which `--json` output must not carry.
QUICK_FAILURE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "15", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def tracking_uri(settings: Mapping[str, Any]) -> str | None:
    return settings.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or None


@TRACKERS.register("mlflow")
class MlflowTracker:
    name = "mlflow"

    def log(self, record: TrackRecord, settings: Mapping[str, Any]) -> str:
        for key, value in QUICK_FAILURE.items():
            os.environ.setdefault(key, value)
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise FtspecError("MLflow tracking needs the mlflow client: pip install 'ftspec[mlflow]'") from None
        uri = tracking_uri(settings)
        if not uri:
            raise FtspecError("MLflow tracking has no tracking URI: set MLFLOW_TRACKING_URI or tracking.mlflow.tracking_uri")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        run = self._run(client, record, str(settings.get("experiment") or DEFAULT_EXPERIMENT))
        run_id = run.info.run_id
        tags = run.data.tags
        if tags.get(LOCK_TAG) == record.lock_sha256:
            return run_id  # complete for this lockfile: nothing to log
        if tags.get(HISTORY_TAG) != "logged":
            self._params_and_history(client, run_id, record)
        self._eval_metrics(client, run_id, record)
        for path, folder in record.artifacts:
            if path.is_dir():
                client.log_artifacts(run_id, str(path), folder)
            elif path.is_file():
                client.log_artifact(run_id, str(path), folder)
        client.log_dict(run_id, {"model": record.model, "provider": record.provider, "base_model": record.base_model,
                                 "parent_model": record.parent_model, "job_id": record.job_id}, "model/ftspec-model.json")
        if record.model_artifact is not None and record.model_artifact.is_dir():
            client.log_artifacts(run_id, str(record.model_artifact), "model")
        self._register(client, run, record, str(settings.get("registered_model") or record.spec))
        client.set_terminated(run_id, "FINISHED")
        client.set_tag(run_id, LOCK_TAG, record.lock_sha256)  # last: the run is complete
        return run_id

    def _run(self, client, record: TrackRecord, experiment: str):
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
        runs = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{record.job_key}'",
                                  max_results=1, order_by=["attributes.start_time ASC"])
        if runs:
            return runs[0]
        tags = {KEY_TAG: record.job_key, "ftspec.spec": record.spec, "ftspec.spec_path": record.spec_path,
                "ftspec.provider": record.provider, "ftspec.job_id": record.job_id,
                "ftspec.model": record.model or "", **record.tags}
        if record.parent_model:
            tags["ftspec.parent_model"] = record.parent_model
        return client.create_run(experiment_id, run_name=f"{record.spec}-{record.job_id}", tags=tags)

    def _params_and_history(self, client, run_id: str, record: TrackRecord) -> None:
        from mlflow.entities import Metric, Param

        params = [Param(k, str(v)[:6000]) for k, v in sorted(record.params.items())]
        for i in range(0, len(params), PARAM_BATCH):
            client.log_batch(run_id, params=params[i : i + PARAM_BATCH])
        metrics = [Metric(name, value, ms, step) for name, step, value, ms in record.history]
        for i in range(0, len(metrics), BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + BATCH])
        client.set_tag(run_id, HISTORY_TAG, "logged")

    def _eval_metrics(self, client, run_id: str, record: TrackRecord) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in sorted(record.metrics.items())]
        for i in range(0, len(metrics), BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + BATCH])

    def _register(self, client, run, record: TrackRecord, name: str) -> None:
        """A version of the registered model named after the spec, for this run; its tags say
        which provider, model and lockfile it is (the lineage the MLflow UI shows)."""
        from mlflow.exceptions import MlflowException

        try:
            client.create_registered_model(name, tags={"ftspec.spec": record.spec},
                                           description=f"models built by ftspec from {record.spec_path}")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {"provider": record.provider, "model_id": record.model or "", "lock_sha256": record.lock_sha256,
                "job_id": record.job_id, "base_model": record.base_model}
        if record.parent_model:
            tags["parent_model"] = record.parent_model
        run_id = run.info.run_id
        versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        if versions:
            for key, value in tags.items():
                client.set_model_version_tag(name, versions[0].version, key, value)
            return
        client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run_id, tags=tags,
                                    description=record.model or "", await_creation_for=0)
