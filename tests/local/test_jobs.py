"""Job semantics of the local provider: a real detached worker process per job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftspec.errors import ProviderError
from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest, JobRequest

from .conftest import support_records, write_jsonl

TIMEOUT_S = 240


def wait_for(provider, job_id, until, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = provider.get_job(job_id)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if until(job):
            return job, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached the condition; statuses {seen}")


def request(provider, tmp_path, *, key, n=12, epochs=2, validation=False, **extra):
    train = provider.upload(write_jsonl(tmp_path / f"{key}-train.jsonl", support_records(n)), idempotency_key=f"{key}-t")
    valid = None
    if validation:
        valid = provider.upload(write_jsonl(tmp_path / f"{key}-valid.jsonl", support_records(3)[::-1]),
                                idempotency_key=f"{key}-v")
    return JobRequest(
        model=extra.pop("model"), training_file=train.id, validation_file=valid.id if valid else None,
        idempotency_key=key, suffix="support",
        hyperparameters={"n_epochs": epochs, "batch_size": 4, "learning_rate_multiplier": 5.0},
        extras={"lora_r": 4, "target_modules": ["q_proj", "v_proj"], "seed": 3, **extra},
    )


def test_upload_is_content_addressed_and_findable(tmp_path, store):
    provider = get_provider("local", {})
    path = write_jsonl(tmp_path / "a.jsonl", support_records(2))
    first = provider.upload(path, idempotency_key="key-1")
    again = provider.upload(path, idempotency_key="key-2")
    assert first.id == again.id and first.bytes == path.stat().st_size
    assert provider.find_file("key-1").id == first.id and provider.find_file("nope") is None
    assert (store / "files" / f"{first.id}.jsonl").read_bytes() == path.read_bytes()
    assert [f.id for f in provider.list_files()] == [first.id]
    provider.delete_file(first.id)
    assert provider.list_files() == []


def test_job_runs_in_a_worker_that_outlives_its_creator(tmp_path, store, tiny_model):
    provider = get_provider("local", {})
    req = request(provider, tmp_path, key="life", validation=True, model=tiny_model)
    # create the job from another process that exits at once: the job must go on without it
    code = (
        "import json, sys\n"
        "from ftspec.providers import get_provider\n"
        "from ftspec.providers.base import JobRequest\n"
        "job = get_provider('local', {}).create_job(JobRequest(**json.loads(sys.argv[1])))\n"
        "print(job.id, job.status)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(req.__dict__)], capture_output=True,
                         text=True, timeout=120, env=os.environ.copy(), check=True)
    job_id, first_status = out.stdout.split()
    assert first_status == "validating_files"
    job, statuses = wait_for(provider, job_id, lambda j: j.done)
    assert job.status == "succeeded", (job.error, (store / "jobs" / job_id / "worker.log").read_text())
    assert statuses[-1] == "succeeded" and set(statuses) <= {"validating_files", "queued", "running", "succeeded"}
    assert job.fine_tuned_model == f"ft:tiny-gemma0:local:support:{job_id}"
    assert job.hyperparameters == {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 5.0}
    assert job.trained_tokens > 0 and job.estimated_finish is not None

    events = provider.list_events(job_id, limit=1000)
    metrics = [e.data for e in events if e.type == "metrics"]
    steps = [m for m in metrics if "train_loss" in m]
    assert [m["step"] for m in steps] == list(range(1, 7)) and steps[0]["total_steps"] == 6
    assert all(m["tokens_per_s"] > 0 and m["device"] == "cpu" for m in steps)
    assert len([m for m in metrics if m.get("valid_loss") is not None]) == 2  # once per epoch
    assert len(provider.list_events(job_id, limit=3)) == 3

    job_dir = store / "jobs" / job_id
    assert sorted(p.name for p in (job_dir / "checkpoints").iterdir()) == ["epoch-1", "epoch-2"]
    manifest = json.loads((store / "models" / job_id / "manifest.json").read_text())
    assert manifest["model"] == job.fine_tuned_model and manifest["device"] == "cpu"
    assert manifest["base"]["kind"] == "folder" and len(manifest["base"]["sha256"]) == 64
    assert manifest["training_file"]["sha256"] and manifest["hyperparameters"]["lora_r"] == 4
    assert manifest["hyperparameters"]["learning_rate"] == pytest.approx(1e-3)
    assert manifest["metrics"]["valid_loss"] is not None

    # idempotency: same key -> the same job, no second worker
    assert provider.find_job("life").id == job_id
    assert provider.create_job(req).id == job_id
    assert provider.list_models() == [job.fine_tuned_model]

    result = provider.chat(ChatRequest(model=job.fine_tuned_model, temperature=0, max_tokens=5,
                                       messages=[{"role": "user", "content": "How do I reset my password?"}]))
    assert len(result.choices) == 1
    provider.delete_model(job.fine_tuned_model)
    assert provider.list_models() == []
    with pytest.raises(ProviderError, match="local model not found"):
        provider.chat(ChatRequest(model=job.fine_tuned_model, prompt="x"))


def long_job(provider, tmp_path, key, tiny_model):
    req = request(provider, tmp_path, key=key, n=64, epochs=50, model=tiny_model)
    req.hyperparameters["batch_size"] = 1
    job = provider.create_job(req)
    wait_for(provider, job.id, lambda j: j.status == "running" and any(
        e.type == "metrics" for e in provider.list_events(job.id)))
    return job


def test_cancel_stops_the_worker(tmp_path, store, tiny_model):
    provider = get_provider("local", {})
    job = long_job(provider, tmp_path, "cancel", tiny_model)
    cancelled = provider.cancel_job(job.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    assert provider.get_job(job.id).status == "cancelled"
    assert provider.find_job("cancel") is None  # a cancelled job is not reused
    assert not (store / "models" / job.id).exists()
    assert provider.cancel_job(job.id).status == "cancelled"  # idempotent


def test_killed_worker_marks_the_job_failed(tmp_path, store, tiny_model):
    provider = get_provider("local", {})
    job = long_job(provider, tmp_path, "kill", tiny_model)
    pid = json.loads((store / "jobs" / job.id / "job.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    # a fresh provider (another ftspec process) sees the dead pid
    other = get_provider("local", {})
    failed, _ = wait_for(other, job.id, lambda j: j.done, timeout=30)
    assert failed.status == "failed"
    assert failed.error["code"] == "worker_died"
    assert failed.error["message"].startswith(f"worker process {pid} died")
    assert "while the job was running" in failed.error["message"]
    assert provider.get_job(job.id).status == "failed"  # stays failed, never running again
    assert any(e.level == "error" for e in other.list_events(job.id))


def test_invalid_training_file_fails_with_its_line(tmp_path, store, tiny_model):
    provider = get_provider("local", {})
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(support_records(1)[0]) + "\n{not json\n", encoding="utf-8")
    file = provider.upload(bad, idempotency_key="bad")
    job = provider.create_job(JobRequest(model=tiny_model, training_file=file.id, idempotency_key="bad-job",
                                         hyperparameters={"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1}))
    job, _ = wait_for(provider, job.id, lambda j: j.done)
    assert job.status == "failed"
    assert job.error == {"code": "invalid_training_file", "param": None,
                         "message": "training file line 2: invalid JSON: Expecting property name enclosed in double quotes"}


def test_create_job_rejects_unknown_files_and_models(tmp_path, tiny_model):
    provider = get_provider("local", {})
    with pytest.raises(ProviderError, match="^local file not found: file-nope$"):
        provider.create_job(JobRequest(model=tiny_model, training_file="file-nope", idempotency_key="x"))
    with pytest.raises(ProviderError, match="^base model folder not found: ./missing$"):
        provider.create_job(JobRequest(model="./missing", training_file="file-nope", idempotency_key="y"))
    with pytest.raises(ProviderError, match="^local job not found: ftjob-nope$"):
        provider.get_job("ftjob-nope")


def test_store_setting_is_relative_to_the_project(tmp_path):
    provider = get_provider("local", {"store": "state/store"}, project_root=tmp_path)
    assert provider.store.root == tmp_path / "state" / "store" and Path(provider.store.root, "jobs").is_dir()


def test_relative_base_model_resolves_from_the_project_root(tmp_path, tiny_model):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "models" / "tiny")
    provider = get_provider("local", {}, project_root=tmp_path)
    assert provider.base_model("models/tiny") == str((tmp_path / "models" / "tiny").resolve())
    assert provider.model_info("models/tiny").context_limit == 512
    assert provider.base_model("gemma-3-270m") == "gemma-3-270m"
