"""The eval generation cache of one model, shared through the remote.

A teammate who pulls a model also pulls the generations its evals made (same requests, same
answers, same recorded latencies), so the eval reports and the lockfile come out byte-identical
instead of differing by timing. The rows are one content-addressed blob; a small pointer
``refs/generations/<sha256(model id)>.json`` names the latest blob for the model (a push merges
what the remote already had). The lockfile is not involved: the cache grows with ad-hoc evals.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path

from ftspec.artifacts.store import Blob, RemoteStore
from ftspec.project import state_dir


def _db(root: Path) -> Path:
    return state_dir(root) / "cache" / "evals.sqlite"


def _pointer(store: RemoteStore, model: str) -> str:
    return f"{store.root}/refs/generations/{hashlib.sha256(model.encode()).hexdigest()}.json"


def local_rows(root: Path, model: str) -> dict[str, str]:
    path = _db(root)
    if not path.is_file():
        return {}
    db = sqlite3.connect(str(path), timeout=30)
    try:
        return dict(db.execute("SELECT key, result FROM generations WHERE model = ?", (model,)).fetchall())
    except sqlite3.OperationalError:  # no table yet
        return {}
    finally:
        db.close()


def _blob(model: str, rows: dict[str, str]) -> Blob:
    data = "".join(json.dumps({"key": k, "model": model, "result": rows[k]}, sort_keys=True) + "\n"
                   for k in sorted(rows)).encode()
    return Blob(hashlib.sha256(data).hexdigest(), len(data), data=data)


def _remote_rows(store: RemoteStore, model: str) -> tuple[dict[str, str], str | None]:
    with store.errors("read the generation cache pointer"):
        try:
            pointer = json.loads(store.fs.cat_file(_pointer(store, model)))
        except FileNotFoundError:
            return {}, None
    sha = pointer["sha256"]
    with store.errors(f"read generation cache {sha[:12]}"):
        data = store.fs.cat_file(store.object_key(sha))
    if hashlib.sha256(data).hexdigest() != sha:
        return {}, None  # a damaged cache is only a cache: regenerate rather than trust it
    rows = {}
    for line in data.decode().splitlines():
        row = json.loads(line)
        rows[row["key"]] = row["result"]
    return rows, sha


def push_generations(root: Path, store: RemoteStore, model: str) -> int:
    """Merge this machine's generations of ``model`` into the remote's; returns rows pushed."""
    rows = local_rows(root, model)
    if not rows:
        return 0
    remote_rows, remote_sha = _remote_rows(store, model)
    merged = {**remote_rows, **rows}
    blob = _blob(model, merged)
    if blob.sha256 == remote_sha:
        return 0
    store.push(blob)
    pointer = json.dumps({"model": model, "sha256": blob.sha256, "rows": len(merged)}, sort_keys=True).encode()
    final = _pointer(store, model)
    tmp = f"{store.root}/tmp/pointer.{uuid.uuid4().hex}"
    with store.errors("write the generation cache pointer"):
        store.fs.pipe_file(tmp, pointer)
        store.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        store.fs.mv(tmp, final)
    return len(rows)


def pull_generations(root: Path, store: RemoteStore, model: str) -> int:
    """Add the remote's generations of ``model`` that this machine lacks; returns rows added."""
    rows, _ = _remote_rows(store, model)
    if not rows:
        return 0
    from ftspec.evals.cache import EvalCache

    EvalCache.for_project(root).close()  # creates the schema
    db = sqlite3.connect(str(_db(root)), timeout=30)
    try:
        with db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO generations VALUES (?, ?, ?)",
                           [(k, model, v) for k, v in rows.items()])
            return db.total_changes - before
    finally:
        db.close()


def referenced_blobs(store: RemoteStore, models: set[str]) -> set[str]:
    """The generation blobs the pointers of ``models`` name (for gc)."""
    out = set()
    for model in models:
        with store.errors("read the generation cache pointer"):
            try:
                out.add(json.loads(store.fs.cat_file(_pointer(store, model)))["sha256"])
            except FileNotFoundError:
                continue
    return out
