"""provider: fireworks end to end through the real ``fireworks-ai`` SDK against a loopback fake.

The fake (``fake_fireworks.py``) validates what the SDK sends against the SDK's request
``TypedDict``s and what it answers against the SDK's pydantic response types, so these tests
break if the fake drifts from the SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftspec.errors import JobFailedError, NeedsKeyError
from ftspec.graph.build import build
from ftspec.lockfile import load_lock, lock_path
from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest, JobRequest
from ftspec.providers.fireworks import (
    convert_file,
    deployment_id,
    job_ids,
    job_parameters,
    resource_id,
    to_fireworks_record,
)

from .conftest import (
    FIREWORKS_ACCOUNT_ENV,
    FIREWORKS_KEY,
    FIREWORKS_KEY_ENV,
    fireworks_settings,
)

BASE = "accounts/fireworks/models/qwen3-8b"
A = "/v1/accounts/{a}"
EVALS = """evals:
  - name: smoke
    cases:
      - {messages: [{role: user, content: "ping"}], must_include: ["ping"]}
      - {messages: [{role: user, content: "pong"}], must_include: ["zzz"]}
    sampling: {temperature: 0.2, max_tokens: 16, stop: ["END"]}
    scorers:
      - contains: {field: must_include}
"""


def write_fireworks_spec(project: Path, url: str, *, extra: str = EVALS, n_rows: int = 40,
                         settings: str = "", hp: str = "{lora_rank: 16, max_context_length: 2048}") -> Path:
    (project / ".git").mkdir(parents=True, exist_ok=True)  # the project root marker
    data = project / "data" / "train.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}?"},
                                                     {"role": "assistant", "content": f"Sure {i}."}]}) + "\n"
                            for i in range(n_rows)), encoding="utf-8")
    spec = project / "specs" / "support.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: support
provider: fireworks
base_model: {BASE}
providers:
  fireworks:
    base_url: {url}
    api_key_env: {FIREWORKS_KEY_ENV}
    account_id_env: {FIREWORKS_ACCOUNT_ENV}
    poll_interval: 0.02
    max_retries: 2
    timeout: 5{settings}
sources:
  - {{name: faq, path: ../data/train.jsonl, format: chat_jsonl}}
template:
  type: chat
  system: "You are helpful."
split: {{validation: 0.2}}
hyperparameters:
  n_epochs: 2
  fireworks: {hp}
{extra}""", encoding="utf-8")
    return spec


def _build(spec: Path):
    return build([spec], echo=lambda _line: None, live=False)


def _creates(server) -> tuple[int, int]:
    """(dataset uploads, job creates) the fake received."""
    return server.count("POST", f"{A}/datasets/{{id}}:upload"), server.count("POST", f"{A}/supervisedFineTuningJobs")


def _env(server, **extra) -> dict[str, str]:
    return {**os.environ, FIREWORKS_KEY_ENV: FIREWORKS_KEY, FIREWORKS_ACCOUNT_ENV: server.account,
            "FTSPEC_RAISE_ERRORS": "", **extra}


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_build_trains_deploys_evals_undeploys_then_rebuild_is_a_no_op(fireworks_server, fireworks_env, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url)
    first = _build(spec)
    assert [t.split(".", 1)[1] for t in first.ran] == ["dataset", "upload", "job", "wait", "deploy", "eval.smoke",
                                                       "undeploy", "lock"]
    lock = load_lock(lock_path(spec))
    job = next(iter(fireworks_server.jobs.values()))
    assert lock["provider"] == "fireworks" and lock["model"] == job["outputModel"]
    assert lock["model"] == f"accounts/{fireworks_server.account}/models/{job['name'].rsplit('/', 1)[1]}"
    assert lock["job"]["status"] == "succeeded" and "deployment" not in lock
    assert lock["evals"]["smoke"]["pass_rate"] == 0.5  # the fake echoes the prompt: "ping" passes
    # the evals asked the deployment's live-merge route, and the deployment is gone again
    assert set(fireworks_server.chat_models) == {f"{lock['model']}#accounts/{fireworks_server.account}"
                                                 f"/deployments/{deployment_id(lock['model'])}"}
    assert fireworks_server.deployments == {} and fireworks_server.count("POST", f"{A}/deployments") == 1
    # hyperparameters mapped: epochs, lora rank and context length as the spec says
    assert (job["epochs"], job["loraRank"], job["maxContextLength"]) == (2, 16, 2048)
    n_files = sum(1 for sha in lock["dataset"]["files"].values() if sha)
    assert sorted(fireworks_server.datasets) == sorted(f.rsplit("/", 1)[1] for f in lock["files"].values() if f)
    assert _creates(fireworks_server) == (n_files, 1)
    assert lock["files"]["validation"] and job["evaluationDataset"] == lock["files"]["validation"], lock["files"]

    before = lock_path(spec).read_bytes()
    second = _build(spec)
    assert second.ran == []  # nothing stale: no deployment is started just to do nothing
    assert _creates(fireworks_server) == (n_files, 1) and fireworks_server.count("POST", f"{A}/deployments") == 1
    assert lock_path(spec).read_bytes() == before


