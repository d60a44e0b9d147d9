"""Sampling per eval set and the ``matrix:`` that sweeps one parameter.

Each matrix point is a *variant*: the base sampling with one (or, discouraged, several)
parameters replaced. Seed 000's rule: vary temperature or top_p, not both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

SAMPLING_KEYS = ("temperature", "top_p", "n", "frequency_penalty", "presence_penalty", "max_tokens",
                 "stop", "seed")
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class Variant:
    label: str  # "default" or "temperature=0.7"
    sampling: dict[str, Any]


def variants(eval_cfg: dict[str, Any]) -> list[Variant]:
    base = dict(eval_cfg.get("sampling") or {})
    matrix = eval_cfg.get("matrix") or {}
    if not matrix:
        return [Variant("default", base)]
    keys = [k for k in SAMPLING_KEYS if k in matrix]
    out = []
    for values in itertools.product(*(matrix[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        label = ",".join(f"{k}={_short(v)}" for k, v in point.items())
        out.append(Variant(label, {**base, **point}))
    return out


def _short(value: Any) -> str:
    return "|".join(value) if isinstance(value, list) else str(value)


def matrix_warnings(eval_cfg: dict[str, Any]) -> list[str]:
    matrix = eval_cfg.get("matrix") or {}
    warnings = []
    if "temperature" in matrix and "top_p" in matrix:
        warnings.append(
            f"eval '{eval_cfg['name']}': the matrix varies temperature and top_p together; "
            "vary one at a time to know which one made the difference"
        )
    return warnings


def stop_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
