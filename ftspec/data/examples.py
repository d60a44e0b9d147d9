"""The example stream: sources, then pre-transforms, then review decisions.

One function every consumer calls — the dataset build (``data.pipeline``), the review pages
(``data.review``) and ``evals.diff`` — so the order of those steps is defined once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ftspec.data.context import BuildContext
from ftspec.data.records import Example
from ftspec.data.sources import read_source
from ftspec.data.transforms import TRANSFORMS, spec_generates
from ftspec.spec.model import Spec


def build_transforms(spec: Spec, ctx: BuildContext) -> tuple[list[Any], list[Any]]:
    """The spec's transforms, split into pre-render (on examples) and post-render stages."""
    pre, post = [], []
    for index, (name, options) in enumerate(spec.transforms):
        transform = TRANSFORMS.get(name)(name, options, spec, ctx, index)
        (post if transform.stage == "post" else pre).append(transform)
    return pre, post


def iter_examples(
    spec: Spec, ctx: BuildContext, *, review: bool = True, pre_transforms: list[Any] | None = None,
) -> Iterator[Example]:
    """Every source's examples, through the pre-render transforms, then (``review=True`` and the
    spec has a ``review`` section) the review decisions. Problems collect in ``ctx``.

    ``pre_transforms`` are the ones ``build_transforms`` made for a caller that also needs the
    post-render stage (the build); without it they are built here."""
    if pre_transforms is None:
        pre_transforms, _post = build_transforms(spec, ctx)
    examples: Iterable[Example] = (e for source in spec.sources for e in read_source(source, spec, ctx))
    for transform in pre_transforms:
        examples = transform.apply(iter(examples))
    if review and (spec.review is not None or spec_generates(spec)):
        from ftspec.data.review import apply_review  # review imports this module

        examples = apply_review(iter(examples), spec, ctx)
    yield from examples