def test_cli_build_change_prompt_rebuild_and_diff_pay_once_per_content_key(fireworks_server, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url)
    env = _env(fireworks_server)
    assert _cli(tmp_path, env, "build", str(spec)).returncode == 0
    old = load_lock(lock_path(spec))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    shutil.rmtree(tmp_path / ".git" / "hooks", ignore_errors=True)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=tmp_path, check=True)
    spec.write_text(spec.read_text().replace("You are helpful.", "You are terse."))
    rebuilt = _cli(tmp_path, env, "build", str(spec))
    assert rebuilt.returncode == 0, rebuilt.stderr
    new = load_lock(lock_path(spec))
    assert new["model"] != old["model"] and new["dataset"]["sha256"] != old["dataset"]["sha256"]
    again = _cli(tmp_path, env, "build", str(spec))  # same content keys: nothing paid again
    assert again.returncode == 0, again.stderr
    keys = {sha for lock in (old, new) for sha in lock["dataset"]["files"].values() if sha}
    uploads, jobs = _creates(fireworks_server)
    assert uploads == len(keys) == len(fireworks_server.datasets)  # one upload per content key
    assert jobs == 2 == len(fireworks_server.jobs)  # one job per content key
    assert fireworks_server.count("POST", f"{A}/deployments") == 2 and fireworks_server.deployments == {}
    diff = _cli(tmp_path, env, "diff", str(spec))
    assert diff.returncode in (0, 1), diff.stderr
    assert "system" in diff.stdout.lower() and "Traceback" not in diff.stderr, diff.stdout


def test_a_lost_lock_is_recovered_by_key_without_paying_again(fireworks_server, fireworks_env, tmp_path):
    """As after a crash: receipts and lockfile gone; the caller-chosen ids find upload and job."""
    spec = write_fireworks_spec(tmp_path, fireworks_server.url, extra="")
    first = _build(spec)
    assert "support.deploy" not in first.ran  # no eval, not kept: nothing to serve, nothing deployed
    before = _creates(fireworks_server)
    lock_path(spec).unlink()
    shutil.rmtree(tmp_path / ".ftspec")
    _build(spec)
    assert _creates(fireworks_server) == before and before[1] == 1
    assert fireworks_server.count("POST", f"{A}/datasets") == before[0]  # no dataset created twice
    assert fireworks_server.count("POST", f"{A}/deployments") == 0


