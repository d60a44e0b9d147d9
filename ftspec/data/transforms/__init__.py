"""Transforms, one module each, registered by name in ``TRANSFORMS``.

A transform is a streaming filter/mapper. ``stage = "pre"`` transforms see ``Example``s before
the template (dedupe, PII scrubbing, sampling); ``stage = "post"`` ones see ``Rendered`` records
with their exact token counts (max_tokens). Every removal goes through ``ctx.remove`` so the
manifest says what was removed and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ftspec.data.context import BuildContext
from ftspec.registry import Registry

if TYPE_CHECKING:
    from ftspec.spec.model import Spec


class Transform:
    stage: ClassVar[str] = "pre"
    # True when the result for one example never depends on others (no dedupe sets, no
    # sampling heaps): such transforms can run on shards of the data in parallel.
    per_example: ClassVar[bool] = False

    def __init__(self, name: str, options: dict[str, Any], spec: Spec, ctx: BuildContext, index: int) -> None:
        self.name = name
        self.options = options
        self.spec = spec
        self.ctx = ctx
        self.index = index  # position in `transforms:` for located errors

    def apply(self, items: Iterator[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def remove(self, reason: str, example: Any = None) -> None:
        self.ctx.remove(self.name, reason, example)


TRANSFORMS: Registry[type[Transform]] = Registry("transform", __name__)
