"""``format: json``: a JSON array of chat records or prompt/completion pairs.

A JSON document has to be read whole, but items are decoded one at a time and each keeps the
line it starts on, so bad items are reported as ``file:LINE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftspec.data.encoding import decode_error, locate_decode_error
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import (
    JsonRowError,
    chat_shape_problem,
    completion_shape_problem,
    resolve_encoding,
    strict_json,
)
from ftspec.errors import DataError, Location, Problem

_WS = " \t\r\n"


@SOURCES.register("json")
class JsonArraySource(Source):
    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            yield from self._read_file(path)

    def _read_file(self, path: Path) -> Iterator[Example]:
        shown = self.shown(path)
        encoding = resolve_encoding(self, path)
        data = path.read_bytes()
        try:
            text = data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise DataError([locate_decode_error(path, encoding, shown) or decode_error(shown, line, encoding, exc)]) from None
        for line, column, item in self._items(text, shown):
            self.stats.rows_read += 1
            try:
                value = strict_json(item)
            except JsonRowError as exc:
                if exc.line == 1 and exc.column is not None:
                    exc.column += column - 1  # columns of the file's line, not of the item
                self.bad_row(shown, line + exc.line - 1, exc.reason())
                continue
            problem = _shape_problem(value)
            if problem:
                self.bad_row(shown, line, problem)
                continue
            yield self.example(value, shown, line)

    def _items(self, text: str, shown: str) -> Iterator[tuple[int, int, str]]:
        """``(line, column, text)`` of each array item, found by a scan that survives a broken item:
        brackets are counted outside strings, and a string ends at the end of its line (JSON
        strings hold no raw newline), so one malformed item never swallows the ones after it."""
        pos = _skip(text, 0)
        if pos >= len(text) or text[pos] != "[":
            raise DataError([Problem(Location(shown, 1 + text.count("\n", 0, pos)),
                                     "a `json` source holds one JSON array of examples")])
        pos = _skip(text, pos + 1)
        line, mark = 1, 0
        while pos < len(text):
            if text[pos] == ",":  # an empty item (",,", "[,"): no record, but not silent
                self.ctx.warn(f"{shown}:{1 + text.count(chr(10), 0, pos)}: empty array item "
                              "(an extra comma; ignored, not a row)")
                pos = _skip(text, pos + 1)
                continue
            if text[pos] == "]":
                rest = _skip(text, pos + 1)
                if rest < len(text):
                    where = Location(shown, 1 + text.count("\n", 0, rest))
                    raise DataError([Problem(where, "invalid JSON: text after the closing ']' of the array")])
                return
            end = _item_end(text, pos)
            line += text.count("\n", mark, pos)
            mark = pos
            yield line, pos - text.rfind("\n", 0, pos), text[pos:end]
            pos = _skip(text, end)
            if pos < len(text) and text[pos] == ",":
                after = _skip(text, pos + 1)
                if after < len(text) and text[after] == "]":
                    self.ctx.warn(f"{shown}:{1 + text.count(chr(10), 0, pos)}: trailing comma after the "
                                  "last array item (ignored; not a row)")
                pos = after
        self.ctx.warn(f"{shown}:{1 + text.count(chr(10))}: the array is not closed with ']' "
                      "(the file may be cut short)")


def _item_end(text: str, pos: int) -> int:
    """Where the item starting at ``pos`` ends: the ``,`` or ``]`` at its own level (or EOF).
    The character at ``pos`` is neither, so an item is never empty and the scan always moves on."""
    indent = _indent_of(text, pos) if text[pos] in "[{" else None
    depth = 0
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == '"':
            pos += 1
            while pos < n and text[pos] not in '"\n':
                pos += 2 if text[pos] == "\\" else 1
            if pos < n and text[pos] == "\n":
                continue  # an unclosed string ends with its line
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0 and ch == "]":
                return pos
            depth = max(depth - 1, 0)  # a stray '}' at the item's level is part of the broken item
        elif ch == "," and depth == 0:
            return pos
        elif ch == "\n" and depth > 0 and indent is not None and _opens_at(text, pos + 1, indent):
            return pos  # a new item at this item's indent: this one never closed its brackets
        pos += 1
    return pos


def _indent_of(text: str, pos: int) -> int | None:
    """The column of ``pos`` when only spaces precede it on its line (a pretty-printed item)."""
    start = text.rfind("\n", 0, pos) + 1
    return pos - start if not text[start:pos].strip() else None


def _opens_at(text: str, pos: int, indent: int) -> bool:
    """Does the line at ``pos`` open an object or array at exactly column ``indent``?"""
    return text.startswith(" " * indent, pos) and text[pos + indent: pos + indent + 1] in ("{", "[") \
        and (indent == 0 or text[pos + indent - 1] == " ")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _shape_problem(value: Any) -> str | None:
    if isinstance(value, dict) and "messages" not in value and ("prompt" in value or "completion" in value):
        return completion_shape_problem(value)
    return chat_shape_problem(value)