def test_a_failed_job_is_not_reused_and_the_next_attempt_takes_the_next_id(fireworks_server, fireworks_env, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url, extra="")
    fireworks_server.fail_jobs = True
    with pytest.raises(JobFailedError, match="training failed: bad data"):
        _build(spec)
    uploads = _creates(fireworks_server)[0]
    fireworks_server.fail_jobs = False
    _build(spec)
    states = {jid: j["state"] for jid, j in fireworks_server.jobs.items()}
    first, second = sorted(states, key=len)
    assert second == f"{first}-r2" and states == {first: "JOB_STATE_FAILED", second: "JOB_STATE_COMPLETED"}
    assert _creates(fireworks_server) == (uploads, 2)
    assert load_lock(lock_path(spec))["model"].endswith(f"/models/{second}")


def test_missing_key_or_account_names_the_variable(fireworks_server, monkeypatch):
    settings = fireworks_settings(fireworks_server)
    monkeypatch.delenv(FIREWORKS_KEY_ENV, raising=False)
    monkeypatch.setenv(FIREWORKS_ACCOUNT_ENV, "acct")
    with pytest.raises(NeedsKeyError, match=FIREWORKS_KEY_ENV):
        get_provider("fireworks", settings).list_files()
    monkeypatch.setenv(FIREWORKS_KEY_ENV, FIREWORKS_KEY)
    monkeypatch.delenv(FIREWORKS_ACCOUNT_ENV)
    with pytest.raises(NeedsKeyError, match=f"account id: set the environment variable {FIREWORKS_ACCOUNT_ENV}"):
        get_provider("fireworks", settings).list_files()
    monkeypatch.delenv("FIREWORKS_API_KEY", raising=False)
    with pytest.raises(NeedsKeyError, match="FIREWORKS_API_KEY"):  # the default variable
        get_provider("fireworks", {"base_url": fireworks_server.url}).list_files()
    assert fireworks_server.requests == []


def test_bad_api_key_is_one_line_error_and_exit_1(fireworks_server, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url, extra="")
    out = _cli(tmp_path, _env(fireworks_server, **{FIREWORKS_KEY_ENV: "fw-wrong-key"}), "build", str(spec))
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and FIREWORKS_KEY_ENV in errors[0], out.stderr
    assert "Traceback" not in out.stderr and "fw-wrong-key" not in out.stderr
    assert fireworks_server.datasets == {} and fireworks_server.jobs == {}


def test_no_file_ftspec_wrote_holds_the_key(fireworks_server, fireworks_env, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url)
    _build(spec)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert FIREWORKS_KEY not in path.read_bytes().decode("utf-8", "replace"), path


