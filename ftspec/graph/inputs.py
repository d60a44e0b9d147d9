"""Exactly what each task depends on, as flat ``{name: hash-or-value}`` dicts.

Flat dicts make staleness explainable: ``ftspec status`` diffs the recorded dict against the
current one and names the keys that changed ("template.system changed"). The idempotency key
of a side effect is the sha256 of its input dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftspec.project import dataset_dir
from ftspec.spec.model import Spec
from ftspec.util import sha256_file, sha256_obj

# spec keys the dataset is built from (hyperparameters, job, evals, providers are not)
DATASET_KEYS = ("sources", "transforms", "review", "template", "split", "base_model")
KEY_LEN = 32


def short(obj: Any) -> str:
    return sha256_obj(obj)[:16]


def idempotency_key(inputs: dict[str, Any]) -> str:
    return sha256_obj(inputs)[:KEY_LEN]


def provider_scope(spec: Spec) -> str:
    """Receipts are per provider *endpoint*: a test server's ids never leak into real ones."""
    settings = spec.provider_settings
    where = settings.get("base_url") or settings.get("endpoint") or settings.get("store") or ""
    return f"{spec.provider}-{short(where)[:8]}"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(f"{prefix}.{key}", value[key], out)
    elif isinstance(value, list) and value and prefix == "sources":
        for index, item in enumerate(value):
            out[f"sources[{index}]"] = short(item)
    else:
        out[prefix] = short(value)


def dataset_inputs(spec: Spec, root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in DATASET_KEYS:
        if key in spec.raw:
            # a continued spec's tokenizer is its root base model's, wherever the parent lives
            _flatten(key, spec.base_model if key == "base_model" else spec.raw[key], out)
    for source in spec.sources:
        for path in source.files:
            out[f"file:{_rel(path, root)}"] = sha256_file(path)[:16]
    from ftspec.data.review import decisions_path
    from ftspec.data.transforms import spec_generates, transform_files

    for path in transform_files(spec):  # prompts and few-shot examples beside the spec
        if Path(path).is_file():
            out[f"file:{_rel(path, root)}"] = sha256_file(path)[:16]
    # review is implied for examples a model made: the decisions file counts without `review:`
    if spec.review is not None or spec_generates(spec):
        review_path = decisions_path(spec)
        if Path(review_path).is_file():
            out[f"file:{_rel(review_path, root)}"] = sha256_file(review_path)[:16]
    return out


def dataset_files(spec: Spec, root: Path) -> dict[str, Path]:
    folder = dataset_dir(root, spec.name)
    return {"train": folder / "train.jsonl", "validation": folder / "validation.jsonl",
            "manifest": folder / "manifest.json"}


def upload_inputs(spec: Spec, split_sha: str) -> dict[str, Any]:
    """An upload depends only on the bytes (and where they go)."""
    return {"scope": provider_scope(spec), "purpose": "fine-tune", "sha256": split_sha}


def resolved_hyperparameters(spec: Spec, n_train: int) -> dict[str, Any]:
    from ftspec.data.plan import resolve_hyperparameters

    resolved = dict(resolve_hyperparameters(spec, n_train))
    if spec.job.get("method", "supervised") != "dpo":
        resolved.pop("beta", None)
    return {k: v for k, v in resolved.items() if k not in ("local", "openai", "azure", "fireworks")}


def _what_trains(extras: dict[str, Any]) -> dict[str, Any]:
    """The provider block less where the job runs (the local ``executor``: one process or N Ray
    workers train the same model), so moving a job to a cluster does not retrain it."""
    return {k: v for k, v in extras.items() if k != "executor"}


def job_inputs(spec: Spec, files: Mapping[str, str | None], hyperparameters: dict[str, Any],
               parent_model: str | None = None) -> dict[str, Any]:
    """``parent_model``: the model a continued spec trains further (its parent's lockfile's), so
    retraining the parent stales the child."""
    job = spec.job
    out: dict[str, Any] = {
        "scope": provider_scope(spec),
        "provider": spec.provider,
        "base_model": spec.base_model,
        "training_file": files.get("train"),
        "validation_file": files.get("validation"),
        "method": job.get("method", "supervised"),
        "suffix": job.get("suffix", spec.name[:64]),
        "seed": job.get("seed"),
        "integrations": short(job.get("integrations") or []),
        "metadata": short(job.get("metadata") or {}),
        "extras": short(_what_trains((spec.raw.get("hyperparameters") or {}).get(spec.provider) or {})),
    }
    if spec.parent is not None:
        out["parent_model"] = parent_model
    for key, value in sorted(hyperparameters.items()):
        out[f"hyperparameters.{key}"] = value
    return out


def diff_inputs(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Names of inputs that were added, removed or changed."""
    if old is None:
        return ["never built"]
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    out = []
    for key in changed:
        if key not in old:
            out.append(f"{key} added")
        elif key not in new:
            out.append(f"{key} removed")
        elif key.startswith("hyperparameters.") or key in ("base_model", "parent_model", "provider", "method", "seed", "suffix"):
            out.append(f"{key} changed {old[key]!r} -> {new[key]!r}")
        else:
            out.append(f"{key} changed")
    return out


def _rel(path: str | Path, root: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
