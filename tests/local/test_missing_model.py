"""A local model whose files left this machine (a cleaned store, another user's checkout) is
stale, never "up to date", and a rebuild trains it again (no remote holds it here).

Real CLI subprocesses and the tiny model trained for real (one epoch, twice)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ftspec.testing.tiny_model import write_local_spec

from .conftest import support_records, write_jsonl


def _ftspec(project: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FTSPEC_LOCAL_STORE": str(store), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def _status(project: Path, store: Path) -> dict[str, dict]:
    done = _ftspec(project, store, "status", "--json", "support.yaml")
    assert done.returncode == 0, done.stderr
    [spec] = json.loads(done.stdout)
    return {t["task"].split(".", 1)[1]: t for t in spec["tasks"]} | {"summary": spec["summary"]}


def test_missing_model_files_make_the_model_stale_and_a_rebuild_retrains(tmp_path, tiny_model, store):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_jsonl(project / "data" / "support.jsonl", support_records())
    write_local_spec(project / "support.yaml", tiny_model, name="support", data="data/support.jsonl",
                     system="You are Acme support.", validation=0.0, batch_size=4)
    first = _ftspec(project, store, "build", "support.yaml")
    assert first.returncode == 0, first.stderr
    model = json.loads((project / "support.lock").read_text(encoding="utf-8"))["model"]
    assert _status(project, store)["summary"] == "up to date"

    shutil.rmtree(store / "models" / model.rsplit(":", 1)[1])  # only the model's files are gone
    status = _status(project, store)
    assert status["job"]["uptodate"] is False and status["job"]["reasons"] == ["model files missing"]
    assert status["job"]["reuse"] is None  # the recorded job names files that are not here
    assert status["upload"]["uptodate"] and status["summary"] != "up to date"
    text = _ftspec(project, store, "status", "support.yaml")
    assert "stale: model files missing" in text.stdout, text.stdout

    shutil.rmtree(store)  # the whole store: uploaded files, keys, jobs and models
    status = _status(project, store)
    assert status["upload"]["reasons"] == ["uploaded files missing on this machine (train)"]
    assert status["job"]["reasons"][-1] == "model files missing"

    rebuilt = _ftspec(project, store, "build", "support.yaml")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "uploaded train" in rebuilt.stderr  # the upload's receipt named a file the store lost
    assert "is not on this machine and no remote is configured" in rebuilt.stderr
    assert "created job" in rebuilt.stderr  # trained again: nothing else holds the model
    new_model = json.loads((project / "support.lock").read_text(encoding="utf-8"))["model"]
    assert new_model != model
    assert _status(project, store)["summary"] == "up to date"


def test_a_succeeded_job_whose_model_was_deleted_is_not_found_for_reuse(tmp_path):
    from ftspec.providers.local.provider import LocalProvider

    provider = LocalProvider({"store": str(tmp_path / "store")})
    store = provider.store
    job_id = store.new_job_id()
    store.job_dir(job_id).mkdir(parents=True)
    store.write_job({"id": job_id, "status": "succeeded", "model": "base", "created_at": 0,
                     "fine_tuned_model": f"ft:base:local:support:{job_id}", "idempotency_key": "key-1"})
    store.remember_key("jobs", "key-1", job_id)
    store.model_dir(job_id).mkdir(parents=True)
    (store.model_dir(job_id) / "manifest.json").write_text("{}", encoding="utf-8")
    assert provider.find_job("key-1").id == job_id
    store.delete_model(job_id)
    assert provider.find_job("key-1") is None  # a rebuild trains it again instead of reusing it
