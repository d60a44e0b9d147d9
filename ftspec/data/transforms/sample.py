"""``sample``: keep a deterministic subset, ``n`` examples or a ``fraction`` of them.

Each example gets a score from a stable hash of its id (and ``seed``). ``fraction`` keeps those
scoring below it (streaming, and adding examples never changes which others are kept). ``n``
keeps the n lowest scores (a bounded heap), emitted in input order.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator

from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform


def sample_score(example_id: str, seed: str = "") -> int:
    return int.from_bytes(hashlib.sha256(f"sample\x00{seed}\x00{example_id}".encode()).digest()[:8], "big")


@TRANSFORMS.register("sample")
class Sample(Transform):
    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        seed = str(self.options.get("seed", ""))
        if "fraction" in self.options:
            cutoff = float(self.options["fraction"]) * (1 << 64)
            for example in items:
                if sample_score(example.id, seed) < cutoff:
                    yield example
                else:
                    self.remove("not sampled", example)
            return
        yield from self._top_n(items, int(self.options["n"]), seed)

    def _top_n(self, items: Iterator[Example], n: int, seed: str) -> Iterator[Example]:
        heap: list[tuple[int, int, Example]] = []  # (-score, position, example): n lowest kept
        for position, example in enumerate(items):
            entry = (-sample_score(example.id, seed), position, example)
            if len(heap) < n:
                heapq.heappush(heap, entry)
                continue
            dropped = heapq.heappushpop(heap, entry)
            self.remove("not sampled", dropped[2])
        for _, _, example in sorted(heap, key=lambda e: e[1]):
            yield example
