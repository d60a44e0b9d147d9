"""``dedupe``: drop repeated examples (exact content, or ``normalize: true`` for whitespace/case).

Keeps the first occurrence. Remembers 16-byte digests, not the examples, so memory stays small.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform
from ftspec.util import canonical_json

_SPACE = re.compile(r"\s+")


def normalize_text(value: Any) -> Any:
    """Collapse whitespace runs, trim and casefold every string inside ``value``."""
    if isinstance(value, str):
        return _SPACE.sub(" ", value).strip().casefold()
    if isinstance(value, list):
        return [normalize_text(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize_text(v) for k, v in value.items()}
    return value


@TRANSFORMS.register("dedupe")
class Dedupe(Transform):
    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        normalize = bool(self.options.get("normalize", False))
        reason = "duplicate (normalized whitespace/case)" if normalize else "duplicate"
        seen: set[bytes] = set()
        for example in items:
            content = normalize_text(example.record) if normalize else example.record
            key = hashlib.blake2b(canonical_json(content).encode("utf-8"), digest_size=16).digest()
            if key in seen:
                self.remove(reason, example)
                continue
            seen.add(key)
            yield example
