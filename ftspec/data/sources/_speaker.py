"""Shared base of the chat-log formats (kakaotalk, messages_csv): files -> messages -> shaping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ftspec.data.records import Example
from ftspec.data.shaping import SHAPING_OPTIONS, Message, Shaper
from ftspec.data.sources import Source


class SpeakerSource(Source):
    """Subclasses turn one file into ``Message``s; speakers, turns and sessions are shaped here."""

    options = SHAPING_OPTIONS
    required = frozenset({"assistant"})

    def read(self) -> Iterator[Example]:
        yield from Shaper(self).shape(self._messages())

    def _messages(self) -> Iterator[Message]:
        for path in self.source.files:
            yield from self._read_file(path)
        self.ctx.raise_if_problems()

    def _read_file(self, path: Path) -> Iterator[Message]:
        raise NotImplementedError
