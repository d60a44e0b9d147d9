"""``format: qa_text``: Q)/A) transcripts (support threads, FAQ dumps).

Blocks are separated by blank lines or ``---``. In a block, ``Q)`` starts a question and ``A)`` an
answer; other lines continue the current question or answer; several Q/A pairs make one
multi-turn conversation; an optional first line ``S) ...`` is its system content. A malformed
block (an answer without a question, an empty answer, ...) is a located bad row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ftspec.data.encoding import decode_error, locate_decode_error, open_text
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import resolve_encoding
from ftspec.errors import DataError

_MARK = re.compile(r"^([QAS])\)\s?(.*)$")
_SEPARATOR = re.compile(r"^-{3,}\s*$")
_ROLE = {"Q": "user", "A": "assistant", "S": "system"}


class BlockError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@SOURCES.register("qa_text")
class QaTextSource(Source):
    options = frozenset({"system"})

    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            yield from self._read_file(path)
        self.ctx.raise_if_problems()

    def _read_file(self, path: Path) -> Iterator[Example]:
        shown = self.shown(path)
        fh, encoding = open_text(path, resolve_encoding(self, path), shown=shown)
        line_no = 0
        block: list[tuple[int, str]] = []
        try:
            with fh:
                for line_no, raw in enumerate(fh, 1):
                    text = raw.rstrip("\n").lstrip("\ufeff")
                    if not text.strip() or _SEPARATOR.match(text):
                        if block:
                            yield from self._block(block, shown)
                            block = []
                        continue
                    block.append((line_no, text))
            if block:
                yield from self._block(block, shown)
        except UnicodeDecodeError as exc:
            raise DataError([locate_decode_error(path, encoding, shown) or decode_error(shown, line_no + 1, encoding, exc)]) from None

    def _block(self, lines: list[tuple[int, str]], shown: str) -> Iterator[Example]:
        self.stats.rows_read += 1
        try:
            messages = parse_block(lines)
        except BlockError as exc:
            self.bad_row(shown, exc.line, exc.reason)
            return
        if self.source.options.get("system") and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.source.options["system"]})
        yield self.example({"messages": messages}, shown, lines[0][0])


def parse_block(lines: list[tuple[int, str]]) -> list[dict[str, str]]:
    """One block's ``(line, text)`` pairs -> chat messages; ``BlockError`` when malformed."""
    parts: list[tuple[str, int, list[str]]] = []
    for line, text in lines:
        match = _MARK.match(text)
        if match is None:
            if not parts:
                raise BlockError(line, "block must start with 'Q)' (or 'S)' then 'Q)')")
            parts[-1][2].append(text)
            continue
        mark, rest = match.group(1), match.group(2)
        previous = parts[-1][0] if parts else None
        if mark == "S" and parts:
            raise BlockError(line, "'S)' is allowed only as the first line of a block")
        if mark == "A" and previous != "Q":
            raise BlockError(line, "answer 'A)' without a question 'Q)' before it")
        if mark == "Q" and previous == "Q":
            raise BlockError(parts[-1][1], "question 'Q)' without an answer 'A)'")
        parts.append((mark, line, [rest]))
    if parts and parts[-1][0] == "Q":
        raise BlockError(parts[-1][1], "question 'Q)' without an answer 'A)'")
    if not parts or parts[-1][0] == "S":
        raise BlockError(lines[0][0], "block has no 'Q)'/'A)' pair")
    messages = []
    for mark, line, body in parts:
        content = "\n".join(body).strip()
        if not content:
            what = {"Q": "empty question", "A": "empty answer", "S": "empty system line"}[mark]
            raise BlockError(line, f"{what} after '{mark})'")
        messages.append({"role": _ROLE[mark], "content": content})
    return messages
