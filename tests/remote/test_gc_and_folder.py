"""``ftspec gc --remote`` reads lockfiles at every branch tip; a plain folder is a remote too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ftspec.artifacts.config import RemoteSpec
from ftspec.artifacts.store import Blob, RemoteError, RemoteStore

from .conftest import S3_ENV, cli_env, ftspec, git


def blob(data: bytes) -> Blob:
    return Blob(hashlib.sha256(data).hexdigest(), len(data), data=data)


def write_lock(project: Path, train_sha: str) -> None:
    lock = {"lock_version": 1, "spec_sha256": "0" * 64, "provider": "openai", "base_model": "m",
            "dataset": {"files": {"train": train_sha, "validation": None}}}
    (project / "specs").mkdir(exist_ok=True)
    (project / "specs" / "support.lock").write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")


def test_gc_remote_lists_only_what_no_branch_references_and_deletes_with_yes(s3, remote_url, tmp_path, monkeypatch):
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "p"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    env = cli_env(tmp_path / "store")
    assert ftspec(["remote", "add", "origin", remote_url, "-o", f"endpoint_url={s3.endpoint}"], project, env).returncode == 0
    on_main, on_branch, orphan = blob(b"main's train split\n"), blob(b"experiment's train split\n"), blob(b"nobody\n")
    store = RemoteStore(RemoteSpec("origin", remote_url, {"endpoint_url": s3.endpoint}))
    for b in (on_main, on_branch, orphan):
        assert store.push(b)
    write_lock(project, on_main.sha256)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "main")
    git(project, "checkout", "-q", "-b", "experiment")
    write_lock(project, on_branch.sha256)
    git(project, "commit", "-qam", "experiment")
    git(project, "checkout", "-q", "main")

    dry = ftspec(["gc", "--remote", "--json"], project, env)
    assert dry.returncode == 0, dry.stderr
    found = json.loads(dry.stdout)
    assert found["objects"] == {orphan.sha256: orphan.size} and found["deleted"] is False
    assert store.has(orphan.sha256)  # a dry run deletes nothing

    deleted = ftspec(["gc", "--remote", "--yes"], project, env)
    assert deleted.returncode == 0, deleted.stderr
    assert f"origin: deleted object {orphan.sha256}" in deleted.stdout
    assert not store.has(orphan.sha256) and store.has(on_main.sha256) and store.has(on_branch.sha256)


def test_a_folder_remote_round_trips_and_refuses_bytes_that_do_not_match(tmp_path):
    store = RemoteStore(RemoteSpec("shared", str(tmp_path / "drive"), {}))
    data = b"adapter bytes " * 1000
    b = blob(data)
    assert store.push(b) and not store.push(b)  # the second push sends nothing
    assert store.list_temp() == {}  # the temporary upload was renamed into place
    store.pull(b.sha256, tmp_path / "out" / "f", size=b.size, origin="x.lock:1:1: k")
    assert (tmp_path / "out" / "f").read_bytes() == data
    Path(store.object_key(b.sha256)).write_bytes(b"tampered")
    with pytest.raises(RemoteError, match=r"^x\.lock:1:1: k: remote object .* refused"):
        store.pull(b.sha256, tmp_path / "again", size=b.size, origin="x.lock:1:1: k")
    assert not (tmp_path / "again").exists() and not list(tmp_path.glob(".again.*.part"))
