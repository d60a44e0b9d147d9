"""The local provider's store: files, jobs, events and models on disk, outside the checkout.

Layout (all JSON written atomically; events are append-only JSONL written by the worker)::

    STORE/files/<file-id>.jsonl + <file-id>.json     content-addressed uploads + metadata
    STORE/keys/<kind>/<sha256(idempotency key)>      -> the file or job id made under that key
    STORE/jobs/<job-id>/job.json, events.jsonl, worker.log, checkpoints/epoch-N/
    STORE/models/<job-id>/adapter/, manifest.json    the fine-tuned model

Default location: $FTSPEC_LOCAL_STORE, else $XDG_DATA_HOME/ftspec/local-store
(``~/.local/share/ftspec/local-store``); ``providers.local.store`` in a spec overrides both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from filelock import FileLock

from ftspec.errors import ProviderError
from ftspec.util import atomic_write_json, sha256_file


def default_store() -> Path:
    env = os.environ.get("FTSPEC_LOCAL_STORE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ftspec" / "local-store"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("files", "jobs", "models", "keys/files", "keys/jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ---- idempotency keys ----------------------------------------------------------------
    def _key_path(self, kind: str, key: str) -> Path:
        return self.root / "keys" / kind / hashlib.sha256(key.encode()).hexdigest()

    def remember_key(self, kind: str, key: str, value: str) -> None:
        atomic_write_json(self._key_path(kind, key), {"key": key, "id": value})

    def lookup_key(self, kind: str, key: str) -> str | None:
        found = _read(self._key_path(kind, key))
        return found["id"] if found else None

    # ---- files ---------------------------------------------------------------------------
    def put_file(self, path: Path, *, idempotency_key: str, purpose: str) -> dict[str, Any]:
        digest = sha256_file(path)
        file_id = f"file-{digest[:24]}"
        data = self.root / "files" / f"{file_id}.jsonl"
        with FileLock(str(data) + ".lock"):
            if not data.exists():
                tmp = data.with_name(f".{data.name}.{uuid.uuid4().hex}.tmp")
                shutil.copyfile(path, tmp)
                os.replace(tmp, data)
            meta = self.file_meta(file_id) or {
                "id": file_id, "filename": Path(path).name, "bytes": data.stat().st_size,
                "purpose": purpose, "created_at": int(time.time()), "sha256": digest,
            }
            atomic_write_json(self.root / "files" / f"{file_id}.json", meta)
        self.remember_key("files", idempotency_key, file_id)
        return meta

    def file_meta(self, file_id: str) -> dict[str, Any] | None:
        return _read(self.root / "files" / f"{file_id}.json")

    def file_path(self, file_id: str) -> Path:
        path = self.root / "files" / f"{file_id}.jsonl"
        if not path.is_file():
            raise ProviderError(f"local file not found: {file_id}")
        return path

    def list_files(self) -> list[dict[str, Any]]:
        metas = (_read(p) for p in sorted((self.root / "files").glob("file-*.json")))
        return [m for m in metas if m]

    def delete_file(self, file_id: str) -> None:
        for suffix in (".jsonl", ".json", ".jsonl.lock"):
            (self.root / "files" / f"{file_id}{suffix}").unlink(missing_ok=True)

    # ---- jobs ----------------------------------------------------------------------------
    def new_job_id(self) -> str:
        return f"ftjob-{uuid.uuid4().hex[:20]}"

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def read_job(self, job_id: str) -> dict[str, Any]:
        job = _read(self.job_dir(job_id) / "job.json")
        if job is None:
            raise ProviderError(f"local job not found: {job_id}")
        return job

    def job_lock(self, job_id: str) -> FileLock:
        return FileLock(str(self.job_dir(job_id) / "job.lock"))

    def write_job(self, job: dict[str, Any]) -> None:
        atomic_write_json(self.job_dir(job["id"]) / "job.json", job)

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        with self.job_lock(job_id):
            job = self.read_job(job_id)
            job.update(fields)
            self.write_job(job)
        return job

    def list_jobs(self) -> list[dict[str, Any]]:
        jobs = (_read(p / "job.json") for p in sorted((self.root / "jobs").iterdir()))
        return [j for j in jobs if j]

    def append_event(self, job_id: str, level: str, message: str, *, type: str = "message",
                     data: dict[str, Any] | None = None) -> None:
        event = {"created_at": int(time.time()), "level": level, "message": message,
                 "type": type, "data": data or {}}
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        with open(self.job_dir(job_id) / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()

    def events(self, job_id: str) -> list[dict[str, Any]]:
        path = self.job_dir(job_id) / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                out.append({"id": f"ftevent-{job_id[6:]}-{n}", **json.loads(line)})
            except json.JSONDecodeError:  # a line cut short by a killed worker
                continue
        return out

    # ---- models --------------------------------------------------------------------------
    def model_dir(self, job_id: str) -> Path:
        return self.root / "models" / job_id

    def manifest(self, job_id: str) -> dict[str, Any] | None:
        return _read(self.model_dir(job_id) / "manifest.json")

    def list_manifests(self) -> list[dict[str, Any]]:
        found = (_read(p / "manifest.json") for p in sorted((self.root / "models").iterdir()))
        return [m for m in found if m]

    def delete_model(self, job_id: str) -> None:
        shutil.rmtree(self.model_dir(job_id), ignore_errors=True)
