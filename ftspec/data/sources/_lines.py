"""Shared reading helpers for line-oriented sources: exact line numbers, per-line decoding.

Lines are split on bytes and decoded one by one, so a single undecodable row is a located bad
row (``file:LINE``) instead of aborting the file; CP949/EUC-KR never use ``\\n`` as a trail
byte, so byte splitting is safe for them. UTF-16/32 files go through a text stream instead.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftspec.data.encoding import (
    decode_error,
    detect_encoding,
    locate_decode_error,
    missing_bom,
    open_text,
)
from ftspec.errors import DataError, Location, Problem

if TYPE_CHECKING:
    from ftspec.data.sources import Source


def resolve_encoding(source: Source, path: Path) -> str:
    encoding = source.source.encoding
    if encoding == "auto":
        return detect_encoding(path)
    from ftspec.data.sources import encoding_problem

    problem = encoding_problem(encoding)
    if problem:  # the spec check refuses it first; this keeps a direct read located too
        raise DataError([source.spec.problem(("sources", source.source.index, "encoding"), problem)])
    bom = missing_bom(path, encoding)
    if bom:  # every reader, streamed or whole (json), refuses a BOM-less utf-16/32 the same way
        raise DataError([Problem(Location(source.shown(path), 1), bom)])
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else encoding  # a BOM is never content


def read_lines(source: Source, path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for every non-blank line; undecodable lines are bad rows.

    Every physical line is counted as read once: yielded, refused (undecodable) or dropped as
    a ``blank line``."""
    stats = source.stats
    name = source.source.name
    shown = source.shown(path)
    encoding = resolve_encoding(source, path)
    index, count = source.ctx.shard or (0, 1)
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        for number, text in _read_text_lines(path, encoding, shown):
            if count == 1 or number % count == index:
                stats.rows_read += 1
                if text is None:
                    source.ctx.drop(name, "blank line")
                    continue
                yield number, text
        return
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if count > 1 and number % count != index:
                continue  # another worker's share (parallel validation)
            stats.rows_read += 1
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                problem = decode_error(shown, number, encoding, exc)
                source.bad_row(shown, number, problem.message)
                continue
            if number == 1:
                text = text.lstrip("\ufeff")
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text
            else:
                source.ctx.drop(name, "blank line")


