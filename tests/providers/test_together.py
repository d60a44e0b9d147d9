"""provider: together end to end through the real ``together`` SDK against a loopback fake.

The fake (``fake_together.py``) validates what the SDK sends and what it answers against the
SDK's own request and response types, so these tests break if the fake drifts from the SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOGETHER_KEY, TOGETHER_KEY_ENV

from ftspec.errors import JobFailedError
from ftspec.graph.build import build
from ftspec.lockfile import load_lock, lock_path
from ftspec.providers import get_provider
from ftspec.providers.base import JobRequest
from ftspec.providers.together import convert_file, job_parameters, job_suffix, to_together_record

BASE = "Qwen/Qwen3-0.6B"
EVALS = """evals:
  - name: smoke
    cases:
      - {messages: [{role: user, content: "ping"}], must_include: ["ping"]}
      - {messages: [{role: user, content: "pong"}], must_include: ["zzz"]}
    sampling: {temperature: 0.2, max_tokens: 16, stop: ["END"]}
    scorers:
      - contains: {field: must_include}
"""


def write_together_spec(project: Path, url: str, *, n_epochs: int = 2, extra: str = EVALS,
                        key_env: str = TOGETHER_KEY_ENV) -> Path:
    (project / ".git").mkdir(parents=True, exist_ok=True)  # the project root marker
    data = project / "data" / "train.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}?"},
                                                     {"role": "assistant", "content": f"Sure {i}."}]}) + "\n"
                            for i in range(12)), encoding="utf-8")
    spec = project / "specs" / "support.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: support
provider: together
base_model: {BASE}
providers:
  together:
    base_url: {url}
    api_key_env: {key_env}
    poll_interval: 0.02
    max_retries: 2
    timeout: 5
sources:
  - {{name: faq, path: ../data/train.jsonl, format: chat_jsonl}}
template:
  type: chat
  system: "You are helpful."
split: {{validation: 0.2}}
hyperparameters:
  n_epochs: {n_epochs}
  together: {{lora_r: 16, warmup_ratio: 0.1}}
{extra}""", encoding="utf-8")
    return spec


def _build(spec: Path):
    return build([spec], echo=lambda _line: None, live=False)


def _creates(server) -> tuple[int, int]:
    return server.count("POST", "/v1/files"), server.count("POST", "/v1/fine-tunes")


def test_build_uploads_trains_and_evals_then_rebuild_is_a_no_op(together_server, together_key, tmp_path):
    spec = write_together_spec(tmp_path, together_server.url)
    first = _build(spec)
    assert [t.split(".", 1)[1] for t in first.ran] == ["dataset", "upload", "job", "wait", "eval.smoke", "lock"]
    lock = load_lock(lock_path(spec))
    job = next(iter(together_server.jobs.values()))
    assert lock["provider"] == "together" and lock["model"] == job["model_output_name"]
    assert lock["job"]["status"] == "succeeded"
    assert lock["evals"]["smoke"]["pass_rate"] == 0.5  # the fake echoes the prompt: "ping" passes
    n_files = sum(1 for sha in lock["dataset"]["files"].values() if sha)
    uploaded = sorted(f["filename"] for f in together_server.files.values())
    assert len(uploaded) == n_files and all(n.startswith("ftspec-") and n.endswith(".jsonl") for n in uploaded)
    # the key rides in the suffix after the spec's own suffix (its name by default)
    assert job["n_epochs"] == 2 and job["suffix"].startswith("support-") and job["batch_size"] == 32
    assert _creates(together_server) == (n_files, 1)  # one upload per file, one job

    before = lock_path(spec).read_bytes()
    second = _build(spec)
    assert second.ran == []
    assert _creates(together_server) == (n_files, 1)  # zero create requests on the rebuild
    assert lock_path(spec).read_bytes() == before


def test_a_lost_lock_is_recovered_by_key_without_paying_again(together_server, together_key, tmp_path):
    """As after a crash: the receipts and lockfile are gone; find-by-key finds upload and job."""
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    _build(spec)
    first = _creates(together_server)
    lock_path(spec).unlink()
    receipts = [d for d in tmp_path.rglob("receipts") if d.is_dir()]
    assert receipts
    for state in receipts:
        shutil.rmtree(state)
    _build(spec)
    assert _creates(together_server) == first and first[1] == 1
    assert load_lock(lock_path(spec))["model"] == next(iter(together_server.jobs.values()))["model_output_name"]


