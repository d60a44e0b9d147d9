"""``executor: {ray: ...}``: the local trainer on a real Ray head (127.0.0.1, 2 CPUs, gloo).

One head for the module (``ray_cluster``, tests/local/conftest.py). Each test builds or trains
the tiny random Gemma on 2 Ray Train workers and checks what the issue promises: the same model
as one process, one Ray job per key across a killed build, a killed worker resumed from its
checkpoint, and bad settings refused before anything is submitted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftspec.errors import ProviderError
from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest, JobRequest
from ftspec.testing.ray_cluster import free_port

from .conftest import support_records, write_jsonl

pytestmark = pytest.mark.slow
TIMEOUT_S = 300
# Summing the gradients of 2 ranks adds them in another order than one process does (and bf16
# autocast rounds the smaller packed rows differently): the loss curves agree to rounding noise,
# inside this relative bound (measured on the tiny model: 6e-5 at a loss of 6.0).
LOSS_TOLERANCE = 1e-4


def ray_jobs(cluster, key: str | None = None) -> list:
    from ray.job_submission import JobSubmissionClient

    jobs = JobSubmissionClient(cluster.address).list_jobs()
    return [j for j in jobs if key is None or (j.metadata or {}).get("ftspec_key") == key]


def wait_done(provider, job_id: str, timeout: float = TIMEOUT_S, until=lambda job: job.done):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = provider.get_job(job_id)
        if until(job):
            return job
        time.sleep(1.0)
    raise AssertionError(f"job {job_id} still {provider.get_job(job_id).status} after {timeout} s")


def loss_curve(provider, job_id: str) -> dict[int, float]:
    curve: dict[int, float] = {}
    for e in provider.list_events(job_id, limit=10_000):
        if e.type == "metrics" and e.data.get("train_loss") is not None:
            curve[e.data["step"]] = e.data["train_loss"]  # a resumed run repeats steps: the last counts
    return curve


def job_request(provider, tmp_path: Path, *, key: str, model: str, executor, n: int = 12, batch: int = 4,
                epochs: int = 2) -> JobRequest:
    train = provider.upload(write_jsonl(tmp_path / f"{key}-train.jsonl", support_records(n)), idempotency_key=f"{key}-t")
    valid = provider.upload(write_jsonl(tmp_path / f"{key}-valid.jsonl", support_records(3)[::-1]), idempotency_key=f"{key}-v")
    local = {"lora_r": 4, "target_modules": ["q_proj", "v_proj"], "seed": 3, "executor": executor}
    return JobRequest(model=model, training_file=train.id, validation_file=valid.id, idempotency_key=key, suffix="support",
                      hyperparameters={"n_epochs": epochs, "batch_size": batch, "learning_rate_multiplier": 5.0},
                      extras={"hyperparameters": local})


def ftspec(cwd: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_bad_settings_are_refused_before_anything_is_submitted(ray_cluster, tmp_path, tiny_model, store):
    provider = get_provider("local", {})
    before = len(ray_jobs(ray_cluster))
    dead = f"http://127.0.0.1:{free_port()}"
    cases = [
        ({"ray": {"address": dead}}, f"cannot reach the Ray cluster at {dead}"),
        ({"ray": {"address": ray_cluster.address, "use_gpu": True}},
         f"hyperparameters.local.executor.ray.use_gpu: true, but the Ray cluster at {ray_cluster.address} has no GPUs"),
        ({"ray": {"address": ray_cluster.address, "num_workers": 3}},
         "hyperparameters.local.executor.ray.num_workers: 3 workers (1 CPU each) do not fit the Ray cluster"),
        ({"ray": {"address": "http://10.0.0.9:8265"}}, "hyperparameters.local.executor.ray.storage_path: required"),
        ({"dask": {}}, "hyperparameters.local.executor: unknown local executor 'dask'"),
    ]
    for i, (executor, message) in enumerate(cases):
        req = job_request(provider, tmp_path, key=f"bad-{i}", model=tiny_model, executor=executor)
        with pytest.raises(ProviderError) as info:
            provider.create_job(req)
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert provider.list_jobs() == [] and len(ray_jobs(ray_cluster)) == before


def test_cancel_stops_the_ray_job_and_it_is_never_reused(ray_cluster, tmp_path, tiny_model, store):
    provider = get_provider("local", {})
    ray = {"ray": {"address": ray_cluster.address, "num_workers": 1}}
    job = provider.create_job(job_request(provider, tmp_path, key="cancel", model=tiny_model, executor=ray))
    job = provider.cancel_job(job.id)
    assert job.status == "cancelled", (job.status, job.error)
    assert [j.status.value for j in ray_jobs(ray_cluster, "cancel")] == ["STOPPED"]
    assert provider.find_job("cancel") is None  # the next build makes a new job


def test_a_job_ray_failed_is_marked_failed_with_rays_reason_and_never_reused(ray_cluster, tmp_path, tiny_model, store):
    provider = get_provider("local", {})
    req = job_request(provider, tmp_path, key="broken", model=tiny_model, executor={"ray": {"address": ray_cluster.address}})
    bad = tmp_path / "broken.jsonl"
    bad.write_text("this is not json\n", encoding="utf-8")  # uploads take any bytes; the job reads them
    req.training_file = provider.upload(bad, idempotency_key="broken-bad").id
    job = wait_done(provider, provider.create_job(req).id)
    assert job.status == "failed" and job.error["code"] == "ray_job_failed", job.error
    message = job.error["message"]
    assert "\n" not in message and "exit code 1" in message and "training file line 1: invalid JSON" in message, message
    assert [j.status.value for j in ray_jobs(ray_cluster, "broken")] == ["FAILED"]
    assert provider.find_job("broken") is None  # never reused: the next build makes a new job


def test_bad_executor_in_a_spec_is_a_located_error(tmp_path):
    made = ftspec(tmp_path, "init", "demo")
    assert made.wait(timeout=120) == 0, made.stderr.read()
    path = tmp_path / "demo" / "specs" / "demo.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["hyperparameters"]["local"] = {"executor": {"ray": {"address": "http://127.0.0.1:8265", "num_workers": 0}}}
    text = yaml.safe_dump(spec, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == "num_workers: 0")
    done = ftspec(path.parent.parent, "validate", "specs/demo.yaml")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1, out + err
    assert f"demo.yaml:{line}:" in err and "executor.ray.num_workers: 0 is less than the minimum of 1" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_two_ray_workers_with_one_killed_train_the_single_process_model(ray_cluster, tmp_path, tiny_model, store):
    """The same model: 2 Ray Train workers, one SIGKILLed after a checkpoint (the group restarts
    from it at the next step, not at epoch 1), against one process on the same data and seed."""
    from ray.util.state import list_actors

    provider = get_provider("local", {})
    shape = {"n": 16, "batch": 2, "epochs": 2}  # 16 steps, a checkpoint every 2
    alone = provider.create_job(job_request(provider, tmp_path, key="same-process", model=tiny_model,
                                            executor="process", **shape))
    ray = {"ray": {"address": ray_cluster.address, "num_workers": 2, "checkpoint_every": 2, "max_failures": 2,
                   "eval_min_requests": 4}}
    job = provider.create_job(job_request(provider, tmp_path, key="same-ray", model=tiny_model, executor=ray, **shape))
    assert [j.submission_id for j in ray_jobs(ray_cluster, "same-ray")] == [f"ftspec-same-ray-{job.id}"]

    # kill after the second checkpoint: by then Ray Train's controller has registered the first
    checkpointed = lambda j: j.done or any((e.data.get("checkpoint_step") or 0) >= 4  # noqa: E731
                                           for e in provider.list_events(j.id, limit=10_000))
    assert not wait_done(provider, job.id, until=checkpointed).done, "finished before a checkpoint could be interrupted"
    workers = list_actors(address=ray_cluster.address, filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
    assert len(workers) == 2
    os.kill(workers[-1].pid, signal.SIGKILL)

    alone, job = wait_done(provider, alone.id), wait_done(provider, job.id)
    events = provider.list_events(job.id, limit=10_000)
    log = "\n".join(f"{e.created_at - events[0].created_at:4d} {e.message}" for e in events)
    assert alone.status == "succeeded", alone.error
    assert job.status == "succeeded", (job.error, log)
    resumed = [e.data["resumed_step"] for e in events if e.data.get("resumed_step")]
    assert resumed and resumed[0] >= 2 and resumed[0] % 2 == 0, log
    steps = [e.data["step"] for e in events if e.type == "metrics" and e.data.get("train_loss") is not None]
    after = steps[len(steps) - steps[::-1].index(resumed[0] + 1) - 1:]  # the run after the restart
    assert after == list(range(resumed[0] + 1, 17)), log  # continued at the next step, not from epoch 1

    one, two = loss_curve(provider, alone.id), loss_curve(provider, job.id)
    assert sorted(one) == sorted(two) == list(range(1, 17))
    assert all(abs(one[s] - two[s]) <= LOSS_TOLERANCE * max(1.0, abs(one[s])) for s in one), (one, two)
    manifest = provider.manifest(job.fine_tuned_model)
    assert manifest["ray"]["world_size"] == 2 and manifest["metrics"]["steps"] == 16
    assert manifest["metrics"]["trained_tokens"] == provider.manifest(alone.fine_tuned_model)["metrics"]["trained_tokens"]
    assert manifest["hyperparameters"]["batch_size"] == 2 and manifest["hyperparameters"]["learning_rate"] == pytest.approx(1e-3)

    # evals at scale: 4 requests (>= eval_min_requests) for the Ray-trained model are generated on
    # the cluster's actors; the answers are those of one process, for either model
    from ftspec.providers.local.generate import generate_batched

    prompts = [[{"role": "user", "content": f"How do I reset my password on device {i}?"}] for i in range(4)]
    answers = {m: [r.choices[0] for r in provider.chat_batch(
        [ChatRequest(model=m, messages=p, temperature=0, max_tokens=12) for p in prompts])]
        for m in (alone.fine_tuned_model, job.fine_tuned_model)}
    assert any(e.data.get("generation_job") for e in provider.list_events(job.id, limit=10_000))
    here = generate_batched(provider.engine(job.fine_tuned_model),
                            [ChatRequest(model=job.fine_tuned_model, messages=p, temperature=0, max_tokens=12) for p in prompts])
    assert answers[job.fine_tuned_model] == [r.choices[0] for r in here] == answers[alone.fine_tuned_model]
    assert all(answers[job.fine_tuned_model])


def test_a_killed_build_finds_its_ray_job_and_the_lock_records_the_adapter(ray_cluster, tmp_path, tiny_model):
    made = ftspec(tmp_path, "init", "demo", "--base-model", tiny_model)
    assert made.wait(timeout=120) == 0, made.stderr.read()
    root = tmp_path / "demo"
    path = root / "specs" / "demo.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    local = spec.setdefault("hyperparameters", {}).setdefault("local", {})
    local["executor"] = {"ray": {"address": ray_cluster.address, "num_workers": 2}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    before = {j.submission_id for j in ray_jobs(ray_cluster)}
    build = ftspec(root, "build", "specs/demo.yaml")
    deadline = time.monotonic() + TIMEOUT_S

    def ours() -> list:
        return [j for j in ray_jobs(ray_cluster) if j.submission_id not in before]

    while not ours() and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert build.poll() is None, build.stderr.read()
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=30)
    [submitted] = ours()

    again = ftspec(root, "build", "specs/demo.yaml")
    out, err = again.communicate(timeout=TIMEOUT_S)
    assert again.returncode == 0, out + err
    key = submitted.metadata["ftspec_key"]
    assert [j.submission_id for j in ray_jobs(ray_cluster, key)] == [submitted.submission_id]
    lock = yaml.safe_load((root / "specs" / "demo.lock").read_text(encoding="utf-8"))
    model = lock["model"] if isinstance(lock.get("model"), str) else lock["model"]["id"]
    assert model.endswith(submitted.metadata["ftspec_job"])
    assert len(lock["artifacts"]["model"]["sha256"]) == 64


def test_a_stopped_head_is_a_clear_error_and_the_job_record_picks_the_job_up_when_it_is_back(
        ray_cluster, tmp_path, tiny_model, store):
    """The head goes away mid-job: reading the job names the address and keeps the job; once the
    head is back on the same address (an empty cluster: Ray keeps no job history across a head
    restart), the same record submits the same submission id and the job finishes. Last in the
    module: it restarts the shared head."""
    provider = get_provider("local", {})
    ray = {"ray": {"address": ray_cluster.address, "num_workers": 1}}
    job = provider.create_job(job_request(provider, tmp_path, key="head-stop", model=tiny_model, executor=ray))
    wait_done(provider, job.id, until=lambda j: j.done or j.status == "running")
    ray_cluster.stop()
    with pytest.raises(ProviderError) as info:
        provider.get_job(job.id)
    message = str(info.value)
    assert message.startswith(f"cannot reach the Ray cluster at {ray_cluster.address} (") and "\n" not in message, message
    assert message.endswith(f"job {job.id} is kept: build again when the cluster is back"), message
    with pytest.raises(ProviderError) as found:  # a build looking the key up is told, not given None
        provider.find_job("head-stop")
    assert str(found.value) == message  # ... so it never makes a second job for the key

    ray_cluster.start()
    done = wait_done(provider, job.id)
    assert done.status == "succeeded", done.error
    assert [j.submission_id for j in ray_jobs(ray_cluster, "head-stop")] == [f"ftspec-head-stop-{job.id}"]
    assert provider.manifest(done.fine_tuned_model)["ray"]["submission_id"] == f"ftspec-head-stop-{job.id}"
