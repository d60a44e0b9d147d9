"""Push, pull, restore and locate the artifacts a spec's lockfile references.

What a lockfile references: the canonical dataset (``dataset.files``, one blob per split) and,
for providers whose model lives on this machine, the model tree (``artifacts.model``: the tree's
sha256, its size and the remotes it was pushed to). Which remotes hold a tree is remembered in
``.ftspec/artifacts/remotes/<sha>.json`` (written by push and pull), so a build's lockfile says
the same thing on the machine that pushed and on the one that pulled.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.artifacts.config import load_config
from ftspec.artifacts.generations import pull_generations, push_generations
from ftspec.artifacts.kinds import MODEL_ARTIFACTS
from ftspec.artifacts.store import (
    Blob,
    Progress,
    RemoteError,
    RemoteStore,
    human_bytes,
    run_parallel,
)
from ftspec.artifacts.tree import Tree, parse_listing
from ftspec.errors import FtspecError, LockError
from ftspec.project import state_dir
from ftspec.util import atomic_write_json, sha256_file

DEFAULT_JOBS = 4
SPLITS = ("train", "validation")


# ---- what a lockfile references --------------------------------------------------------------
def read_lock(spec) -> tuple[Path, dict[str, Any]] | None:
    from ftspec.lockfile import load_lock, lock_path

    path = lock_path(spec.path)
    return (path, load_lock(path)) if path.is_file() else None


def locate(lock_file: Path, root: Path, value: str, key_path: str) -> str:
    """``specs/x.lock:LINE:COL: key.path`` for the line holding ``value``."""
    try:
        rel = lock_file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = lock_file.name
    for n, line in enumerate(lock_file.read_text(encoding="utf-8").splitlines(), 1):
        col = line.find(value)
        if col >= 0:
            return f"{rel}:{n}:{col + 1}: {key_path}"
    return f"{rel}: {key_path}"


def has_model_kind(spec) -> bool:
    return spec.provider in MODEL_ARTIFACTS


def model_kind(spec):
    return MODEL_ARTIFACTS.get(spec.provider)()


# ---- which remotes hold a tree ---------------------------------------------------------------
def _where_path(root: Path, sha: str) -> Path:
    return state_dir(root) / "artifacts" / "remotes" / f"{sha}.json"


def known_remotes(root: Path, sha: str) -> list[str]:
    try:
        return sorted(json.loads(_where_path(root, sha).read_text(encoding="utf-8"))["remotes"])
    except (FileNotFoundError, ValueError, KeyError):
        return []


def remember_remote(root: Path, sha: str, remote: str) -> None:
    names = sorted({*known_remotes(root, sha), remote})
    atomic_write_json(_where_path(root, sha), {"remotes": names})


def model_lock_entry(spec, root: Path, provider, model_id: str | None) -> dict[str, Any] | None:
    """The lock's ``artifacts`` value for this model, or None when the provider hosts it."""
    if not model_id or not has_model_kind(spec):
        return None
    tree = model_kind(spec).collect(provider, model_id)
    if tree is None:
        found = read_lock(spec)
        if found and found[1].get("model") == model_id:  # the files were collected away: keep what was known
            return found[1].get("artifacts")
        return None
    return {"model": {"sha256": tree.sha256, "bytes": tree.size, "remotes": known_remotes(root, tree.sha256)}}


# ---- push ------------------------------------------------------------------------------------
@dataclass
class Transfer:
    spec: str
    sent: list[str] = field(default_factory=list)      # what moved
    present: list[str] = field(default_factory=list)   # already where it had to be
    missing: list[str] = field(default_factory=list)   # neither here nor there
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "sent": self.sent, "present": self.present,
                "missing": self.missing, "bytes": self.bytes}


def _provider(spec, root: Path):
    from ftspec.providers import provider_for_spec

    return provider_for_spec(spec, project_root=root)


def _dataset_files(spec, root: Path) -> dict[str, Path]:
    from ftspec.graph.inputs import dataset_files

    return dataset_files(spec, root)


