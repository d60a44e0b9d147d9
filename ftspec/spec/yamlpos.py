"""YAML loading that remembers where every key and value sits (line and column).

Hostile or messy input never reaches PyYAML's recursive constructor: the text is parsed into
events (libyaml's ``CParser`` when available, a streaming state machine either way) and this
module builds the values itself, iteratively, with hard limits. Every refusal is a one-line
located ``SpecError``:

- nesting deeper than :data:`MAX_DEPTH` levels;
- aliases that expand to more than :data:`MAX_ALIAS_NODES` nodes ("billion laughs");
- control characters (NUL, ESC, ...) in the text or in an escaped string, lone surrogates;
- keys that are not plain strings (``1:``, ``~:``, ``true:``, ``? [a, b]``);
- explicit tags other than the JSON-like core (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!seq``, ``!!map``) and tagged values that do not parse (``!!int abc``);
- integers outside 64 bits and non-finite numbers (``.nan``, ``.inf``).

Implicit YAML 1.1 timestamps (``2024-01-01``) stay the strings the user wrote: a spec is JSON
data, and JSON has no dates.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from ftspec.errors import Location, Problem, SpecError

Path_ = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a spec may have."""

MAX_ALIAS_NODES = 100_000
"""Most nodes that aliases (``*name``) may expand to, in total, in one document."""

MAX_INT = 2**63 - 1

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Characters YAML itself forbids, plus C0/C1 controls other than tab, newline and CR.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_BAD_IN_STRING = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
}


