"""The base-model table (``base_models.json``): encoding, per-example limit, prices, shutdown,
and the day the provider stops accepting fine-tuning jobs (the date logic is ``shutdown.py``).

Lookups resolve fine-tuned names (``ft:gpt-4o-mini-2024-07-18:org:suffix:id``) to their base
by parsing the name, never by prefix matching: ``ft:gpt-4.1-…`` must not match ``gpt-4``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("base_models.json")

@dataclass(frozen=True)
class BaseModel:
    name: str
    provider: str
    encoding: str | None
    context_limit: int | None
    training_per_1m: float | None
    inference_input_per_1m: float | None
    inference_output_per_1m: float | None
    shutdown: str | None
    jobs_end: str | None  # first day the provider accepts no new fine-tuning job on it
    source: str
    checked: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@cache
def _models() -> dict[str, BaseModel]:
    raw = json.loads(_TABLE.read_text(encoding="utf-8"))["models"]
    return {name: BaseModel(name=name, **fields) for name, fields in raw.items()}


def base_name(model: str) -> str:
    """``ft:BASE:org:suffix:id[:ckpt-step-N]`` -> ``BASE``; other names unchanged."""
    if model.startswith("ft:"):
        parts = model.split(":")
        return parts[1] if len(parts) > 1 and parts[1] else model
    return model


def lookup(model: str) -> BaseModel | None:
    """The table entry for a base model or a fine-tune of one; None when unknown."""
    return _models().get(base_name(model))


def known_models(provider: str) -> list[str]:
    """The table's base models of ``provider``."""
    return [name for name, info in _models().items() if info.provider == provider]


def provider_dataset_limits(provider: str) -> dict[str, Any]:
    """``{min_examples, max_examples, max_upload_bytes, source}`` the provider publishes (keys
    it does not publish are absent)."""
    entry = _providers().get(provider) or {}
    return {k: entry[k] for k in ("min_examples", "max_examples", "max_upload_bytes", "source") if k in entry}


def provider_jobs_end(provider: str) -> tuple[str, str] | None:
    """``(date, source)``: the first day ``provider`` accepts no new fine-tuning job on any model."""
    entry = _providers().get(provider)
    return (entry["jobs_end"], entry["source"]) if entry and entry.get("jobs_end") else None


def provider_default_base_model(provider: str) -> str | None:
    """The base model ``ftspec migrate --to PROVIDER`` starts from (``providers.*.default_base_model``)."""
    entry = _providers().get(provider) or {}
    return entry.get("default_base_model") or None


@cache
def _providers() -> dict[str, dict[str, Any]]:
    return dict(json.loads(_TABLE.read_text(encoding="utf-8")).get("providers") or {})
