"""The base-model table (``base_models.json``): encoding, per-example limit, prices, shutdown.

Lookups resolve fine-tuned names (``ft:gpt-4o-mini-2024-07-18:org:suffix:id``) to their base
by parsing the name, never by prefix matching: ``ft:gpt-4.1-…`` must not match ``gpt-4``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("base_models.json")
RETIREMENT_WARN_DAYS = 90

# Injectable "today" so tests can pin the retirement warning.
today: Callable[[], dt.date] = dt.date.today


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


def retirement_warning(model: str, *, on: dt.date | None = None) -> str | None:
    """A warning when the base model's shutdown date is past or within 90 days."""
    info = lookup(model)
    if info is None or not info.shutdown:
        return None
    when = dt.date.fromisoformat(info.shutdown)
    now = on or today()
    days = (when - now).days
    if days < 0:
        return f"base model {info.name} was shut down on {info.shutdown} ({-days} days ago); training and inference may fail"
    if days <= RETIREMENT_WARN_DAYS:
        return f"base model {info.name} shuts down on {info.shutdown} (in {days} days); fine-tunes of it stop working then"
    return None