class Positions:
    """Maps a key path like ("hyperparameters", "n_epochs") to the value's and key's location."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, Location] = {}
        self.keys: dict[Path_, Location] = {}

    def value(self, path: Path_) -> Location:
        """The location of the value at ``path``, or of its closest located ancestor."""
        for cut in range(len(path), -1, -1):
            loc = self.values.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return Location(self.file, 1, 1)

    def key(self, path: Path_) -> Location:
        return self.keys.get(tuple(path)) or self.value(path)


def _char_name(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate U+{code:04X} (not valid Unicode)"
    names = {0: "a NUL byte", 0x1B: "an escape character (ESC)", 0x7F: "a DEL character"}
    return f"{names.get(code, 'a control character')} U+{code:04X}"


def _refuse(file: str, mark: Any, message: str) -> SpecError:
    line = mark.line + 1 if mark is not None else 1
    col = mark.column + 1 if mark is not None else 1
    return SpecError([Problem(Location(file, line, col), message)])


def _scan_text(text: str, file: str) -> None:
    """Refuse characters no spec may contain, at their own line and column."""
    found = _BAD_CHARS.search(text)
    if found is None:
        return
    start = found.start()
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    raise SpecError([Problem(Location(file, line, col),
                             f"{_char_name(found.group())} is not allowed in a YAML file")])


class _Frame:
    """A mapping or list being built: its value, path, and (for mappings) the pending key."""

    __slots__ = ("value", "path", "key", "key_mark", "size", "anchor", "merges", "is_map")

    def __init__(self, value: Any, path: Path_, anchor: str | None, is_map: bool) -> None:
        self.value = value
        self.path = path
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.size = 1
        self.anchor = anchor
        self.merges: list[tuple[Any, Any]] = []
        self.is_map = is_map


_NO_KEY = object()


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.pos = Positions(file)
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.expanded = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.done = False
        self.where: Path_ = ()

    def _err(self, mark: Any, message: str) -> SpecError:
        line = mark.line + 1 if mark is not None else 1
        col = mark.column + 1 if mark is not None else 1
        return SpecError([Problem(Location(self.file, line, col), message, format_path(self.where))])

    # -- where the next value goes ------------------------------------------------------------

    def _child_path(self) -> Path_:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.is_map:
            return top.path + (top.key,)
        return top.path + (len(top.value),)

    def _expecting_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is _NO_KEY

    def _place(self, value: Any, size: int, mark: Any) -> None:
        if not self.stack:
            self.root = value
            self.done = True
            return
        top = self.stack[-1]
        top.size += size
        if not top.is_map:
            top.value.append(value)
            return
        key = top.key
        top.key = _NO_KEY
        if key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            for item in sources:
                if not isinstance(item, dict):
                    raise self._err(mark, "a merge key '<<' takes a mapping or a list of mappings")
                top.merges.append((item, mark))
            return
        if key in top.value:
            raise self._err(top.key_mark, f"duplicate key '{key}'")
        top.value[key] = value

    # -- scalars ------------------------------------------------------------------------------

    def _scalar(self, event: Any) -> Any:
        value = event.value
        found = _BAD_IN_STRING.search(value)
        if found is not None:
            raise self._err(event.start_mark,
                          f"{_char_name(found.group())} is not allowed in a YAML value")
        tag = event.tag
        if tag == "!":
            return value
        if tag is None:
            tag = self.resolver.resolve(yaml.ScalarNode, value, event.implicit)
            if tag == "tag:yaml.org,2002:timestamp":
                return value
        elif tag not in _ALLOWED_TAGS:
            raise self._err(event.start_mark,
                          f"the YAML tag '{_short_tag(tag)}' is not supported in a spec "
                          "(use !!str, !!int, !!float, !!bool or !!null)")
        if tag == "tag:yaml.org,2002:str":
            return value
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
        digits = value.strip().lstrip("+-")
        try:
            if tag == "tag:yaml.org,2002:int":
                if len(digits.replace("_", "")) > 40:
                    raise self._err(event.start_mark,
                                  f"integer {value[:20]}... is too large (more than 64 bits)")
                number = self.constructor.construct_yaml_int(node)
                if abs(number) > MAX_INT:
                    raise self._err(event.start_mark,
                                  f"integer {value} is too large (more than 64 bits)")
                return number
            if tag == "tag:yaml.org,2002:float":
                if len(digits) > 400:
                    raise self._err(event.start_mark, "number is too long (over 400 characters)")
                real = self.constructor.construct_yaml_float(node)
                if not math.isfinite(real):
                    raise self._err(event.start_mark,
                                  f"{value!r} is not a finite number (NaN and infinity are not allowed)")
                return real
            if tag == "tag:yaml.org,2002:bool":
                lowered = value.lower()
                if lowered not in self.constructor.bool_values:
                    raise ValueError(value)
                return self.constructor.bool_values[lowered]
            if tag == "tag:yaml.org,2002:null":
                if value not in ("", "~", "null", "Null", "NULL"):
                    raise ValueError(value)
                return None
        except SpecError:
            raise
        except (ValueError, TypeError, OverflowError, yaml.YAMLError):
            raise self._err(event.start_mark,
                          f"{value!r} is not a valid {_TAG_WORDS.get(tag, _short_tag(tag))}") from None
        return value

    # -- the event loop -----------------------------------------------------------------------

    def feed(self, event: Any) -> None:
        if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
            return
        if isinstance(event, yaml.DocumentStartEvent):
            self.where = ()
            if self.done:
                raise self._err(event.start_mark,
                              "expected a single document in the stream, found another one")
            return
        if self.done:
            self.where = ()
            raise self._err(event.start_mark, "expected a single document in the stream")
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            if frame.is_map and frame.merges:
                for source, _mark in reversed(frame.merges):
                    for key, value in source.items():
                        frame.value.setdefault(key, value)
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.value, frame.size)
            self._place(frame.value, frame.size, event.start_mark)
            return
        if self._expecting_key():
            self._key(event)
            return
        path = self._child_path()
        self.where = path
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self._err(event.start_mark, f"found undefined alias '{event.anchor}'")
            value, size = self.anchors[event.anchor]
            self.expanded += size
            if self.expanded > MAX_ALIAS_NODES:
                raise self._err(event.start_mark,
                              f"aliases expand to more than {MAX_ALIAS_NODES} nodes; refusing "
                              "(a 'billion laughs' alias bomb?)")
            self.pos.values[path] = _loc(self.file, event.start_mark)
            self._place(value, size, event.start_mark)
            return
        self.pos.values[path] = _loc(self.file, event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            self._place(value, 1, event.start_mark)
            return
        is_map = isinstance(event, yaml.MappingStartEvent)
        tag = event.tag
        if tag is not None and tag != "!" and tag != (
                "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq"):
            raise self._err(event.start_mark,
                          f"the YAML tag '{_short_tag(tag)}' is not supported in a spec")
        if len(self.stack) >= MAX_DEPTH:
            self.where = path[:2]
            raise self._err(event.start_mark,
                          f"nesting is deeper than {MAX_DEPTH} levels; refusing")
        self.stack.append(_Frame({} if is_map else [], path, event.anchor, is_map))

    def _key(self, event: Any) -> None:
        top = self.stack[-1]
        self.where = top.path
        if isinstance(event, yaml.AliasEvent):
            raise self._err(event.start_mark,
                          f"an alias ('*{event.anchor}') cannot be a key; keys are plain strings")
        if not isinstance(event, yaml.ScalarEvent):
            kind = "mapping" if isinstance(event, yaml.MappingStartEvent) else "list"
            raise self._err(event.start_mark,
                          f"a {kind} cannot be a key; keys are plain strings")
        if event.value == "<<" and event.tag is None and event.implicit[0]:
            top.key = _MERGE
            top.key_mark = event.start_mark
            return
        key = self._scalar(event)
        if not isinstance(key, str):
            shown = "" if key is None else " " + (str(key).lower() if isinstance(key, bool) else str(key))
            raise self._err(event.start_mark,
                          f"key {event.value or '(empty)'} is read as {_kind(key)}{shown}; keys must be "
                          f"strings (quote it: '{event.value}')")
        top.key = key
        top.key_mark = event.start_mark
        self.pos.keys[top.path + (key,)] = _loc(self.file, event.start_mark)


_MERGE = object()

_TAG_WORDS = {
    "tag:yaml.org,2002:int": "integer (!!int)", "tag:yaml.org,2002:float": "number (!!float)",
    "tag:yaml.org,2002:bool": "boolean (!!bool)", "tag:yaml.org,2002:null": "null (!!null)",
}


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}.get(
        type(value), type(value).__name__)


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _loc(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def load_yaml_with_positions(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document; every problem becomes a one-line located ``SpecError``.

    libyaml parses when it is installed (a 10 MB spec in about a second); when it reports a
    syntax error, the pure-Python parser reads the text again so the message is worded the same
    whether or not libyaml is there.
    """
    _scan_text(text, file)
    try:
        return _build(text, file, _Parser)
    except yaml.YAMLError as exc:
        first = exc
    if _Parser is not yaml.SafeLoader:
        first = _syntax_error(text, file, yaml.SafeLoader) or first
    raise _located(first, file) from None