def _read_text_lines(path: Path, encoding: str, shown: str) -> Iterator[tuple[int, str | None]]:
    """Lines of a UTF-16/32 file; ``None`` for a blank one."""
    fh, used = open_text(path, encoding, shown=shown)
    number = 0
    with fh:
        try:
            for number, line in enumerate(fh, 1):
                yield number, (line.rstrip("\n").lstrip("\ufeff") if line.strip() else None)
        except UnicodeDecodeError as exc:
            found = locate_decode_error(path, used, shown)  # the stream decodes ahead of the lines
            raise DataError([found or decode_error(shown, number + 1, used, exc)]) from None


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a data row may have (a chat row needs about 6)."""


class JsonRowError(ValueError):
    """A row that is not strict JSON (or nests too deep); ``column`` is 1-based."""

    def __init__(self, message: str, column: int | None = None, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.line = line  # within the parsed text

    def reason(self) -> str:
        where = f" (column {self.column})" if self.column else ""
        return f"invalid JSON: {self.message}{where}"


def strict_json(text: str) -> Any:
    """Parse one JSON value strictly: no ``NaN``/``Infinity``, no lone surrogates, at most
    :data:`MAX_JSON_DEPTH` levels; ``JsonRowError`` (with a column) otherwise."""
    try:
        value = _fast_loads(text)
    except ValueError as fast:
        _explain(text, fast)
        raise AssertionError("unreachable") from None
    if (text.count("[") + text.count("{")) > MAX_JSON_DEPTH:
        _check_depth(value)
    return value


def _explain(text: str, fast: ValueError) -> None:
    """Raise a ``JsonRowError`` worded like the standard library's (its messages and columns)."""
    def refuse_constant(token: str) -> Any:
        raise JsonRowError(f"{token} is not a JSON number", _column_of(text, token))

    def finite(token: str) -> float:
        number = float(token)
        if math.isinf(number):
            raise JsonRowError(f"number {token[:20]} is too large for a double", _column_of(text, token))
        return number

    try:
        json.loads(text, parse_constant=refuse_constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise JsonRowError(exc.msg, exc.colno, exc.lineno) from None
    except RecursionError:
        raise JsonRowError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # int too long to convert, from the standard library
        if isinstance(exc, JsonRowError):
            raise
        raise JsonRowError(" ".join(str(exc).split(";")[0].split())) from None
    # the standard library accepted what orjson refused: say orjson's words (lone surrogate, depth)
    words = str(fast).split(": line ")[0]
    column = re.search(r"column (\d+)", str(fast))
    if "depth" in words:
        raise JsonRowError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    raise JsonRowError(words, int(column.group(1)) if column else None) from None


def _column_of(text: str, token: str) -> int | None:
    at = text.find(token)
    return at + 1 if at >= 0 else None


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise JsonRowError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_json_line(source: Source, shown: str, number: int, text: str) -> Any:
    """The parsed value, or ``None`` after reporting ``invalid JSON`` as a bad row."""
    try:
        return strict_json(text)
    except JsonRowError as exc:
        source.bad_row(shown, number, exc.reason())
        return None


try:  # orjson parses several times faster and is strict; json words the error messages
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency, this is belt and braces
    def _fast_loads(text: str) -> Any:
        value = json.loads(text, parse_constant=_no_constant)
        _check_depth(value)
        if _SURROGATE.search(text) and _has_surrogate(value):
            raise ValueError("lone surrogate in string")
        return value


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def chat_shape_problem(value: Any) -> str | None:
    """Structural problems that make a row unusable as a chat example (notebook check names).

    Message-level checks (keys, roles, content, assistant turn) run in the validator on the
    rendered record, after role mapping, so they see what is actually written.
    """
    if not isinstance(value, dict):
        return f"data_type: expected a JSON object, got {_json_type(value)}"
    messages = value.get("messages")
    if not messages:
        return "missing_messages_list: no 'messages' list" if messages is None else "missing_messages_list: 'messages' is empty"
    if not isinstance(messages, list):
        return f"missing_messages_list: 'messages' must be a list, got {_json_type(messages)}"
    if not all(m.__class__ is dict for m in messages):
        index, message = next((i, m) for i, m in enumerate(messages, 1) if not isinstance(m, dict))
        return f"data_type: message {index} must be an object, got {_json_type(message)}"
    tools = value.get("tools")
    if tools is not None and not isinstance(tools, list):
        return f"data_type: 'tools' must be a list, got {_json_type(tools)}"
    ptc = value.get("parallel_tool_calls")
    if ptc is not None and not isinstance(ptc, bool):
        return f"data_type: 'parallel_tool_calls' must be true or false, got {_json_type(ptc)}"
    return None


def completion_shape_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"data_type: expected a JSON object, got {_json_type(value)}"
    for key in ("prompt", "completion"):
        if key not in value:
            return f"missing_key: no '{key}'"
        if not isinstance(value[key], str):
            return f"data_type: '{key}' must be a string, got {_json_type(value[key])}"
    extra = sorted(set(value) - {"prompt", "completion"})
    if extra:
        return f"unrecognized_key: '{extra[0]}' (a completion example has only prompt and completion)"
    return None


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


class JsonLinesSource:
    """Mixin for one-JSON-object-per-line formats; subclasses set ``shape_problem``."""

    shape_problem: Any  # staticmethod: value -> reason | None
    line_shardable = True

    def read(self):  # type: ignore[no-untyped-def]
        for path in self.source.files:
            shown = self.shown(path)
            for number, text in read_lines(self, path):
                value = parse_json_line(self, shown, number, text)
                if value is None and text.strip() != "null":
                    continue
                problem = self.shape_problem(value)
                if problem:
                    self.bad_row(shown, number, problem)
                    continue
                yield self.example(value, shown, number)