def _echo_default(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def push(specs: list, root: Path, *, remote: str | None = None, jobs: int = DEFAULT_JOBS,
         echo: Callable[[str], None] = _echo_default) -> list[Transfer]:
    """Upload what the specs' lockfiles reference and the remote lacks; record it in the locks."""
    from ftspec.lockfile import write_lock

    store = RemoteStore(load_config(root).remote(remote))
    plans: list[tuple[Any, Transfer, list[Blob], Tree | None, Path, dict[str, Any]]] = []
    for spec in specs:
        found = read_lock(spec)
        if found is None:
            raise LockError(f"{spec.path}: no lockfile to push; run: ftspec build {spec.path}")
        lock_file, lock = found
        result = Transfer(spec.name)
        blobs: list[Blob] = []
        files = _dataset_files(spec, root)
        for split, sha in sorted((lock.get("dataset") or {}).get("files", {}).items()):
            if not sha:
                continue
            path = files.get(split)
            if path is not None and path.is_file() and sha256_file(path) == sha:
                blobs.append(Blob(sha, path.stat().st_size, path=path))
                result.sent.append(f"dataset {split}")
            else:
                result.missing.append(f"dataset {split} (not built here)")
        tree = None
        if has_model_kind(spec) and lock.get("model"):
            provider = _provider(spec, root)
            try:
                tree = model_kind(spec).collect(provider, lock["model"])
            finally:
                provider.close()
            wanted = ((lock.get("artifacts") or {}).get("model") or {}).get("sha256")
            if tree is None:
                result.missing.append(f"model {lock['model']} (not on this machine)")
            elif wanted and wanted != tree.sha256:
                where = locate(lock_file, root, wanted, "artifacts.model.sha256")
                raise RemoteError(f"{where}: the lock names tree {wanted[:12]} but model {lock['model']} "
                                  f"here hashes to {tree.sha256[:12]}; refusing to push it")
            else:
                blobs += [e.blob for e in tree.entries]
                result.sent.append(f"model {lock['model']}")
        plans.append((spec, result, blobs, tree, lock_file, lock))

    unique = {b.sha256: b for _, _, blobs, _, _, _ in plans for b in blobs}
    progress = Progress("push", sum(b.size for b in unique.values()), len(unique))
    sent = run_parallel([_bind(store.push, b, progress) for b in unique.values()], jobs)
    progress.finish()
    sent_bytes = {b.sha256: b.size for b, s in zip(unique.values(), sent, strict=True) if s}
    for spec, result, blobs, tree, lock_file, lock in plans:
        result.bytes = sum(sent_bytes.get(b.sha256, 0) for b in blobs)
        if tree is None:
            continue
        store.push(tree.blob)  # the listing last: a tree exists remotely only once its files do
        remember_remote(root, tree.sha256, store.name)
        push_generations(root, store, lock["model"])
        entry = {"sha256": tree.sha256, "bytes": tree.size, "remotes": known_remotes(root, tree.sha256)}
        if (lock.get("artifacts") or {}).get("model") != entry:
            lock = {**lock, "artifacts": {**(lock.get("artifacts") or {}), "model": entry}}
            write_lock(lock_file, lock)
            echo(f"{spec.name}: {lock_file.name} records model tree {tree.sha256[:12]} in remote '{store.name}'")
    return [p[1] for p in plans]


def _bind(fn, *args):
    def bound():
        return fn(*args)

    return bound


# ---- pull ------------------------------------------------------------------------------------
def _pull_dir(root: Path, sha: str) -> Path:
    return state_dir(root) / "artifacts" / "pull" / sha


def pull_model(spec, root: Path, provider, store: RemoteStore, lock_file: Path, lock: dict[str, Any], *,
               jobs: int = DEFAULT_JOBS, progress_label: str = "pull") -> int:
    """Fetch, verify and install the lock's model tree; returns the bytes it holds."""
    entry = lock["artifacts"]["model"]
    tree_sha = entry["sha256"]
    origin = locate(lock_file, root, tree_sha, "artifacts.model.sha256")
    staging = _pull_dir(root, tree_sha)
    listing_file = staging / "tree.json"
    if not listing_file.is_file():
        store.pull(tree_sha, listing_file, size=None, origin=origin)
    rows = parse_listing(listing_file.read_bytes(), origin)
    todo = [r for r in rows if not (staging / r["sha256"]).is_file()]
    progress = Progress(progress_label, sum(r["bytes"] for r in todo), len(todo))
    run_parallel([_bind(_pull_one, store, r, staging, origin, progress) for r in todo], jobs)
    progress.finish()
    files = {r["path"]: staging / r["sha256"] for r in rows}
    model_kind(spec).install(provider, lock["model"], files)
    remember_remote(root, tree_sha, store.name)
    pull_generations(root, store, lock["model"])
    shutil.rmtree(staging, ignore_errors=True)
    return sum(r["bytes"] for r in rows)


def _pull_one(store: RemoteStore, row: dict[str, Any], staging: Path, origin: str, progress: Progress) -> None:
    where = f"{origin} -> {row['path']}"
    store.pull(row["sha256"], staging / row["sha256"], size=row["bytes"], origin=where, progress=progress)


def _stores(root: Path, lock: dict[str, Any], name: str | None) -> list[RemoteStore]:
    """The remote asked for, else the remotes the lock says hold the model, then the default."""
    config = load_config(root)
    if name is not None:
        return [RemoteStore(config.remote(name))]
    names = [n for n in ((lock.get("artifacts") or {}).get("model") or {}).get("remotes", []) if n in config.remotes]
    if config.default and config.default not in names:
        names.append(config.default)
    if not names:
        config.remote(None)  # raises: no remote configured
    return [RemoteStore(config.remote(n)) for n in names]


def pull(specs: list, root: Path, *, remote: str | None = None, jobs: int = DEFAULT_JOBS,
         echo: Callable[[str], None] = _echo_default) -> list[Transfer]:
    """Fetch what the lockfiles reference and this machine lacks, verifying every sha256."""
    out = []
    for spec in specs:
        found = read_lock(spec)
        if found is None:
            raise LockError(f"{spec.path}: no lockfile, so nothing to pull; run: ftspec build {spec.path}")
        lock_file, lock = found
        stores = _stores(root, lock, remote)
        result = Transfer(spec.name)
        _pull_dataset(spec, root, stores, lock_file, lock, result, jobs)
        entry = (lock.get("artifacts") or {}).get("model")
        if entry and has_model_kind(spec) and lock.get("model"):
            provider = _provider(spec, root)
            try:
                here = model_kind(spec).collect(provider, lock["model"])
                if here is not None and here.sha256 == entry["sha256"]:
                    result.present.append(f"model {lock['model']}")
                else:
                    store = next((s for s in stores if s.has(entry["sha256"])), None)
                    if store is None:
                        result.missing.append(f"model {lock['model']} (in no remote: rebuild)")
                    else:
                        result.bytes += pull_model(spec, root, provider, store, lock_file, lock, jobs=jobs)
                        result.sent.append(f"model {lock['model']}")
                        echo(f"{spec.name}: pulled model {lock['model']} from remote '{store.name}'")
            finally:
                provider.close()
        out.append(result)
    return out


def _pull_dataset(spec, root: Path, stores: list[RemoteStore], lock_file: Path, lock: dict[str, Any],
                  result: Transfer, jobs: int) -> None:
    files = _dataset_files(spec, root)
    todo = []
    for split, sha in sorted((lock.get("dataset") or {}).get("files", {}).items()):
        path = files.get(split)
        if not sha or path is None:
            continue
        if path.is_file() and sha256_file(path) == sha:
            result.present.append(f"dataset {split}")
            continue
        store = next((s for s in stores if s.has(sha)), None)
        if store is None:
            result.missing.append(f"dataset {split} (in no remote: rebuild)")
            continue
        origin = locate(lock_file, root, sha, f"dataset.files.{split}")
        todo.append((store, sha, path, origin, split))
    if not todo:
        return
    sizes = {sha: store.size(sha) or 0 for store, sha, _, _, _ in todo}
    progress = Progress("pull", sum(sizes.values()), len(todo))
    run_parallel([_bind(_pull_file, s, sha, path, sizes[sha], origin, progress) for s, sha, path, origin, _ in todo], jobs)
    progress.finish()
    for _, sha, _, _, split in todo:
        result.sent.append(f"dataset {split}")
        result.bytes += sizes[sha]


def _pull_file(store: RemoteStore, sha: str, path: Path, size: int, origin: str, progress: Progress) -> None:
    store.pull(sha, path, size=size, origin=origin, progress=progress)


# ---- build: pull instead of retraining -------------------------------------------------------
def restore_model(spec, root: Path, provider, job_key: str, *, pull_enabled: bool,
                  echo: Callable[[str], None]) -> bool:
    """Before a job is created: if the lock names a model trained under ``job_key`` that is not
    on this machine, pull it from a remote (unless ``--no-pull``). Returns whether it did;
    says which it did either way."""
    found = read_lock(spec) if has_model_kind(spec) else None
    if found is None:
        return False
    lock_file, lock = found
    entry = (lock.get("artifacts") or {}).get("model")
    if not entry or not lock.get("model") or (lock.get("job") or {}).get("key") != job_key:
        return False
    if model_kind(spec).collect(provider, lock["model"]) is not None:
        return False
    model = lock["model"]
    if not pull_enabled:
        echo(f"{spec.name}: --no-pull: not pulling model {model} from a remote; training it again")
        return False
    config = load_config(root)
    if not config.remotes:
        echo(f"{spec.name}: model {model} is not on this machine and no remote is configured "
             "(ftspec remote add NAME URL); training it again")
        return False
    for store in _stores(root, lock, None):
        if store.has(entry["sha256"]):
            size = pull_model(spec, root, provider, store, lock_file, lock, progress_label=f"{spec.name}: pull")
            echo(f"{spec.name}: pulled model {model} from remote '{store.name}' ({human_bytes(size)}); "
                 "no training run")
            return True
    echo(f"{spec.name}: model {model} is in no remote; training it again")
    return False


def ensure_model(spec, root: Path, provider, model_id: str, *,
                 echo: Callable[[str], None] = _echo_default) -> bool:
    """For ``serve``/``export`` on another machine: pull the locked ``model_id`` when it is
    missing here and a remote holds it. Returns whether it pulled."""
    found = read_lock(spec) if has_model_kind(spec) else None
    if found is None or found[1].get("model") != model_id or not load_config(root).remotes:
        return False
    lock_file, lock = found
    entry = (lock.get("artifacts") or {}).get("model")
    if not entry or model_kind(spec).collect(provider, model_id) is not None:
        return False
    for store in _stores(root, lock, None):
        if store.has(entry["sha256"]):
            size = pull_model(spec, root, provider, store, lock_file, lock)
            echo(f"{spec.name}: pulled model {model_id} from remote '{store.name}' ({human_bytes(size)})")
            return True
    return False


# ---- status ----------------------------------------------------------------------------------
UP_TO_DATE = "up to date"
PULL = "in the remote, not here (pull)"
REBUILD = "nowhere (rebuild)"


@dataclass
class ArtifactStatus:
    artifact: str
    sha256: str
    state: str
    remote: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "sha256": self.sha256, "state": self.state,
                "remote": self.remote, "detail": self.detail}