def _build(text: str, file: str, parser: Any) -> tuple[Any, Positions]:
    builder = _Builder(file)
    for event in yaml.parse(text, Loader=parser):
        builder.feed(event)
    if not builder.done:
        return None, Positions(file)
    return builder.root, builder.pos


def _syntax_error(text: str, file: str, parser: Any) -> yaml.YAMLError | None:
    try:
        _build(text, file, parser)
    except yaml.YAMLError as exc:
        return exc
    return None  # libyaml refused what PyYAML accepts: report libyaml's words


def _located(exc: yaml.YAMLError, file: str) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        return _refuse(file, mark, f"invalid YAML: {what}")
    mark = getattr(exc, "problem_mark", None)
    return _refuse(file, mark, f"invalid YAML: {' '.join(str(exc).split())}")


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + shown_key(str(part))
    return out


def shown_key(key: str) -> str:
    """A key as a message shows it: quoted, with escapes, when it holds a character a reader
    cannot see (a control character, a non-breaking space) or starts or ends with a space."""
    if key.strip(" ") == key and all(c.isprintable() and (c == " " or not c.isspace()) for c in key):
        return key
    escaped = "".join(c if c.isprintable() and (c == " " or not c.isspace()) else f"\\u{ord(c):04x}"
                      for c in key)
    return f'"{escaped}"'