def test_a_failed_job_is_not_reused(together_server, together_key, tmp_path):
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    together_server.fail_jobs = True
    with pytest.raises(JobFailedError):
        _build(spec)
    uploads = _creates(together_server)[0]
    assert not lock_path(spec).exists()
    together_server.fail_jobs = False
    _build(spec)
    statuses = sorted(j["status"] for j in together_server.jobs.values())
    assert statuses == ["completed", "error"]
    assert _creates(together_server) == (uploads, 2)  # same uploads, a second job
    done = next(j for j in together_server.jobs.values() if j["status"] == "completed")
    assert load_lock(lock_path(spec))["model"] == done["model_output_name"]


def test_bad_api_key_is_one_line_error_and_exit_1(together_server, tmp_path):
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    env = {**os.environ, TOGETHER_KEY_ENV: "tg-wrong-key", "FTSPEC_RAISE_ERRORS": ""}
    out = subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and TOGETHER_KEY_ENV in errors[0], out.stderr
    assert "Traceback" not in out.stderr and "tg-wrong-key" not in out.stderr
    assert together_server.count("POST", "/v1/fine-tunes") == 0
    assert not any(together_server.files.values()) or all(
        f["processing_status"] != "COMPLETED" for f in together_server.files.values())


def test_no_file_ftspec_wrote_holds_the_key(together_server, together_key, tmp_path):
    spec = write_together_spec(tmp_path, together_server.url)
    _build(spec)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOGETHER_KEY not in path.read_bytes().decode("utf-8", "replace"), path