def test_hyperparameters_map_in_one_place():
    request = JobRequest(model=BASE, training_file="accounts/a/datasets/d", idempotency_key="0123456789abcdef" * 2,
                         validation_file="accounts/a/datasets/v",
                         hyperparameters={"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0},
                         requested_hyperparameters={"n_epochs": 3, "batch_size": 8},
                         seed=7, suffix="support", extras={"hyperparameters": {"lora_rank": 16, "bogus": 1}})
    params = job_parameters(request, "acct", "ftspec-x")
    assert params == {"supervised_fine_tuning_job_id": "ftspec-x", "dataset": "accounts/a/datasets/d",
                      "base_model": BASE, "output_model": "accounts/acct/models/ftspec-x", "display_name": "support",
                      "evaluation_dataset": "accounts/a/datasets/v", "epochs": 3, "batch_size_samples": 8,
                      "learning_rate": pytest.approx(2e-4), "lora_rank": 16}  # no seed field; unknown keys not sent
    auto = JobRequest(model=BASE, training_file="d", idempotency_key="k", hyperparameters={"batch_size": 4},
                      requested_hyperparameters={"batch_size": "auto"})
    assert "batch_size_samples" not in job_parameters(auto, "acct", "j")  # auto: Fireworks picks
    with pytest.raises(Exception, match="supervised"):
        job_parameters(JobRequest(model=BASE, training_file="d", idempotency_key="k", method="dpo"), "a", "j")


def test_ids_are_valid_fireworks_ids_derived_from_the_key():
    import re

    key = "0123456789abcdef" * 2
    ids = job_ids(key)
    assert ids[0] == resource_id(key) == f"ftspec-{key}" and ids[1] == f"ftspec-{key}-r2" and len(ids) == 20
    assert deployment_id(f"accounts/a/models/ftspec-{key}") == f"ftspec-{key}"
    for odd in ("Contract_File 1", "x" * 200, key + "-r20"):
        rid = resource_id(odd, 20)
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", rid), rid
    assert resource_id("x" * 200) != resource_id("x" * 199)


@pytest.mark.parametrize("fault", ["lost", "drop"])
def test_a_lost_create_response_is_retried_without_a_second_job(fireworks_server, fireworks_env, tmp_path, fault):
    """The server made the job but its answer was lost (a 500, or the connection dropped):
    the retry finds it under its id (or gets 409 for it) and no second job exists."""
    spec = write_fireworks_spec(tmp_path, fireworks_server.url, extra="")
    fireworks_server.fault("POST", f"{A}/supervisedFineTuningJobs", fault)
    fireworks_server.fault("GET", f"{A}/datasets/{{id}}", "429", count=2)  # Retry-After honoured
    fireworks_server.fault("POST", f"{A}/datasets/{{id}}:upload", "500")  # retried, one dataset
    _build(spec)
    assert len(fireworks_server.jobs) == 1 and fireworks_server.count("POST", f"{A}/supervisedFineTuningJobs") == 1
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"
    assert all(left == 0 for left in fireworks_server.faults.values()), fireworks_server.faults


def test_a_dropped_upload_connection_uploads_into_the_same_dataset(fireworks_server, fireworks_env, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(3)))
    provider = get_provider("fireworks", fireworks_settings(fireworks_server))
    fireworks_server.fault("POST", f"{A}/datasets", "drop")  # created, answer never came
    remote = provider.upload(data, idempotency_key="e" * 32)
    assert fireworks_server.count("POST", f"{A}/datasets") >= 2  # retried: 409, and it carried on
    assert list(fireworks_server.datasets) == [f"ftspec-{'e' * 32}"] and remote.filename == f"ftspec-{'e' * 32}"
    import hashlib

    assert hashlib.sha256(fireworks_server.dataset_bytes[remote.filename]).hexdigest() == provider.last_upload_sha256
    assert fireworks_server.datasets[remote.filename]["exampleCount"] == "3"
    provider.close()


def test_a_slow_answer_times_out_and_is_retried(fireworks_server, fireworks_env):
    provider = get_provider("fireworks", fireworks_settings(fireworks_server, timeout=0.5))
    fireworks_server.fault("GET", f"{A}/datasets", "slow")
    assert provider.list_files() == []
    assert fireworks_server.count("GET", f"{A}/datasets") == 2 and fireworks_server.faults[("GET", f"{A}/datasets", "slow")] == 0
    provider.close()


def test_plan_and_validate_work_offline_with_a_priced_cost(tmp_path):
    spec = write_fireworks_spec(tmp_path, "http://127.0.0.1:9", extra="")  # nothing listens there
    env = {k: v for k, v in os.environ.items() if k not in (FIREWORKS_KEY_ENV, FIREWORKS_ACCOUNT_ENV)}
    env["FTSPEC_RAISE_ERRORS"] = ""
    assert _cli(tmp_path, env, "validate", str(spec)).returncode == 0
    plan = _cli(tmp_path, env, "plan", "--json", str(spec))
    assert plan.returncode == 0, plan.stderr
    out = json.loads(plan.stdout)
    out = out[0] if isinstance(out, list) else out
    assert out["price_per_1m_training"] == 0.5 and out["estimated_cost_usd"] > 0
    assert out["price_source"].startswith("Fireworks") and out["price_checked"]
    # an own-account model has no table entry: unknown, never 0
    spec.write_text(spec.read_text().replace(BASE, "accounts/my-team/models/my-base"))
    plan = _cli(tmp_path, env, "plan", "--json", str(spec))
    assert plan.returncode == 0, plan.stderr
    out = json.loads(plan.stdout)
    out = out[0] if isinstance(out, list) else out
    assert out["estimated_cost_usd"] is None


