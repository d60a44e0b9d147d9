"""``format: json``: a JSON array of chat records or prompt/completion pairs.

A JSON document has to be read whole, but items are decoded one at a time and each keeps the
line it starts on, so bad items are reported as ``file:LINE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftspec.data.encoding import decode_error
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import (
    chat_shape_problem,
    completion_shape_problem,
    resolve_encoding,
)
from ftspec.errors import DataError

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
            raise DataError([decode_error(shown, line, encoding, exc)]) from None
        for line, value in self._items(text, shown):
            self.stats.rows_read += 1
            problem = _shape_problem(value)
            if problem:
                self.bad_row(shown, line, problem)
                continue
            yield self.example(value, shown, line)

    def _items(self, text: str, shown: str) -> Iterator[tuple[int, Any]]:
        decoder = json.JSONDecoder()
        pos = _skip(text, 0)
        line = 1
        if pos >= len(text) or text[pos] != "[":
            self.bad_row(shown, 1 + text.count("\n", 0, pos), "data_type: a `json` source holds one JSON array of examples")
            return
        pos = _skip(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            return
        mark = 0  # lines are counted incrementally from the previous item's start
        while pos < len(text):
            line += text.count("\n", mark, pos)
            mark = pos
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                self.bad_row(shown, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
                return
            yield line, value
            pos = _skip(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip(text, pos + 1)
            elif pos < len(text) and text[pos] == "]":
                return
            else:
                where = 1 + text.count("\n", 0, pos)
                self.bad_row(shown, where, "invalid JSON: expected ',' or ']' after an array item")
                return
        self.bad_row(shown, 1 + text.count("\n"), "invalid JSON: the array is not closed with ']'")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _shape_problem(value: Any) -> str | None:
    if isinstance(value, dict) and "messages" not in value and ("prompt" in value or "completion" in value):
        return completion_shape_problem(value)
    return chat_shape_problem(value)
