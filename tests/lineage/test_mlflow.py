"""MLflow tracking against a real tracking server on 127.0.0.1 (started by the fixtures, sqlite
backend): a tiny-model build makes one run with the job's parameters, per-step loss history, eval
metrics, artifacts and a registered model version; a no-op rebuild makes no new run; a server
killed mid-build leaves the build succeeding with a warning, and ``ftspec track`` backfills it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the tracking tests need mlflow (pip install '.[test]')")

EVALS = """\
evals:
  - name: smoke
    cases: data/smoke.jsonl
    sampling: {max_tokens: 6, seed: 1}
    scorers:
      - contains: {field: must_include}
"""


def _tracked(project: Path, experiment: str) -> Path:
    cases = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"}],
              "must_include": ["Settings"]} for i in range(2)]
    (project / "data" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    spec = project / "parent.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + EVALS + f"tracking: {{mlflow: {{experiment: {experiment}}}}}\n",
                    encoding="utf-8")
    return spec


def _runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def _events(project: Path, job_id: str) -> list[dict]:
    log = project / ".ftspec" / "logs" / "parent" / f"{job_id}.events.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_build_logs_one_run_and_a_noop_rebuild_logs_nothing(project, ftspec, mlflow_server):
    _tracked(project, "lineage")
    env = {"MLFLOW_TRACKING_URI": mlflow_server.uri}
    built = ftspec(project, "build", "parent.yaml", "--json", env=env)
    assert built.returncode == 0, built.stderr
    assert "parent: tracked in mlflow: run " in built.stderr and "tracking failed" not in built.stderr
    assert json.loads(built.stdout)["specs"]["parent"]["model"]  # stdout stays pure JSON
    lock_text = (project / "parent.lock").read_text(encoding="utf-8")
    lock = json.loads(lock_text)

    client = mlflow_server.client()
    (run,) = _runs(client, "lineage")
    tags, params = run.data.tags, run.data.params
    assert tags["ftspec.job_key"] == lock["job"]["key"] and tags["ftspec.model"] == lock["model"]
    assert tags["ftspec.lock_sha256"] == hashlib.sha256(lock_text.encode()).hexdigest()
    assert params["provider"] == "local" and params["base_model"] == lock["base_model"]
    assert params["dataset_sha256"] == lock["dataset"]["sha256"] and params["spec_sha256"] == lock["spec_sha256"]
    assert params["hyperparameters.n_epochs"] == str(lock["job"]["hyperparameters"]["n_epochs"])
    assert run.info.status == "FINISHED"

    # the loss history is the job's own per-step metrics events, step for step
    reported = {(e["data"]["step"], e["data"]["train_loss"]) for e in _events(project, lock["job"]["id"])
                if e["type"] == "metrics" and e["data"].get("train_loss") is not None}
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert {(m.step, m.value) for m in history} == reported and len(reported) >= 2
    assert client.get_metric_history(run.info.run_id, "valid_loss")
    assert run.data.metrics["eval/smoke/pass_rate"] == lock["evals"]["smoke"]["pass_rate"]

    listed = {a.path for folder in ("ftspec", "dataset", "evals", "model")
              for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"ftspec/parent.lock", "dataset/manifest.json", "evals/smoke.json", "evals/smoke.html",
            "model/adapter_model.safetensors", "model/ftspec-model.json"} <= listed
    copy = Path(client.download_artifacts(run.info.run_id, "ftspec/parent.lock", str(project / "dl")))
    assert copy.read_text(encoding="utf-8") == lock_text

    (version,) = client.search_model_versions("name='parent'")
    assert version.run_id == run.info.run_id
    assert version.tags["provider"] == "local" and version.tags["model_id"] == lock["model"]
    assert version.tags["lock_sha256"] == tags["ftspec.lock_sha256"]

    again = ftspec(project, "build", "parent.yaml", "--json", env=env)  # no-op: not even a server call
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == [] and "tracked" not in again.stderr

    for marker in (project / ".ftspec" / "tracking").iterdir():  # forget it: the server's tag answers
        marker.unlink()
    again = ftspec(project, "build", "parent.yaml", "--json", env=env)
    assert again.returncode == 0 and f"run {run.info.run_id}" in again.stderr
    backfill = ftspec(project, "track", "parent.yaml", "--json", env=env)
    assert backfill.returncode == 0, backfill.stderr
    assert json.loads(backfill.stdout) == {"runs": {"parent": {"mlflow": run.info.run_id}}}
    assert len(_runs(client, "lineage")) == 1 and len(client.search_model_versions("name='parent'")) == 1
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == len(history)  # nothing twice


def test_server_killed_mid_build_warns_and_track_backfills(project, ftspec, mlflow_server, doomed_mlflow_server,
                                                           tmp_path):
    import os

    _tracked(project, "doomed")
    env = {**os.environ, "FTSPEC_LOCAL_STORE": str(tmp_path / "store"), "FTSPEC_RAISE_ERRORS": "",
           "HF_HUB_OFFLINE": "1", "MLFLOW_TRACKING_URI": doomed_mlflow_server.uri}
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "build", "parent.yaml"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    receipts = project / ".ftspec" / "receipts"
    deadline = time.monotonic() + 300
    while not list(receipts.glob("*/jobs/*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    doomed_mlflow_server.stop()  # the job exists and trains: the server goes away mid-build
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "parent: warning: mlflow tracking failed (" in err and "`ftspec track parent.yaml` logs it later" in err
    assert "Traceback" not in err
    lock = json.loads((project / "parent.lock").read_text(encoding="utf-8"))  # the build's result stands
    assert lock["model"] and lock["evals"]["smoke"]["report"]

    live = {"MLFLOW_TRACKING_URI": mlflow_server.uri}
    down = ftspec(project, "track", "parent.yaml", env={"MLFLOW_TRACKING_URI": doomed_mlflow_server.uri})
    assert down.returncode == 1 and "mlflow tracking failed" in down.stderr and "Traceback" not in down.stderr
    backfill = ftspec(project, "track", "parent.yaml", env=live)
    assert backfill.returncode == 0, backfill.stderr
    client = mlflow_server.client()
    (run,) = _runs(client, "doomed")
    assert run.data.tags["ftspec.job_key"] == lock["job"]["key"]
    assert client.get_metric_history(run.info.run_id, "train_loss")
    again = ftspec(project, "build", "parent.yaml", env=live)  # backfilled: the rebuild logs nothing
    assert again.returncode == 0 and "tracked" not in again.stderr and len(_runs(client, "doomed")) == 1