@pytest.mark.parametrize(("change", "expected"), [
    ((BASE, "accounts/fireworks/models/qwen3-9b"), "base_model: unknown Fireworks base model "
                                                   "'accounts/fireworks/models/qwen3-9b' (did you mean "
                                                   "'accounts/fireworks/models/qwen3-8b'?)"),
    ((BASE, "qwen3-8b"), "base_model: 'qwen3-8b' is not a Fireworks model name"),
    ("lora_rank: 16", "hyperparameters.fireworks.lora_rank: 128 is greater than the maximum of 64"),
    ("max_context_length: 2048", "hyperparameters.fireworks.max_context_length: 2050 is not a multiple of 16"),
    ("lora_rank: 16", "hyperparameters.fireworks.bogus: unknown key 'bogus'"),
])
def test_bad_input_is_a_located_error_at_validate_time(tmp_path, change, expected):
    spec = write_fireworks_spec(tmp_path, "http://127.0.0.1:9", extra="")
    text = spec.read_text()
    if isinstance(change, tuple):
        text = text.replace(*change)
    elif "bogus" in expected:
        text = text.replace(change, "lora_rank: 16, bogus: 1")
    else:
        text = text.replace(change, {"lora_rank: 16": "lora_rank: 128",
                                     "max_context_length: 2048": "max_context_length: 2050"}[change])
    spec.write_text(text)
    out = _cli(tmp_path, {**os.environ, "FTSPEC_RAISE_ERRORS": ""}, "validate", str(spec))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert any(expected in e and "support.yaml:" in e for e in errors), out.stderr


def test_a_dataset_under_the_example_limit_fails_validate(tmp_path):
    spec = write_fireworks_spec(tmp_path, "http://127.0.0.1:9", extra="", n_rows=2)
    spec.write_text(spec.read_text().replace("split: {validation: 0.2}", "split: {validation: 0}"))
    out = _cli(tmp_path, {**os.environ, "FTSPEC_RAISE_ERRORS": ""}, "validate", str(spec))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "only 2 training examples; provider 'fireworks' needs at least 3" in out.stderr, out.stderr


KILL_AT = {"upload": ("POST", f"{A}/datasets/{{id}}:upload", 1), "job": ("POST", f"{A}/supervisedFineTuningJobs", 1),
           "wait": ("GET", f"{A}/supervisedFineTuningJobs/{{id}}", 3), "deploy": ("POST", f"{A}/deployments", 1),
           "eval": ("POST", "/v1/chat/completions", 1)}


@pytest.mark.parametrize("keep_state", [True, False], ids=["state-kept", "state-deleted"])
@pytest.mark.parametrize("when", sorted(KILL_AT))
def test_sigkill_then_rebuild_pays_once(fireworks_server, tmp_path, when, keep_state):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url)
    method, path, nth = KILL_AT[when]
    env = _env(fireworks_server)
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fireworks_server.kill_on[(method, path)] = [nth, proc.pid]
    proc.communicate(timeout=120)
    assert proc.returncode == -9, "the build was not killed where the test meant to"
    assert not lock_path(spec).exists()
    if not keep_state:
        shutil.rmtree(tmp_path / ".ftspec")
    fireworks_server.kill_on.clear()
    rerun = _cli(tmp_path, env, "build", str(spec))
    assert rerun.returncode == 0, rerun.stderr
    assert fireworks_server.count("POST", f"{A}/datasets") == len(fireworks_server.datasets)  # none made twice
    assert fireworks_server.count("POST", f"{A}/supervisedFineTuningJobs") == 1 and len(fireworks_server.jobs) == 1
    assert fireworks_server.count("POST", f"{A}/deployments") == 1  # the deployment found again, not re-made
    assert fireworks_server.deployments == {}  # and removed after the evals
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"


