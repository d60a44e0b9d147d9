"""Source formats, one module each, registered by name in ``SOURCES``.

A source turns files into ``Example`` records. Bad rows go to ``ctx.bad_row`` (which fails or
counts them per ``on_error``); input that is not training data by design (system lines, media
placeholders) goes to ``ctx.drop`` so the manifest counts it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ftspec.data.context import BuildContext
from ftspec.data.records import Example, Origin
from ftspec.errors import Problem, did_you_mean
from ftspec.registry import Registry

if TYPE_CHECKING:
    from ftspec.spec.model import SourceSpec, Spec


class Source:
    """Base class: subclasses set ``options`` (allowed format-specific keys) and ``read``."""

    options: ClassVar[frozenset[str]] = frozenset()
    required: ClassVar[frozenset[str]] = frozenset()
    # one example per source line, readable as a shard of line numbers (parallel validation)
    line_shardable: ClassVar[bool] = False

    def __init__(self, source: SourceSpec, spec: Spec, ctx: BuildContext) -> None:
        self.source = source
        self.spec = spec
        self.ctx = ctx
        self.stats = ctx.sources[source.name]

    @classmethod
    def check(cls, source: SourceSpec, spec: Spec) -> list[Problem]:
        """Option keys this format does not understand, or required ones missing."""
        problems = []
        for key in source.options:
            if key not in cls.options:
                problems.append(spec.problem(
                    ("sources", source.index, key),
                    f"format '{source.format}' has no option '{key}'{did_you_mean(key, cls.options)}",
                ))
        for key in sorted(cls.required - set(source.options)):
            problems.append(spec.problem(("sources", source.index), f"format '{source.format}' needs '{key}'"))
        problem = encoding_problem(source.encoding)
        if problem:
            problems.append(spec.problem(("sources", source.index, "encoding"), problem))
        return problems

    def read(self) -> Iterator[Example]:
        raise NotImplementedError

    # ---- helpers for subclasses ------------------------------------------------------------
    def shown(self, path: Path) -> str:
        from ftspec.spec.loader import display_path

        return display_path(path)

    def bad_row(self, file: str, line: int | None, reason: str) -> None:
        """One physical record refused (counted once, with its one primary reason)."""
        self.ctx.bad_row(self.source.name, self.source.on_error, file, line, reason, stage="source")

    def example(self, record: dict[str, Any], file: str, line: int, *, rows: int = 1, **meta: Any) -> Example:
        """An example made of ``rows`` physical records (1 for one-record-per-example formats)."""
        self.stats.examples += 1
        self.stats.rows_kept += rows
        return Example(record=record, origin=Origin(self.source.name, file, line), meta=meta)


SOURCES: Registry[type[Source]] = Registry("source format", __name__)

# Codecs Python calls text encodings that do not turn file bytes into the text written:
# punycode/idna encode host names, the escape codecs read Python literals.
_NOT_FILE_TEXT = {"punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined"}


def encoding_problem(encoding: str) -> str | None:
    """Why ``encoding:`` cannot decode a data file (unknown, or not a text encoding), or None."""
    import codecs

    if encoding == "auto":
        return None
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        return f"unknown encoding '{encoding}'; use auto, utf-8, utf-16, cp949, euc-kr, shift_jis, latin-1, ..."
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FILE_TEXT:
        return f"'{encoding}' is not a text encoding (it transforms bytes or text); use auto, utf-8, cp949, ..."
    return None


def source_problems(spec: Spec, check_files: bool) -> list[Problem]:
    """The spec check for ``sources``: a known format, then the format's own option checks."""
    problems: list[Problem] = []
    for source in spec.sources:
        if source.format not in SOURCES:
            names = SOURCES.names()
            problems.append(spec.problem(
                ("sources", source.index, "format"),
                f"unknown format '{source.format}'{did_you_mean(source.format, names)}; known: {', '.join(names)}",
            ))
        else:
            problems.extend(SOURCES.get(source.format).check(source, spec))
    return problems


def read_source(source: SourceSpec, spec: Spec, ctx: BuildContext) -> Iterator[Example]:
    reader = SOURCES.get(source.format)(source, spec, ctx)
    ctx.sources[source.name].files = [reader.shown(f) for f in source.files]
    yield from reader.read()
