"""Git revisions of a project: read a file or a whole tree as it was at a commit.

``ftspec diff`` compares revisions and ``ftspec gc --remote`` reads the lockfiles at every
branch tip; both go through this module, which runs git itself (no library binding), so what
they see is exactly what ``git show`` shows. A revision of ``None`` means the working tree.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from ftspec.errors import FtspecError

GIT_TIMEOUT_S = 120


class RevisionError(FtspecError):
    """Not a git repository, a revision git cannot resolve, or git itself failing."""


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise RevisionError("git is not installed; ftspec reads revisions with git") from None
    except subprocess.TimeoutExpired:
        raise RevisionError(f"git {' '.join(args)}: no answer in {GIT_TIMEOUT_S} s") from None


def _failure(args: tuple[str, ...], proc: subprocess.CompletedProcess[bytes]) -> RevisionError:
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return RevisionError(f"git {' '.join(args)}: {lines[-1] if lines else 'failed'}")


def git_output(root: Path, *args: str, check: bool = True) -> bytes | None:
    """git's stdout, or None on failure (``check=False``); a failure raises otherwise."""
    proc = _run(root, *args)
    if proc.returncode != 0:
        if check:
            raise _failure(args, proc)
        return None
    return proc.stdout


def git_root(start: Path) -> Path:
    """The top of the repository holding ``start``."""
    out = git_output(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel", check=False)
    if out is None:
        raise RevisionError(f"{start}: not inside a git repository")
    return Path(out.decode().strip()).resolve()


def resolve_commit(root: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None when git cannot resolve it."""
    out = git_output(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return out.decode().strip() if out is not None else None


def read_bytes(root: Path, rev: str | None, rel: str) -> bytes | None:
    """A file's bytes at ``rev`` (the working tree for None); None where it does not exist."""
    if rev is None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None
    return git_output(root, "show", f"{rev}:{rel}", check=False)


def read_text(root: Path, rev: str | None, rel: str) -> str | None:
    data = read_bytes(root, rev, rel)
    return data.decode("utf-8") if data is not None else None


def extract_tree(root: Path, rev: str, dest: Path) -> Path:
    """Write the whole tree of ``rev`` into ``dest`` (``git archive``; never the working tree)."""
    data = git_output(root, "archive", "--format=tar", rev)
    with tarfile.open(fileobj=io.BytesIO(data or b"")) as tar:
        tar.extractall(dest, filter="data")
    return dest


def branch_tips(root: Path) -> list[tuple[str, str]]:
    """``(commit, short ref name)`` of every local and remote-tracking branch, one per commit."""
    out = git_output(root, "for-each-ref", "--format=%(objectname) %(refname:short)",
                     "refs/heads", "refs/remotes", check=False)
    tips: dict[str, str] = {}
    for line in (out or b"").decode().splitlines():
        commit, _, ref = line.partition(" ")
        tips.setdefault(commit, ref)
    return list(tips.items())


def list_files(root: Path, rev: str) -> list[str]:
    """Every file path in the tree of ``rev``."""
    out = git_output(root, "ls-tree", "-r", "-z", "--name-only", rev, check=False) or b""
    return [name for name in out.decode().split("\0") if name]
