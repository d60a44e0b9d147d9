"""The records that flow through the data layer.

An ``Example`` is one training example *before* templating: either chat messages
(``{"messages": [...], "tools"?: [...]}``) or a prompt/completion pair. Its ``id`` is the hash
of that content, so it is stable across system-prompt changes: review decisions and the
train/validation split key on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftspec.util import canonical_json, sha256_text


@dataclass(slots=True, frozen=True)
class Origin:
    """Where an example came from: source name, file (as shown to users), first line, and for an
    example a model made from a chunk of lines, the chunk's last line."""

    source: str
    file: str
    line: int
    end_line: int | None = None

    def __str__(self) -> str:
        if self.end_line is not None and self.end_line != self.line:
            return f"{self.file}:{self.line}-{self.end_line}"
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class Example:
    record: dict[str, Any]
    origin: Origin
    meta: dict[str, Any] = field(default_factory=dict)
    _id: str | None = None

    @property
    def kind(self) -> str:
        """chat | completion | text (raw text only a model step such as ``extract`` can use)."""
        if "messages" in self.record:
            return "chat"
        if "prompt" in self.record:
            return "completion"
        return "text" if "text" in self.record else "chat"

    @property
    def id(self) -> str:
        """16 hex chars of sha256 over the canonical content (cached; reset by ``replace``)."""
        if self._id is None:
            self._id = sha256_text(canonical_json(self.record))[:16]
        return self._id

    def replace(self, record: dict[str, Any]) -> Example:
        """A copy with new content (and therefore a new id), keeping origin and meta."""
        return Example(record=record, origin=self.origin, meta=dict(self.meta))


# Canonical key order for written records: readable, and identical for identical inputs.
_TOP_ORDER = ("messages", "tools", "parallel_tool_calls", "functions", "input",
              "preferred_output", "non_preferred_output", "prompt", "completion")
_MESSAGE_ORDER = ("role", "name", "content", "function_call", "tool_calls", "tool_call_id", "weight")


def _ordered(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: obj[k] for k in order if k in obj}
    for k in sorted(obj):
        if k not in out:
            out[k] = obj[k]
    return out


def canonical_record(record: dict[str, Any]) -> dict[str, Any]:
    """Fixed key order at the top level and inside every message."""
    out = _ordered(record, _TOP_ORDER)
    if isinstance(out.get("messages"), list):
        out["messages"] = [
            _ordered(m, _MESSAGE_ORDER) if isinstance(m, dict) else m for m in out["messages"]
        ]
    return out


def record_line(record: dict[str, Any]) -> bytes:
    """One canonical JSONL line: fixed key order, compact separators, raw UTF-8, ``\\n``."""
    import json

    return (json.dumps(canonical_record(record), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass(slots=True)
class Rendered:
    """An example after the template: the exact record written to the JSONL file."""

    example: Example
    record: dict[str, Any]
    tokens: int = 0
    split: str = "train"
