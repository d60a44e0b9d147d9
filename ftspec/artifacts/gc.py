"""``ftspec gc --remote``: remote objects that no lockfile on any branch references.

Lockfiles are read at every branch tip (``refs/heads`` and ``refs/remotes``) through git, plus
the working tree's, so a model that only a teammate's branch still needs is never listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec import revisions
from ftspec.artifacts.store import RemoteStore, open_remote
from ftspec.artifacts.tree import parse_listing

SKIP_DIRS = {".git", ".ftspec", ".venv", "node_modules", "__pycache__"}


def lock_texts(root: Path) -> list[tuple[str, str]]:
    """``(where, text)`` of every ``*.lock`` at every branch tip and in the working tree."""
    out: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.lock")):
        if not SKIP_DIRS & set(path.relative_to(root).parts):
            out.append((path.relative_to(root).as_posix(), path.read_text(encoding="utf-8", errors="replace")))
    for commit, ref in revisions.branch_tips(root):
        for name in revisions.list_files(root, commit):
            if name.endswith(".lock") and not SKIP_DIRS & set(name.split("/")):
                blob = revisions.read_bytes(root, commit, name)
                if blob is not None:
                    out.append((f"{ref}:{name}", blob.decode("utf-8", errors="replace")))
    return out


def referenced(root: Path, store: RemoteStore) -> set[str]:
    """Every sha256 a lockfile references: dataset splits, model trees and the files they list."""
    from ftspec.artifacts.generations import referenced_blobs

    shas: set[str] = set()
    trees: set[str] = set()
    models: set[str] = set()
    for _, text in lock_texts(root):
        try:
            lock = json.loads(text)
        except ValueError:
            continue
        if not isinstance(lock, dict) or "lock_version" not in lock:
            continue  # another tool's lockfile
        shas.update(s for s in ((lock.get("dataset") or {}).get("files") or {}).values() if s)
        tree = ((lock.get("artifacts") or {}).get("model") or {}).get("sha256")
        if tree:
            trees.add(tree)
        if lock.get("model"):
            models.add(str(lock["model"]))
    for tree in trees:
        shas.add(tree)
        with store.errors(f"read tree {tree[:12]}"):
            try:
                data = store.fs.cat_file(store.object_key(tree))
            except FileNotFoundError:
                continue
        shas.update(r["sha256"] for r in parse_listing(data, f"tree {tree}"))
    return shas | referenced_blobs(store, models)


@dataclass
class RemoteGarbage:
    remote: str
    objects: dict[str, int] = field(default_factory=dict)   # sha -> bytes
    temp: dict[str, int] = field(default_factory=dict)      # leftover uploads of killed pushes
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "objects": self.objects, "temp": self.temp, "deleted": self.deleted}


def gc_remote(root: Path, remote: str | None = None, *, delete: bool = False) -> RemoteGarbage:
    store = open_remote(root, remote)
    keep = referenced(root, store)
    garbage = RemoteGarbage(store.name)
    garbage.objects = {sha: size for sha, size in sorted(store.list_objects().items()) if sha not in keep}
    garbage.temp = store.list_temp()
    if delete:
        for sha in garbage.objects:
            store.delete(store.object_key(sha))
        for key in garbage.temp:
            store.delete(key)
        garbage.deleted = True
    return garbage
