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


def empty_validation_warning(fraction: float, counts: dict[str, int], hashed_sources: bool) -> str | None:
    """Why a split that asks for validation examples has none, and what to do about it.

    The side of an example comes only from its content hash (so it never moves when other
    examples change); with few examples the expected count ``n x fraction`` is small and the
    hash can give none. Moving an example over would break that rule, so we say so instead.
    """
    train, validation = counts.get("train", 0), counts.get("validation", 0)
    if fraction <= 0 or validation or not train or not hashed_sources:
        return None
    return (f"split.validation: {fraction:g} gave 0 of {train} examples to validation (expected about "
            f"{train * fraction:.1f}; each example's side comes from a hash of its content, so a small "
            f"dataset can get none); no validation loss will be reported: add a source with "
            f"`split: validation`, add examples, or set split.validation: 0 to say you want none")
