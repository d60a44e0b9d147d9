"""Shared base of the chat-log formats (kakaotalk, messages_csv): files -> messages -> shaping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ftspec.data.encoding import decode_error, locate_decode_error, open_text
from ftspec.data.records import Example
from ftspec.data.shaping import SHAPING_OPTIONS, Message, Shaper, parse_duration
from ftspec.data.sources import Source
from ftspec.data.sources._lines import resolve_encoding
from ftspec.errors import DataError


class SpeakerSource(Source):
    """Subclasses turn one file into ``Message``s; speakers, turns and sessions are shaped here."""

    options = SHAPING_OPTIONS
    required = frozenset({"assistant"})

    @classmethod
    def check(cls, source, spec):  # type: ignore[no-untyped-def]
        problems = super().check(source, spec)
        gap = source.options.get("session_gap")
        if isinstance(gap, str):
            try:
                parse_duration(gap)
            except ValueError as exc:
                problems.append(spec.problem(("sources", source.index, "session_gap"), f"session_gap: {exc}"))
        return problems

    def read(self) -> Iterator[Example]:
        yield from Shaper(self).shape(self._messages())

    def _messages(self) -> Iterator[Message]:
        for path in self.source.files:
            yield from self._read_file(path)
        self.ctx.raise_if_problems()

    def _read_file(self, path: Path) -> Iterator[Message]:
        shown = self.shown(path)
        fh, encoding = open_text(path, resolve_encoding(self, path), shown=shown)
        reader = LineCounter(fh)
        try:
            with fh:
                yield from self._parse(reader, shown)
        except UnicodeDecodeError as exc:
            # the stream decodes ahead, so reader.line is not where the bad byte is
            found = locate_decode_error(path, encoding, shown)
            raise DataError([found or decode_error(shown, reader.line + 1, encoding, exc)]) from None

    def _parse(self, reader: LineCounter, shown: str) -> Iterator[Message]:
        """The messages of one file, read through ``reader`` (which counts lines)."""
        raise NotImplementedError


class LineCounter:
    """Iterates a text file's lines, counting them (csv.reader consumes it line by line)."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.line = 0
        self._first: str | None = None

    def peek_first(self) -> str:
        self._first = self.fh.readline()
        return self._first

    def __iter__(self) -> LineCounter:
        return self

    def __next__(self) -> str:
        if self._first is not None:
            line, self._first = self._first, None
        else:
            line = self.fh.readline()
            if not line:
                raise StopIteration
        self.line += 1
        return line
