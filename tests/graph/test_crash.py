"""Crash matrix: SIGKILL ``ftspec build`` at each paid step, rerun, and never pay twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ftspec.lockfile import load_lock, lock_path

from .conftest import API_KEY, KEY_ENV, run_cli, write_spec


def _start(spec, cwd) -> subprocess.Popen:
    env = {**os.environ, KEY_ENV: API_KEY}
    return subprocess.Popen([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_paid_once(server, spec) -> None:
    names = [f["filename"] for f in server.files.values()]
    assert len(names) == len(set(names)), f"a file was uploaded twice: {sorted(names)}"
    keys = [(j.obj.get("metadata") or {}).get("ftspec_key") for j in server.jobs.values()]
    assert len(keys) == len(set(keys)) == 1, f"jobs per key: {keys}"
    lock = load_lock(lock_path(spec))
    assert lock["model"] and lock["job"]["status"] == "succeeded"
    assert set(lock["files"].values()) - {None} <= set(server.files)


@pytest.mark.parametrize("keep_state", [True, False], ids=["state-kept", "state-deleted"])
@pytest.mark.parametrize("when", ["upload", "job", "wait"])
def test_sigkill_then_rerun_pays_once(server, tmp_path, when, keep_state):
    spec = write_spec(tmp_path, server.url, validation=0.3)
    proc = _start(spec, tmp_path)
    if when == "wait":
        # killed while polling the running job; held running so a slow machine still polls twice
        server.hold_next_job = "running"
        server.kill_on_retrieve = (2, proc.pid)
    else:
        server.kill_after[when] = proc.pid  # killed after the side effect, before the answer
    proc.communicate(timeout=60)
    assert proc.returncode == -9, "the build was not killed where the test meant to"
    for job in server.jobs.values():
        job.hold = None  # the rerun's job finishes
    assert not lock_path(spec).exists()
    if not keep_state:
        shutil.rmtree(tmp_path / ".ftspec")
    rerun = run_cli(["build", str(spec)], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    _assert_paid_once(server, spec)
    # the rerun reused what the killed build made instead of making it again
    assert server.count("POST", "/files") == len(server.files)
    assert server.count("POST", "/fine_tuning/jobs") == 1


def test_two_concurrent_builds_one_waits(server, tmp_path):
    server.phase_s = 0.4  # keep the first build busy while the second starts
    spec = write_spec(tmp_path, server.url)
    first = _start(spec, tmp_path)
    for _ in range(600):  # bounded: until the first build reached the server
        if server.requests:
            break
        time.sleep(0.05)
    second = _start(spec, tmp_path)
    out1 = first.communicate(timeout=120)
    out2 = second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), (out1, out2)
    assert "another ftspec build holds" in out2[1] and "waiting for it to finish" in out2[1]
    assert "nothing to do: everything is up to date" in out2[1]
    assert server.count("POST", "/files") == 1 and server.count("POST", "/fine_tuning/jobs") == 1
    load_lock(lock_path(spec))


def test_sigterm_is_treated_like_ctrl_c(server, tmp_path):
    server.hold_next_job = "running"
    spec = write_spec(tmp_path, server.url)
    proc = _start(spec, tmp_path)
    for _ in range(600):
        if server.jobs:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    job_id = next(iter(server.jobs))
    assert f"interrupted: job {job_id} keeps running on openai." in err
    assert "resume waiting: ftspec build support    cancel it: ftspec cancel support" in err
    assert server.jobs[job_id].obj["status"] == "running"  # left running remotely
    server.release(job_id)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    assert server.count("POST", "/fine_tuning/jobs") == 1
