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
    # True when the transform makes examples with a model (extract, distill): they need review
    # unless the spec's ``review`` says ``required: false`` (``ftspec.data.review``)
    generates: ClassVar[bool] = False
    model_kind: ClassVar[str | None] = None  # "chat" | "moderation": calls a model (``data.generate``)

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

    @classmethod
    def problems(cls, spec: Spec, index: int, options: dict[str, Any], check_files: bool) -> list[Any]:
        """Located problems with this transform's options, found before any data is read."""
        return []

    @classmethod
    def files(cls, spec: Spec, options: dict[str, Any]) -> list[Any]:
        """Files beside the spec the transform reads (prompts, few-shot examples): the dataset's key."""
        return []


TRANSFORMS: Registry[type[Transform]] = Registry("transform", __name__)


def transform_problems(spec: Spec, check_files: bool) -> list[Any]:
    """The spec check for ``transforms``: each transform's own option checks."""
    problems: list[Any] = []
    for index, (name, options) in enumerate(spec.transforms):
        if name in TRANSFORMS:
            problems += TRANSFORMS.get(name).problems(spec, index, options, check_files)
    problems += _raw_source_problems(spec)
    return problems


def _raw_source_problems(spec: Spec) -> list[Any]:
    """Raw text is never trained on: a ``transcript`` source needs an ``extract`` that reads it."""
    read: set[str] = set()
    for name, options in spec.transforms:
        if name == "extract":
            read.update(options.get("sources") or [s.name for s in spec.sources if s.format == "transcript"])
    return [spec.problem(("sources", s.index, "format"),
                         f"source '{s.name}' is raw text (format transcript): only an `extract` transform "
                         "can use it, and none reads it")
            for s in spec.sources if s.format == "transcript" and s.name not in read]


def transform_files(spec: Spec) -> list[Any]:
    out: list[Any] = []
    for name, options in spec.transforms:
        if name in TRANSFORMS:
            out += TRANSFORMS.get(name).files(spec, options)
    return out


def spec_generates(spec: Spec) -> bool:
    """Whether a transform of ``spec`` makes examples with a model (so review is implied)."""
    return any(name in TRANSFORMS and TRANSFORMS.get(name).generates for name, _ in spec.transforms)