def artifact_status(spec, root: Path) -> list[ArtifactStatus]:
    """For each artifact the lock references: here, in a remote, or nowhere. Reads only."""
    found = read_lock(spec)
    if found is None:
        return []
    _, lock = found
    wanted: list[tuple[str, str, Callable[[], bool]]] = []
    files = _dataset_files(spec, root)
    for split, sha in sorted((lock.get("dataset") or {}).get("files", {}).items()):
        if sha and split in files:
            path = files[split]
            wanted.append((f"dataset {split}", sha,
                           _bind(lambda p, s: p.is_file() and sha256_file(p) == s, path, sha)))
    entry = (lock.get("artifacts") or {}).get("model")
    if entry and has_model_kind(spec) and lock.get("model"):
        wanted.append((f"model {lock['model']}", entry["sha256"], _bind(_model_here, spec, root, lock, entry["sha256"])))
    try:
        stores = _stores(root, lock, None) if load_config(root).remotes else []
    except FtspecError as exc:
        return [ArtifactStatus(name, sha, "unknown", detail=exc.message) for name, sha, _ in wanted]
    out = []
    for name, sha, here in wanted:
        if here():
            out.append(ArtifactStatus(name, sha, UP_TO_DATE))
            continue
        try:
            holder = next((s for s in stores if s.has(sha)), None)
        except FtspecError as exc:
            out.append(ArtifactStatus(name, sha, "unknown", detail=exc.message))
            continue
        out.append(ArtifactStatus(name, sha, PULL if holder else REBUILD, holder.name if holder else None))
    return out


def _model_here(spec, root: Path, lock: dict[str, Any], sha: str) -> bool:
    provider = _provider(spec, root)
    try:
        tree = model_kind(spec).collect(provider, lock["model"])
    finally:
        provider.close()
    return tree is not None and tree.sha256 == sha
