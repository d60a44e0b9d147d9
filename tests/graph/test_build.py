"""The build graph end to end against the loopback server: incremental, idempotent, explainable."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from ftspec.errors import JobFailedError
from ftspec.graph.build import build
from ftspec.graph.status import plan_actions, spec_status
from ftspec.lockfile import load_lock, lock_path
from ftspec.spec import load_spec

from .conftest import API_KEY, run_cli, write_spec
from .graph_helpers import SMOKE_EVALS


def _quiet(_line: str) -> None:
    pass


def _build(spec):
    return build([spec], echo=_quiet, live=False)


def _task_names(result) -> list[str]:
    return [t.split(".", 1)[1] for t in result.ran]


def _jobs(server) -> int:
    return server.count("POST", "/fine_tuning/jobs")


def _uploads(server) -> int:
    return server.count("POST", "/files")


def test_build_then_noop_leaves_lockfile_byte_identical(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    first = _build(spec)
    assert _task_names(first) == ["dataset", "upload", "job", "wait", "lock"]
    lock = lock_path(spec)
    assert lock == tmp_path / "specs" / "support.lock"
    before, mtime = lock.read_bytes(), lock.stat().st_mtime_ns
    data = load_lock(lock)
    assert data["model"].startswith("ft:gpt-4o-mini-2024-07-18:fake-org:support:")
    assert data["job"]["hyperparameters"]["n_epochs"] == 2
    assert data["dataset"]["counts"]["train"] + data["dataset"]["counts"]["validation"] == 12
    assert set(data) == {"lock_version", "spec_sha256", "dataset", "provider", "base_model", "files",
                         "job", "model", "evals"}

    start = time.perf_counter()
    second = _build(spec)
    elapsed = time.perf_counter() - start
    print(f"no-op build: {elapsed:.3f} s (goal < 0.5 s)")
    assert second.ran == [] and len(second.skipped) == 5
    assert lock.read_bytes() == before and lock.stat().st_mtime_ns == mtime
    assert (_uploads(server), _jobs(server)) == (1, 1)
    assert spec_status(load_spec(spec)).summary == "up to date"


def test_changing_n_epochs_reruns_the_job_not_the_upload(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url, n_epochs=2)
    _build(spec)
    write_spec(tmp_path, server.url, n_epochs=3)
    status = spec_status(load_spec(spec))
    by_task = {t.task.split(".", 1)[1]: t for t in status.tasks}
    assert by_task["dataset"].uptodate and by_task["upload"].uptodate
    assert by_task["job"].reasons == ["hyperparameters.n_epochs changed 2 -> 3"]
    assert status.summary == "hyperparameters.n_epochs changed -> job stale"
    assert dict(plan_actions(load_spec(spec)))["job"].startswith("run, PAID")

    result = _build(spec)
    assert _task_names(result) == ["job", "wait", "lock"]
    assert (_uploads(server), _jobs(server)) == (1, 2)
    assert load_lock(lock_path(spec))["job"]["hyperparameters"]["n_epochs"] == 3


def test_changing_the_system_prompt_reruns_dataset_upload_job_and_says_why(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url, system="You are helpful.")
    _build(spec)
    old = load_lock(lock_path(spec))
    write_spec(tmp_path, server.url, system="You are terse.")
    status = spec_status(load_spec(spec))
    assert status.summary == "system prompt changed -> dataset sha changed -> upload, job stale"
    by_task = {t.task.split(".", 1)[1]: t for t in status.tasks}
    assert by_task["dataset"].reasons == ["system prompt changed"]
    assert by_task["upload"].reasons == ["dataset sha changed"]

    result = _build(spec)
    assert _task_names(result) == ["dataset", "upload", "job", "wait", "lock"]
    assert (_uploads(server), _jobs(server)) == (1 + 1, 2)  # one new train file (no validation split)
    new = load_lock(lock_path(spec))
    assert new["dataset"]["sha256"] != old["dataset"]["sha256"] and new["model"] != old["model"]

    # run-cache: reverting the spec reuses the earlier files, job and model; nothing is paid
    write_spec(tmp_path, server.url, system="You are helpful.")
    reverted = spec_status(load_spec(spec))
    assert {t.task.split(".", 1)[1]: t.reuse is not None for t in reverted.tasks}["job"]
    _build(spec)
    assert (_uploads(server), _jobs(server)) == (2, 2)
    assert lock_path(spec).read_text() == json.dumps(old, indent=2, sort_keys=True) + "\n"


def test_cli_status_explains_staleness(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    write_spec(tmp_path, server.url, system="Other prompt.")
    out = run_cli(["status", str(spec)], tmp_path)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "support: system prompt changed -> dataset sha changed -> upload, job stale"
    assert "support.dataset" in lines[1] and "stale: system prompt changed" in lines[1]
    as_json = json.loads(run_cli(["status", "--json", str(spec)], tmp_path).stdout)
    assert as_json[0]["tasks"][0] == {"task": "support.dataset", "uptodate": False,
                                      "reasons": ["system prompt changed"], "reuse": None}


def test_deleted_state_dir_never_pays_twice(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    _build(spec)
    before = lock_path(spec).read_bytes()
    shutil.rmtree(tmp_path / ".ftspec")
    _build(spec)  # finds the file by name and the job by metadata key
    assert (_uploads(server), _jobs(server)) == (1, 1)
    assert lock_path(spec).read_bytes() == before


def test_failed_job_exits_nonzero_and_next_build_retries(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    server.fail_next_job = {"code": "invalid_training_file", "message": "bad line 3", "param": None}
    with pytest.raises(JobFailedError) as err:
        _build(spec)
    assert err.value.message.splitlines()[0].endswith(" failed: invalid_training_file: bad line 3")
    assert not lock_path(spec).exists()
    status = {t.task.split(".", 1)[1]: t for t in spec_status(load_spec(spec)).tasks}
    assert status["job"].reasons == ["last job failed: a new one will be created"]
    _build(spec)
    assert (_uploads(server), _jobs(server)) == (1, 2)
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"


def test_cli_failed_job_prints_error_and_exit_code(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    server.fail_next_job = {"code": "quota", "message": "out of credits", "param": None}
    out = run_cli(["build", str(spec)], tmp_path, env_extra={"FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    assert "error: support: job ftjob-" in out.stderr and "failed: quota: out of credits" in out.stderr
    assert "Traceback" not in out.stderr


def test_two_specs_in_parallel(server, api_key, tmp_path):
    a = write_spec(tmp_path, server.url, name="alpha")
    b = write_spec(tmp_path, server.url, name="beta", system="Beta bot.")
    result = build([a, b], jobs=2, echo=_quiet, live=False)
    assert sorted(result.locks) == ["alpha", "beta"]
    assert load_lock(lock_path(a))["model"] != load_lock(lock_path(b))["model"]
    assert _jobs(server) == 2


def test_cancel_gc_and_models_commands(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    first_model = load_lock(lock_path(spec))["model"]
    models = json.loads(run_cli(["models", "--json"], tmp_path).stdout)
    assert models == [{"spec": "specs/support.yaml", "provider": "openai", "base_model": "gpt-4o-mini-2024-07-18",
                       "model": first_model, "status": "available", "base_model_shutdown": "2027-01-14",
                       "shutdown": "2027-01-14", "shutdown_source": "api", "days_left": 227,
                       "today": "2026-06-01", "jobs_end": "2027-01-06", "accepts_jobs": True}]
    out = run_cli(["cancel", str(spec)], tmp_path)
    assert out.returncode == 0 and "already succeeded; nothing to cancel" in out.stdout

    write_spec(tmp_path, server.url, n_epochs=4)  # a new job; the first model is now unreferenced
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    listed = json.loads(run_cli(["gc", "--json"], tmp_path).stdout)
    assert listed == [{"provider": "openai", "files": [], "models": [first_model], "deleted": False}]
    assert first_model not in server.deleted_models
    assert run_cli(["gc", "--yes"], tmp_path).returncode == 0
    assert server.deleted_models == {first_model}


def test_cancel_running_job(server, api_key, tmp_path):
    server.hold_next_job = "running"
    spec = write_spec(tmp_path, server.url)
    from ftspec.graph.tasks import SpecGraph

    # create the job through the graph's own steps (a build would wait on the held job)
    g = SpecGraph(load_spec(spec), tmp_path, echo=_quiet)
    g.run_dataset()
    g.run_upload()
    g.run_job()
    out = run_cli(["cancel", str(spec)], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("support: cancelled job ftjob-")
    job_id = g._job_out()["id"]
    assert server.jobs[job_id].obj["status"] == "cancelled"


EVALS = SMOKE_EVALS


def test_evals_run_after_the_model_and_land_in_the_lockfile(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url, extra=EVALS)
    result = _build(spec)
    assert _task_names(result) == ["dataset", "upload", "job", "wait", "eval.smoke", "lock"]
    lock = load_lock(lock_path(spec))
    smoke = lock["evals"]["smoke"]
    assert (smoke["report"], smoke["pass_rate"]) == ("reports/support/smoke.json", 0.5)
    assert (tmp_path / "reports" / "support" / "smoke.json").is_file()
    assert _build(spec).ran == []
    write_spec(tmp_path, server.url, extra=EVALS, n_epochs=3)  # a new model -> evals rerun
    assert _task_names(_build(spec)) == ["job", "wait", "eval.smoke", "lock"]


def test_no_file_ftspec_wrote_contains_the_api_key(server, api_key, tmp_path):
    spec = write_spec(tmp_path, server.url, extra=EVALS)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    write_spec(tmp_path, server.url, n_epochs=3, extra=EVALS)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".lock" for p in written) and any("reports" in p.parts for p in written)
    assert any("receipts" in p.parts for p in written) and any("logs" in p.parts for p in written)
    for path in written:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_dodo_exposes_the_same_tasks_for_doit_users(server, api_key, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import REPO

    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    spec = write_spec(tmp_path, server.url)
    env = {**os.environ}
    listed = subprocess.run([sys.executable, "-m", "doit", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "support.dataset", "support.job", "support.lock", "support.upload", "support.wait"]
    ran = subprocess.run([sys.executable, "-m", "doit", "support.lock"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert load_lock(lock_path(spec))["model"]
    assert _build(spec).ran == []  # ftspec build sees doit's work as done: one shared state


def test_cli_missing_key_is_one_clean_error(server, tmp_path):
    from .conftest import KEY_ENV

    spec = write_spec(tmp_path, server.url)
    out = run_cli(["build", str(spec)], tmp_path, env_extra={KEY_ENV: "", "FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    assert out.stderr.splitlines()[-2:] == [
        f"error: provider 'openai' needs an API key: set the environment variable {KEY_ENV}",
        f"hint: export {KEY_ENV}=... (or name another variable in providers.openai.api_key_env)"]
    assert server.count("POST", "/files") == 0