def test_models_and_gc_cover_fireworks_including_a_kept_deployment(fireworks_server, tmp_path):
    spec = write_fireworks_spec(tmp_path, fireworks_server.url, settings="\n    deployment: {keep: true}")
    env = _env(fireworks_server)
    assert _cli(tmp_path, env, "build", str(spec)).returncode == 0
    old = load_lock(lock_path(spec))
    assert old["deployment"]["id"] in fireworks_server.deployments  # kept, and the lock names it
    assert _cli(tmp_path, env, "build", str(spec)).returncode == 0  # no-op: kept and ready
    assert fireworks_server.count("POST", f"{A}/deployments") == 1
    assert "nothing to collect" in _cli(tmp_path, env, "gc").stderr
    spec.write_text(spec.read_text().replace("You are helpful.", "You are terse."))  # new data, new job
    assert _cli(tmp_path, env, "build", str(spec)).returncode == 0
    new = load_lock(lock_path(spec))
    assert new["model"] != old["model"] and len(fireworks_server.deployments) == 2
    listed = _cli(tmp_path, env, "models", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["spec"].endswith("support.yaml"))
    assert (row["model"], row["provider"], row["status"]) == (new["model"], "fireworks", "available")
    dry = _cli(tmp_path, env, "gc")
    assert dry.returncode == 0, dry.stderr
    assert f"fireworks: unreferenced model {old['model']}" in dry.stdout, dry.stdout
    assert f"fireworks: unreferenced deployment {old['deployment']['id']}" in dry.stdout
    assert new["deployment"]["id"] not in dry.stdout and new["model"] not in dry.stdout
    old_files = {f for f in old["files"].values() if f} - {f for f in new["files"].values() if f}
    assert all(f"unreferenced file {fid}" in dry.stdout for fid in old_files)
    assert _cli(tmp_path, env, "gc", "--yes").returncode == 0
    assert set(fireworks_server.deployments) == {new["deployment"]["id"]}
    assert {m["name"] for m in fireworks_server.models.values()} == {new["model"]}
    assert not {f.rsplit("/", 1)[1] for f in old_files} & set(fireworks_server.datasets)


def test_a_failing_eval_still_removes_the_deployment(fireworks_server, fireworks_env, tmp_path, monkeypatch):
    """The undeploy task never runs when an eval task fails; the graph's close() removes the
    deployment this build started instead."""
    from ftspec.errors import FtspecError
    from ftspec.evals import runner

    def broken(*_args, **_kwargs):
        raise FtspecError("eval 'smoke' crashed")

    monkeypatch.setattr(runner, "run_eval_set", broken)
    spec = write_fireworks_spec(tmp_path, fireworks_server.url)
    with pytest.raises(FtspecError, match="crashed"):
        _build(spec)
    assert fireworks_server.count("POST", f"{A}/deployments") == 1
    assert fireworks_server.deployments == {}  # undeployed even though the evals failed
    assert not lock_path(spec).exists()


def test_chat_and_completions_send_the_same_sampling_and_stops(fireworks_server, fireworks_env):
    provider = get_provider("fireworks", fireworks_settings(fireworks_server))
    result = provider.chat(ChatRequest(model=BASE, messages=[{"role": "user", "content": "hi"}], n=2,
                                       temperature=0.3, top_p=0.9, max_tokens=8, stop=["END"], seed=5,
                                       frequency_penalty=0.1, presence_penalty=0.2))
    assert result.choices == ["Sure: hi", "Sure: hi"] and result.finish_reasons == ["stop", "stop"]
    text = provider.chat(ChatRequest(model=BASE, prompt="Q: hi\nA:", max_tokens=4, stop=["\n"], temperature=0))
    assert text.choices == [" done"] and text.prompt_tokens == 3
    assert fireworks_server.count("POST", "/v1/chat/completions") == 1
    assert fireworks_server.count("POST", "/v1/completions") == 1
    provider.close()


