"""The local provider's model as an artifact: the job record, its events and the adapter.

Files of a tree (paths relative to the tree)::

    job.json               the job record without machine-specific fields (pid, device)
    events.jsonl           its training events (the eval report shows the loss curve)
    model/manifest.json    the model manifest
    model/adapter/...      the LoRA adapter the worker saved

Checkpoints and the worker log stay behind: they are not needed to serve, evaluate or export.
Installing writes the model folder under a temporary name and renames it, then the job record,
then the idempotency key, so ``find_job`` sees a pulled model only once all of it is there.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ftspec.artifacts.kinds import MODEL_ARTIFACTS
from ftspec.artifacts.tree import Tree
from ftspec.util import atomic_write_bytes

MACHINE_FIELDS = ("pid", "pid_start", "cancel_requested", "estimated_finish")


def _job_id(model_id: str) -> str | None:
    parts = model_id.split(":")
    return parts[4] if len(parts) == 5 and parts[2] == "local" and parts[4].startswith("ftjob-") else None


def portable_job(job: dict[str, Any]) -> bytes:
    """The job record as the same bytes on every machine (idempotent on its own output)."""
    kept = {k: v for k, v in job.items() if k not in MACHINE_FIELDS}
    return (json.dumps(kept, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


@MODEL_ARTIFACTS.register("local")
class LocalModelArtifact:
    def collect(self, provider: Any, model_id: str) -> Tree | None:
        store = provider.store
        job_id = _job_id(model_id)
        if job_id is None or store.manifest(job_id) is None:
            return None
        job_file = store.job_dir(job_id) / "job.json"
        if not job_file.is_file():
            return None
        job = json.loads(job_file.read_text(encoding="utf-8"))
        if job.get("status") != "succeeded":
            return None
        files: dict[str, Path | bytes] = {"job.json": portable_job(job)}
        events = store.job_dir(job_id) / "events.jsonl"
        if events.is_file():
            files["events.jsonl"] = events
        model_dir = store.model_dir(job_id)
        for path in sorted(model_dir.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[f"model/{path.relative_to(model_dir).as_posix()}"] = path
        return Tree.of(files)

    def present(self, provider: Any, model_id: str) -> bool:
        job_id = _job_id(model_id)
        return job_id is not None and provider.store.manifest(job_id) is not None

    def install(self, provider: Any, model_id: str, files: dict[str, Path]) -> None:
        store = provider.store
        job_id = _job_id(model_id)
        if job_id is None:
            raise ValueError(f"not a local model id: {model_id}")
        model_dir = store.model_dir(job_id)
        if not (model_dir / "manifest.json").is_file():
            staging = model_dir.with_name(f".{job_id}.{uuid.uuid4().hex}.pull")
            for rel, src in files.items():
                if rel.startswith("model/"):
                    target = staging / rel[len("model/"):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, target)
            shutil.rmtree(model_dir, ignore_errors=True)  # a folder without its manifest is incomplete
            os.replace(staging, model_dir)
        job_dir = store.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        if "events.jsonl" in files:
            atomic_write_bytes(job_dir / "events.jsonl", files["events.jsonl"].read_bytes())
        job = json.loads(files["job.json"].read_bytes())
        atomic_write_bytes(job_dir / "job.json", portable_job(job))
        if job.get("idempotency_key"):
            store.remember_key("jobs", job["idempotency_key"], job_id)
