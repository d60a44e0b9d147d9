"""The committed lockfile ``specs/<name>.lock``: what a build made, canonical and stable.

Canonical JSON (sorted keys, indent 2, trailing newline), no timestamps, so a no-op build
leaves it byte-identical. Never holds a secret: only ids, hashes, counts and summaries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftspec.errors import LockError
from ftspec.util import atomic_write_text

LOCK_VERSION = 1


def lock_from_build(spec: Any, *, dataset: dict[str, Any], files: dict[str, Any], job: dict[str, Any],
                    finished: dict[str, Any], hyperparameters: dict[str, Any],
                    evals: dict[str, Any], serve: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lockfile of a finished build, from its recorded task outputs: the dataset task's
    (``dataset``), the uploaded file ids per split (``files``), the job task's id and key
    (``job``), the wait task's result (``finished``: model, status, trained tokens), the
    hyperparameters the job ran with and each eval set's summary; ``serve`` (local models: see
    ``serve_entry``) says how to serve the model."""
    lock = {
        "lock_version": LOCK_VERSION,
        "spec_sha256": spec.sha256,
        "dataset": {"sha256": dataset["dataset_sha256"], "counts": dataset["counts"],
                    "tokens": dataset["tokens"], "files": dataset["sha256"]},
        "provider": spec.provider,
        "base_model": spec.base_model,
        "files": files,
        "job": {"id": job["id"], "key": job["key"], "status": finished.get("status"),
                "trained_tokens": finished.get("trained_tokens"), "hyperparameters": hyperparameters},
        "model": finished.get("fine_tuned_model"),
        "evals": evals,
    }
    if serve is not None:
        lock["serve"] = serve
    return lock


def serve_entry(spec_path: str, model: str | None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"command": "ftspec serve SPEC", "exports": {format: artifact sha256}}`` for a local model.
    Exports recorded by ``ftspec export`` are kept while the model stays the same."""
    exports: dict[str, str] = {}
    if previous and previous.get("model") == model:
        exports = dict((previous.get("serve") or {}).get("exports") or {})
    return {"command": f"ftspec serve {spec_path}", "exports": exports}


def record_export(path: str | Path, model: str, fmt: str, sha256: str, spec_path: str) -> bool:
    """Add an export of the locked model to its ``serve`` entry; False when the lockfile is for
    another model (or absent), which is then left as it is."""
    path = Path(path)
    if not path.is_file():
        return False
    lock = load_lock(path)
    if lock.get("model") != model:
        return False
    serve = serve_entry(spec_path, model, lock)
    serve["command"] = (lock.get("serve") or {}).get("command", serve["command"])
    serve["exports"][fmt] = sha256
    lock["serve"] = serve
    return write_lock(path, lock)


def lock_path(spec_path: str | Path) -> Path:
    """``specs/support.yaml`` -> ``specs/support.lock``."""
    return Path(spec_path).with_suffix(".lock")


def dumps_lock(lock: dict[str, Any]) -> str:
    return json.dumps(lock, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_lock(path: str | Path, lock: dict[str, Any]) -> bool:
    """Write atomically when the content changed; returns whether it did (mtime kept on no-op)."""
    path = Path(path)
    text = dumps_lock(lock)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def load_lock(path_or_text: str | Path) -> dict[str, Any]:
    """Parse and check a lockfile given as a path or as its text."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and not path_or_text.lstrip().startswith("{")):
        path = Path(path_or_text)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LockError(f"{name}: lockfile not found; run: ftspec build") from None
    else:
        name, text = "<lock>", str(path_or_text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(f"{name}:{exc.lineno}:{exc.colno}: lockfile is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise LockError(f"{name}:1:1: lockfile must be a JSON object")
    version = data.get("lock_version")
    if version != LOCK_VERSION:
        raise LockError(
            f"{name}: unsupported lock_version {version!r} (this ftspec reads version {LOCK_VERSION})",
            hint="rebuild with this ftspec version (ftspec build) or upgrade ftspec",
        )
    missing = [k for k in ("spec_sha256", "provider", "base_model") if k not in data]
    if missing:
        raise LockError(f"{name}: lockfile is missing {', '.join(missing)}")
    return data