def test_hyperparameters_map_in_one_place():
    request = JobRequest(model=BASE, training_file="file-1", idempotency_key="0123456789abcdef" * 2,
                         hyperparameters={"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0},
                         requested_hyperparameters={"n_epochs": 3, "batch_size": "auto"},
                         seed=7, suffix="support", extras={"hyperparameters": {"lora_r": 16}})
    params = job_parameters(request)
    assert params["n_epochs"] == 3 and params["batch_size"] == "max"  # auto: Together chooses
    assert params["learning_rate"] == pytest.approx(2e-5) and params["random_seed"] == 7
    assert params["lora"] is True and params["lora_r"] == 16 and params["training_method"] == "sft"
    assert params["suffix"] == "support-0123456789abcdef" and len(job_suffix("k" * 32, "x" * 60)) <= 40


def test_missing_key_names_the_variable(together_server, tmp_path, monkeypatch):
    from ftspec.errors import NeedsKeyError

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    provider = get_provider("together", {"base_url": together_server.url})
    with pytest.raises(NeedsKeyError, match="TOGETHER_API_KEY"):
        provider.list_files()
    assert together_server.requests == []


def test_a_lost_create_response_is_retried_without_a_second_job(together_server, together_key, tmp_path):
    """The server made the job but its answer was lost (500): the retry finds it by key."""
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    together_server.fault("POST", "/v1/fine-tunes", "lost")
    together_server.fault("GET", "/v1/files", "429")  # Retry-After honoured, then the call succeeds
    _build(spec)
    assert together_server.count("POST", "/v1/fine-tunes") == 1 and len(together_server.jobs) == 1
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"
    assert together_server.faults == {("POST", "/v1/fine-tunes", "lost"): 0, ("GET", "/v1/files", "429"): 0}


def test_plan_and_validate_work_offline_and_cost_is_unknown(tmp_path):
    spec = write_together_spec(tmp_path, "http://127.0.0.1:9", extra="")  # nothing listens there
    env = {**os.environ, "FTSPEC_RAISE_ERRORS": ""}
    env.pop(TOGETHER_KEY_ENV, None)
    run = lambda *args: subprocess.run([sys.executable, "-m", "ftspec", *args, str(spec)], cwd=tmp_path,  # noqa: E731
                                       env=env, capture_output=True, text=True, timeout=120)
    assert run("validate").returncode == 0
    plan = run("plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["estimated_cost_usd"] is None  # unknown, never 0


def test_schema_rejects_unknown_together_options_with_a_location(tmp_path):
    spec = write_together_spec(tmp_path, "http://127.0.0.1:9", extra="")
    spec.write_text(spec.read_text().replace("lora_r: 16", "lora_r: 500, bogus: 1"))
    out = subprocess.run([sys.executable, "-m", "ftspec", "validate", str(spec)], cwd=tmp_path,
                         env={**os.environ, "FTSPEC_RAISE_ERRORS": ""}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert any("hyperparameters.together.lora_r: 500 is greater than the maximum of 64" in e for e in errors)
    assert any("hyperparameters.together.bogus: unknown key 'bogus'" in e for e in errors)


KILL_AT = {"upload": ("POST", "/v1/files/{file}/preprocess", 1), "job": ("POST", "/v1/fine-tunes", 1),
           "wait": ("GET", "/v1/fine-tunes/{ft}", 2)}


@pytest.mark.parametrize("keep_state", [True, False], ids=["state-kept", "state-deleted"])
@pytest.mark.parametrize("when", sorted(KILL_AT))
def test_sigkill_then_rebuild_pays_once(together_server, tmp_path, when, keep_state):
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    method, path, nth = KILL_AT[when]
    env = {**os.environ, TOGETHER_KEY_ENV: TOGETHER_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    together_server.kill_on[(method, path)] = [nth, proc.pid]
    proc.communicate(timeout=120)
    assert proc.returncode == -9, "the build was not killed where the test meant to"
    assert not lock_path(spec).exists()
    if not keep_state:
        shutil.rmtree(tmp_path / ".ftspec")
    together_server.kill_on.clear()
    rerun = subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    names = [f["filename"] for f in together_server.files.values()]
    assert len(names) == len(set(names)), f"a file was uploaded twice: {sorted(names)}"
    assert together_server.count("POST", "/v1/fine-tunes") == 1 and len(together_server.jobs) == 1
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"


def test_models_and_gc_cover_together(together_server, together_key, tmp_path):
    spec = write_together_spec(tmp_path, together_server.url, extra="")
    _build(spec)
    old = load_lock(lock_path(spec))
    spec.write_text(spec.read_text().replace("You are helpful.", "You are terse."))  # new data, new job
    _build(spec)
    new = load_lock(lock_path(spec))
    assert new["model"] != old["model"] and len(together_server.jobs) == 2
    env = {**os.environ, "FTSPEC_RAISE_ERRORS": ""}
    run = lambda *args: subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    listed = run("models", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["spec"].endswith("support.yaml"))
    assert (row["model"], row["provider"], row["status"]) == (new["model"], "together", "available")
    dry = run("gc")
    assert dry.returncode == 0 and f"together: unreferenced model {old['model']}" in dry.stdout, dry.stdout + dry.stderr
    old_files = set(old["files"].values()) - {None}
    assert all(f"unreferenced file {fid}" in dry.stdout for fid in old_files)
    assert run("gc", "--yes").returncode == 0
    remaining = {j["model_output_name"] for j in together_server.jobs.values()}
    assert remaining == {new["model"]} and not old_files & set(together_server.files)


def test_cancel_and_a_cancelled_job_is_not_found_again(together_server, together_key, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    provider = get_provider("together", {"base_url": together_server.url, "api_key_env": TOGETHER_KEY_ENV,
                                         "max_retries": 0, "timeout": 5})
    key = "c" * 32
    remote = provider.upload(data, idempotency_key=key)
    assert provider.find_file(key) == remote and provider.owns_file(remote)
    # what Together received is the converted file, by the sha256 the SDK sent as its checksum
    assert together_server.files[remote.id]["_checksum"] == provider.last_upload_sha256
    job = provider.create_job(JobRequest(model=BASE, training_file=remote.id, idempotency_key=key,
                                         hyperparameters={"n_epochs": 1}))
    assert provider.find_job(key).id == job.id
    assert provider.cancel_job(job.id).status == "cancelled"
    assert provider.find_job(key) is None  # never reused under the key
    events = provider.list_events(job.id)
    assert events and events[0].message == "job created"
    provider.close()


def test_conversion_keeps_what_together_reads_and_records_its_sha256(tmp_path):
    import hashlib

    record = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q", "extra": 1},
                           {"role": "assistant", "content": "a", "weight": 1}],
              "parallel_tool_calls": False, "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert to_together_record(record) == {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": "a", "weight": 1}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(record) + "\n\n" + json.dumps({"messages": record["messages"]}) + "\n")
    digest = convert_file(src, dst)
    assert digest == hashlib.sha256(dst.read_bytes()).hexdigest() and len(dst.read_text().splitlines()) == 2


def test_wait_line_shows_status_step_loss_and_eta(together_server, together_key, tmp_path):
    from ftspec.graph.wait import Progress

    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    provider = get_provider("together", {"base_url": together_server.url, "api_key_env": TOGETHER_KEY_ENV})
    remote = provider.upload(data, idempotency_key="d" * 32)
    job = provider.create_job(JobRequest(model=BASE, training_file=remote.id, idempotency_key="d" * 32))
    for _ in range(2):  # pending -> queued -> running
        job = provider.get_job(job.id)
    assert job.status == "running" and job.estimated_finish
    progress = Progress()
    progress.update(job, provider.list_events(job.id))
    line = progress.line()
    assert line.startswith("status running, step 2/4, train loss 1.0000") and "ETA 1m" in line, line
    provider.close()
