"""``drop_empty``: drop examples with nothing to learn (no text in the answer or the prompt).

Chat: every assistant message is empty (and has no tool calls), or no message has text.
Completion: an empty prompt or completion.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):  # content parts
        return any(_has_text(p.get("text") if isinstance(p, dict) else p) for p in value)
    return False


def empty_reason(record: dict[str, Any]) -> str | None:
    if "messages" not in record:
        if not _has_text(record.get("prompt")):
            return "empty prompt"
        if not _has_text(record.get("completion")):
            return "empty completion"
        return None
    messages = [m for m in record.get("messages") or [] if isinstance(m, dict)]
    if not any(_has_text(m.get("content")) for m in messages):
        return "no message has text"
    answers = [m for m in messages if m.get("role") == "assistant"]
    if answers and not any(_has_text(m.get("content")) or m.get("tool_calls") or m.get("function_call")
                           for m in answers):
        return "empty assistant answer"
    return None


@TRANSFORMS.register("drop_empty")
class DropEmpty(Transform):
    per_example = True
    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        for example in items:
            reason = empty_reason(example.record)
            if reason:
                self.remove(reason, example)
                continue
            yield example
