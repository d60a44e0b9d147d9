"""ftspec.revisions against a real git repository in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ftspec import revisions


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "specs").mkdir()
    (root / "specs" / "a.lock").write_text("v1\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    git(root, "branch", "side")
    (root / "specs" / "a.lock").write_text("v2\n", encoding="utf-8")
    return root


def test_reads_a_file_at_a_revision_and_in_the_working_tree(repo):
    assert revisions.read_text(repo, "HEAD", "specs/a.lock") == "v1\n"
    assert revisions.read_text(repo, None, "specs/a.lock") == "v2\n"
    assert revisions.read_text(repo, "HEAD", "specs/missing.lock") is None


def test_resolves_commits_and_lists_branch_tips(repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    assert revisions.resolve_commit(repo, "main") == head
    assert revisions.resolve_commit(repo, "no-such-rev") is None
    assert revisions.branch_tips(repo) == [(head, "main")]  # one entry per commit
    assert revisions.list_files(repo, head) == ["specs/a.lock"]
    assert revisions.git_root(repo / "specs") == repo.resolve()


def test_extracts_a_revisions_tree(repo, tmp_path):
    out = revisions.extract_tree(repo, "HEAD", tmp_path / "tree")
    assert (out / "specs" / "a.lock").read_text(encoding="utf-8") == "v1\n"


def test_outside_a_repository_is_one_clear_error(tmp_path):
    with pytest.raises(revisions.RevisionError, match="not inside a git repository"):
        revisions.git_root(tmp_path)
    with pytest.raises(revisions.RevisionError, match="git archive"):
        revisions.extract_tree(tmp_path, "HEAD", tmp_path / "x")
