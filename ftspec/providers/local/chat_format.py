"""Rendering records in the model's chat format and tokenising them with a loss mask.

Gemma's turn format (the GGUF tokenizer carries no chat template)::

    <bos><start_of_turn>user
    {system}\n\n{user}<end_of_turn>
    <start_of_turn>model
    {assistant}<end_of_turn>

``<start_of_turn>``/``<end_of_turn>`` are special tokens of the vocabulary. A record becomes a
list of (text, trainable) segments; the joined text is tokenised once, so the counts
``ftspec plan`` shows are exactly the tokens the trainer sees. Trainable tokens
are an assistant message's content plus its ``<end_of_turn>`` (unless ``weight: 0``) for chat
data, and the completion plus ``<eos>`` for completion data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

START = "<start_of_turn>"
END = "<end_of_turn>"
ROLE_TURN = {"assistant": "model", "model": "model"}


@dataclass(slots=True)
class Encoded:
    input_ids: list[int]
    trainable: list[bool]

    @property
    def n_targets(self) -> int:
        return sum(self.trainable)


def content_text(message: dict[str, Any]) -> str:
    """A message's visible text; parts are joined, tool calls are shown as their JSON."""
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    else:
        text = "" if content is None else str(content)
    calls = message.get("tool_calls") or message.get("function_call")
    if calls:
        text += json.dumps(calls, ensure_ascii=False, separators=(",", ":"))
    return text


def chat_segments(messages: list[dict[str, Any]], *, generation_prompt: bool = False) -> list[tuple[str, bool]]:
    """(text, trainable) segments of a conversation in Gemma's turn format."""
    segments: list[tuple[str, bool]] = []
    system = ""
    for message in messages:
        role = message.get("role", "user")
        text = content_text(message)
        if role in {"system", "developer"}:
            system = f"{system}\n\n{text}" if system else text
            continue
        turn = ROLE_TURN.get(role, "user")
        if turn == "user" and system:  # Gemma has no system turn: prefix the first user turn
            text, system = f"{system}\n\n{text}", ""
        segments.append((f"{START}{turn}\n", False))
        trainable = turn == "model" and message.get("weight", 1) != 0
        segments.append((f"{text}{END}", trainable))
        segments.append(("\n", False))
    if system:  # a system prompt with no user turn after it
        segments.extend([(f"{START}user\n", False), (f"{system}{END}", False), ("\n", False)])
    if generation_prompt:
        segments.append((f"{START}model\n", False))
    return segments


def record_segments(record: dict[str, Any], eos_token: str) -> list[tuple[str, bool]]:
    if "messages" in record:
        return chat_segments(record["messages"])
    return [(str(record.get("prompt", "")), False), (str(record.get("completion", "")) + eos_token, True)]


def chat_prompt(messages: list[dict[str, Any]]) -> str:
    """The text a chat request is generated from (BOS is added by the tokenizer call)."""
    return "".join(text for text, _ in chat_segments(messages, generation_prompt=True))


class RecordEncoder:
    """Tokenises records into ids + trainable mask.

    The whole rendered text is tokenised in one piece (so counts equal what a plain tokenizer
    call on the rendered text gives, merges across segment borders included); a token is
    trainable when it starts inside a trainable segment (character offsets).
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        self.eos_token = tokenizer.eos_token or ""

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def encode(self, records: list[dict[str, Any]]) -> list[Encoded]:
        texts, spans = [], []
        for record in records:
            text, ranges = "", []
            for piece, trainable in record_segments(record, self.eos_token):
                if trainable:
                    ranges.append((len(text), len(text) + len(piece)))
                text += piece
            texts.append(text)
            spans.append(ranges)
        if not texts:
            return []
        enc = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        out: list[Encoded] = []
        for ids, offsets, ranges in zip(enc["input_ids"], enc["offset_mapping"], spans, strict=True):
            mask = [any(a <= start < b for a, b in ranges) for start, _ in offsets]
            out.append(Encoded(list(self.bos) + list(ids), [False] * len(self.bos) + mask))
        return out


def render_record(record: dict[str, Any], eos_token: str) -> str:
    """The exact text a training record becomes (without BOS)."""
    return "".join(piece for piece, _ in record_segments(record, eos_token))


class LocalTokenCounter:
    """Exact counts with the model's own tokenizer and chat format (used by ``ftspec plan``)."""

    exact = True

    def __init__(self, base_model: str, tokenizer) -> None:
        self.name = f"{base_model} tokenizer"
        self._encoder = RecordEncoder(tokenizer)

    def count_records(self, records: list[dict[str, Any]]) -> list[int]:
        return [len(e.input_ids) for e in self._encoder.encode(records)]

    def count_texts(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._encoder._ids(list(texts))]
