"""SIGKILL mid-push and mid-pull, corrupt remote bytes, and bad input: one line, exit 1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ftspec.artifacts.store import TEST_CHUNK_ENV, TEST_DELAY_ENV

from .conftest import BUCKET, S3_ENV, cli_env, clone, ftspec, git

SLOW = {TEST_CHUNK_ENV: "256", TEST_DELAY_ENV: "0.05"}  # ~5 kB/s: seconds for the tiny model's files
KILL_WAIT_S = 120


def start(args, cwd, env):
    return subprocess.Popen([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_mid_transfer(proc, verb: str) -> str:
    """SIGKILL ``proc`` as soon as its progress line shows bytes moving."""
    deadline = time.monotonic() + KILL_WAIT_S
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if line.startswith(f"{verb}: ") and not line.startswith(f"{verb}: 0 B / "):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return seen
    proc.kill()
    proc.wait(timeout=30)
    raise AssertionError(f"no {verb} progress before the deadline: {seen}")


def remote_objects(s3, remote_url: str) -> dict[str, bytes]:
    fs = s3.fs()
    prefix = remote_url.removeprefix("s3://") + "/objects"
    return {path: fs.cat_file(path) for path in (fs.find(prefix) if fs.exists(prefix) else [])}


def assert_every_object_matches_its_key(objects: dict[str, bytes]) -> None:
    for path, data in objects.items():
        parts = path.split("/")
        assert hashlib.sha256(data).hexdigest() == parts[-2] + parts[-1], f"corrupt object visible: {path}"


def test_sigkill_mid_push_leaves_no_corrupt_object_and_the_rerun_completes(trained, s3, remote_url, tmp_path):
    project = clone(trained, tmp_path / "p", remote_url, s3.endpoint)
    env = cli_env(trained["store"])
    lock_before = (project / "specs" / "support.lock").read_bytes()
    seen = kill_mid_transfer(start(["push", "-j", "2"], project, {**env, **SLOW}), "push")
    assert "push: " in seen
    objects = remote_objects(s3, remote_url)
    assert_every_object_matches_its_key(objects)
    tree = json.loads(lock_before)["artifacts"]["model"]["sha256"]
    assert not any(p.endswith(tree[2:]) for p in objects), "the tree listing goes last, after every file"
    assert (project / "specs" / "support.lock").read_bytes() == lock_before

    rerun = ftspec(["push"], project, env)
    assert rerun.returncode == 0, rerun.stderr
    objects = remote_objects(s3, remote_url)
    assert_every_object_matches_its_key(objects)
    assert any(p.endswith(tree[2:]) for p in objects)
    assert json.loads((project / "specs" / "support.lock").read_text())["artifacts"]["model"]["remotes"] == ["origin"]


def test_sigkill_mid_pull_installs_nothing_and_the_rerun_resumes(trained, s3, remote_url, tmp_path):
    project = clone(trained, tmp_path / "p", remote_url, s3.endpoint)
    assert ftspec(["push"], project, cli_env(trained["store"])).returncode == 0
    git(project, "commit", "-qam", "pushed")
    git(tmp_path, "clone", "-q", str(project), "mate")
    mate, store = tmp_path / "mate", tmp_path / "store-b"
    env = cli_env(store)
    kill_mid_transfer(start(["pull", "-j", "1"], mate, {**env, **SLOW}), "pull")
    model = json.loads((mate / "specs" / "support.lock").read_text())["model"]
    job_id = model.rsplit(":", 1)[1]
    assert not (store / "models" / job_id).exists() and not (store / "jobs" / job_id / "job.json").exists()
    status = ftspec(["status", "specs/support.yaml"], mate, env)
    assert f"model {model}" in status.stdout and "not here (pull)" in status.stdout
    parts = list((mate / ".ftspec").rglob("*.part"))
    assert parts, "the killed pull leaves its partial file to resume from"
    lock = json.loads((mate / "specs" / "support.lock").read_text())
    for split, sha in lock["dataset"]["files"].items():  # a dataset file is there whole, or not at all
        path = mate / ".ftspec" / "datasets" / "support" / f"{split}.jsonl"
        assert not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() == sha

    rerun = ftspec(["pull"], mate, env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"pulled model {model}" in rerun.stderr
    for name in ("adapter/adapter_model.safetensors", "manifest.json"):
        assert (store / "models" / job_id / name).read_bytes() == (trained["store"] / "models" / job_id / name).read_bytes()
    status = ftspec(["status", "specs/support.yaml"], mate, env)
    assert "not here (pull)" not in status.stdout and "nowhere" not in status.stdout


def test_a_remote_object_with_the_wrong_bytes_is_refused_with_its_location(trained, s3, remote_url, tmp_path):
    project = clone(trained, tmp_path / "p", remote_url, s3.endpoint)
    assert ftspec(["push"], project, cli_env(trained["store"])).returncode == 0
    lock = json.loads((project / "specs" / "support.lock").read_text())
    store_root = trained["store"] / "models" / lock["model"].rsplit(":", 1)[1]
    sha = hashlib.sha256((store_root / "adapter" / "adapter_model.safetensors").read_bytes()).hexdigest()
    fs = s3.fs()
    fs.pipe_file(f"{remote_url.removeprefix('s3://')}/objects/{sha[:2]}/{sha[2:]}", b"not the adapter")
    fresh = tmp_path / "store-b"
    out = ftspec(["pull"], project, cli_env(fresh))
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if not line.startswith("pull: ")]  # progress
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: specs/support.lock:") and ": artifacts.model.sha256 -> model/adapter/" in lines[0]
    assert f"has sha256 {hashlib.sha256(b'not the adapter').hexdigest()}, not {sha}; refused" in lines[0]
    assert not (fresh / "models" / lock["model"].rsplit(":", 1)[1]).exists()


@pytest.mark.parametrize(("args", "message"), [
    (["push", "-r", "nope"], "ftspec.toml: unknown remote 'nope'; known: origin"),
    (["remote", "add", "gcs", "gs://bucket/ftspec"], "the 'gs://' scheme needs the package gcsfs; run: pip install 'gcsfs'"),
    (["remote", "add", "odd", "nosuch://bucket/x"], "no fsspec backend knows the scheme 'nosuch://'"),
    (["remote", "add", "leak", "s3://b/x", "-o", "secret=abc"], "option 'secret' looks like a credential"),
])
def test_bad_input_is_one_line_and_exit_1(trained, s3, remote_url, tmp_path, args, message):
    project = clone(trained, tmp_path / "p", remote_url, s3.endpoint)
    out = ftspec(args, project, cli_env(trained["store"]))
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") <= 2 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr


def test_missing_credentials_is_one_line_naming_what_to_set(trained, s3, remote_url, tmp_path):
    project = clone(trained, tmp_path / "p", remote_url, s3.endpoint)
    env = {k: v for k, v in cli_env(trained["store"]).items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    out = ftspec(["push"], project, env)
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "no valid credentials; set AWS_ACCESS_KEY_ID" in out.stderr, out.stderr
    config = (project / "ftspec.toml").read_text()
    assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in config and "secret" not in config.lower()
    assert f"s3://{BUCKET}/" in config
