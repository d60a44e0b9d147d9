"""Train/validation assignment by a stable hash of each example's content.

An example's side depends only on its own id (and the optional salt), so adding or removing
other examples never moves it.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def validation_score(example_id: str, salt: str = "") -> float:
    """A uniform number in [0, 1) derived from the example id."""
    digest = hashlib.sha256(f"{salt}\x00{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_split(example_id: str, fraction: float, salt: str = "", forced: str = "auto") -> str:
    if forced in ("train", "validation"):
        return forced
    return "validation" if fraction > 0 and validation_score(example_id, salt) < fraction else "train"