def test_cancel_and_a_cancelled_job_is_not_found_again(fireworks_server, fireworks_env, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(3)))
    provider = get_provider("fireworks", fireworks_settings(fireworks_server))
    key = "c" * 32
    remote = provider.upload(data, idempotency_key=key)
    assert provider.find_file(key).id == remote.id and provider.owns_file(remote)
    fireworks_server.hold_jobs = True
    job = provider.create_job(JobRequest(model=BASE, training_file=remote.id, idempotency_key=key,
                                         hyperparameters={"n_epochs": 1}))
    assert provider.find_job(key).id == job.id
    assert provider.cancel_job(job.id).status == "cancelled"
    assert provider.find_job(key) is None  # never reused under the key
    events = provider.list_events(job.id)
    assert events[0].message == "job created" and events[-1].level == "error"
    provider.close()


def test_conversion_keeps_what_fireworks_reads_and_records_its_sha256(tmp_path):
    import hashlib

    record = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q", "extra": 1},
                           {"role": "assistant", "content": "a", "weight": 1}],
              "parallel_tool_calls": False, "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert to_fireworks_record(record) == {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": "a", "weight": 1}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert to_fireworks_record({"prompt": "p", "completion": "c"}) == {
        "messages": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]}
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(record) + "\n\n" + json.dumps({"messages": record["messages"]}) + "\n")
    digest, count = convert_file(src, dst)
    assert digest == hashlib.sha256(dst.read_bytes()).hexdigest() and count == 2


def test_wait_line_shows_status_progress_and_eta(fireworks_server, fireworks_env, tmp_path):
    from ftspec.graph.wait import Progress

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(3)))
    provider = get_provider("fireworks", fireworks_settings(fireworks_server))
    remote = provider.upload(data, idempotency_key="d" * 32)
    job = provider.create_job(JobRequest(model=BASE, training_file=remote.id, idempotency_key="d" * 32))
    fireworks_server.jobs[job.id]["createTime"] = "2020-01-01T00:00:00Z"  # elapsed time for the ETA
    fireworks_server.jobs[job.id].update(_step=1, _hold=True)  # from the next GET on: RUNNING at 10%
    job = provider.get_job(job.id)
    assert job.status == "running" and job.estimated_finish
    progress = Progress()
    progress.update(job, provider.list_events(job.id))
    line = progress.line()
    assert line.startswith("status running, step 10/100") and "ETA" in line, line
    provider.close()


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_the_example_specs_two_line_switch_validates_and_plans_offline(tmp_path, provider):
    """The comment block in specs/support.yaml shows the two lines per service; applying them
    gives a spec that validates and plans with no key and no network."""
    import re

    repo = Path(__file__).parents[2]
    for folder in ("specs", "data", "evals"):
        shutil.copytree(repo / folder, tmp_path / folder)
    (tmp_path / ".git").mkdir()
    spec = tmp_path / "specs" / "support.yaml"
    text = spec.read_text(encoding="utf-8")
    shown = re.search(rf"^#   provider: {provider}\n#   base_model: (\S+)$", text, re.M)
    assert shown, f"specs/support.yaml shows no two-line switch for {provider}"
    text = re.sub(r"^provider: \S+$", f"provider: {provider}", text, count=1, flags=re.M)
    text = re.sub(r"^base_model: \S+$", f"base_model: {shown.group(1)}", text, count=1, flags=re.M)
    spec.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "TOGETHER_"))}
    env["FTSPEC_RAISE_ERRORS"] = ""
    assert _cli(tmp_path, env, "validate", str(spec)).returncode == 0
    plan = _cli(tmp_path, env, "plan", "--json", str(spec))
    assert plan.returncode == 0, plan.stderr
    out = json.loads(plan.stdout)
    out = out[0] if isinstance(out, list) else out
    assert out["provider"] == provider and out["estimated_cost_usd"] != 0  # a price, or unknown (None)
    if provider == "fireworks":
        assert out["estimated_cost_usd"] > 0
        steps = dict(map(tuple, out["extra_sections"]["what would run"]))
        assert steps["deploy"].startswith("run, PAID") and "undeploy" in steps
