"""Rendering records in the model's chat format and tokenising them with a loss mask.

Two formats, chosen per base model from its tokenizer's vocabulary (``format_for``): Gemma's
turns (below) when it has ``<start_of_turn>``/``<end_of_turn>``, else ChatML when it has
``<|im_start|>``/``<|im_end|>`` (SmolLM2, Qwen; see ``CHATML``), else Gemma's turns as text,
which ``stopcheck`` refuses before training (the turn end is not a token generation can stop on).

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

import contextlib
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


def record_segments(record: dict[str, Any], eos_token: str, fmt: ChatFormat | None = None) -> list[tuple[str, bool]]:
    if "messages" in record:
        return (fmt or GEMMA).segments(record["messages"])
    return [(str(record.get("prompt", "")), False), (str(record.get("completion", "")) + eos_token, True)]


def chat_prompt(messages: list[dict[str, Any]], fmt: ChatFormat | None = None) -> str:
    """The text a chat request is generated from (BOS is added by the tokenizer call)."""
    return (fmt or GEMMA).prompt(messages)


class RecordEncoder:
    """Tokenises records into ids + trainable mask.

    The whole rendered text is tokenised in one piece (so counts equal what a plain tokenizer
    call on the rendered text gives, merges across segment borders included); a token is
    trainable when it starts inside a trainable segment (character offsets).
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.format = format_for(tokenizer)
        self.bos = special_prefix(tokenizer)
        self.eos_token = tokenizer.eos_token or ""

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def encode(self, records: list[dict[str, Any]]) -> list[Encoded]:
        texts, spans = [], []
        for record in records:
            text, ranges = "", []
            for piece, trainable in record_segments(record, self.eos_token, self.format):
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


def render_record(record: dict[str, Any], eos_token: str, fmt: ChatFormat | None = None) -> str:
    """The exact text a training record becomes (without BOS)."""
    return "".join(piece for piece, _ in record_segments(record, eos_token, fmt))


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


# ---- the same format for other runtimes (exports) -------------------------------------------
# Each renders exactly ``chat_prompt``: system/developer messages are joined with a blank line
# and prefix the first user turn; assistant/model turns are ``model``; every other role is
# ``user``. Tests render both against ``chat_prompt`` (Jinja here; the Go template under Go).

STOPS = [END]

# A Hugging Face / vLLM / llama.cpp (``--jinja``) chat template. It starts with ``bos_token`` as
# Gemma's own template does: transformers and vLLM tokenise the rendered text without adding
# special tokens, llama.cpp drops the leading BOS text and adds the BOS token itself.
JINJA_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- set ns = namespace(system='') -%}"
    "{%- for message in messages -%}"
    "{%- set content = message['content'] if message['content'] is string else "
    "(message['content'] | map(attribute='text') | join('')) -%}"
    "{%- if message['role'] in ['system', 'developer'] -%}"
    "{%- set ns.system = (ns.system ~ '\\n\\n' ~ content) if ns.system else content -%}"
    "{%- else -%}"
    "{%- set turn = 'model' if message['role'] in ['assistant', 'model'] else 'user' -%}"
    "{%- if turn == 'user' and ns.system -%}"
    "{%- set content = ns.system ~ '\\n\\n' ~ content -%}{%- set ns.system = '' -%}"
    "{%- endif -%}"
    "{{- '<start_of_turn>' ~ turn ~ '\\n' ~ content ~ '<end_of_turn>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if ns.system -%}{{- '<start_of_turn>user\\n' ~ ns.system ~ '<end_of_turn>\\n' -}}{%- endif -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)

# Ollama's Modelfile TEMPLATE (Go text/template over .Messages). Ollama renders the generation
# prompt itself at the end; BOS is added by llama.cpp (the GGUF sets add_bos_token).
OLLAMA_TEMPLATE = (
    '{{- $system := "" }}'
    "{{- range .Messages }}"
    '{{- if or (eq .Role "system") (eq .Role "developer") }}'
    '{{- if $system }}{{ $system = printf "%s\\n\\n%s" $system .Content }}{{ else }}{{ $system = .Content }}{{ end }}'
    '{{- else if or (eq .Role "assistant") (eq .Role "model") }}<start_of_turn>model\n'
    "{{ .Content }}<end_of_turn>\n"
    "{{ else }}<start_of_turn>user\n"
    '{{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}{{ .Content }}<end_of_turn>\n'
    "{{ end }}"
    "{{- end }}"
    "{{- if $system }}<start_of_turn>user\n{{ $system }}<end_of_turn>\n{{ end }}"
    "<start_of_turn>model\n"
)


def render_jinja_template(template: str, messages: list[dict[str, Any]], *, bos_token: str = "",
                          add_generation_prompt: bool = True) -> str:
    """Render a chat template the way transformers does (sandboxed Jinja, ``trim_blocks``)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, bos_token=bos_token,
                                            add_generation_prompt=add_generation_prompt)


# ---- ChatML (SmolLM2, Qwen) ------------------------------------------------------------------
# ``<|im_start|>ROLE\n{content}<|im_end|>\n`` per message, in order; system/developer messages
# are ``system``, assistant/model ``assistant``, every other role ``user``. A base whose shipped
# template opens with a default system prompt when the first message is not a system message
# (SmolLM2's: "You are a helpful AI assistant named SmolLM, ...") gets it here too, so training,
# the evals and every export render what the model was instruction-tuned on. Trainable: an
# assistant message's content plus its ``<|im_end|>``.

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATML_ROLE = {"system": "system", "developer": "system", "assistant": "assistant", "model": "assistant",
               "user": "user"}


def chatml_segments(messages: list[dict[str, Any]], *, default_system: str = "",
                    generation_prompt: bool = False) -> list[tuple[str, bool]]:
    segments: list[tuple[str, bool]] = []
    for i, message in enumerate(messages):
        role = CHATML_ROLE.get(message.get("role", "user"), "user")
        if i == 0 and role != "system" and default_system:
            segments.append((f"{IM_START}system\n{default_system}{IM_END}\n", False))
        segments.append((f"{IM_START}{role}\n", False))
        segments.append((f"{content_text(message)}{IM_END}", role == "assistant" and message.get("weight", 1) != 0))
        segments.append(("\n", False))
    if generation_prompt:
        segments.append((f"{IM_START}assistant\n", False))
    return segments


def _jinja_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a double-quoted literal Jinja reads back as ``text``


def chatml_jinja(default_system: str) -> str:
    """The ChatML format as a Hugging Face / vLLM / llama.cpp chat template (no BOS: ChatML
    tokenizers add none)."""
    opening = ("{%- if loop.first and role != 'system' -%}{{- '<|im_start|>system\\n' ~ "
               + _jinja_string(default_system) + " ~ '<|im_end|>\\n' -}}{%- endif -%}") if default_system else ""
    return (
        "{%- for message in messages -%}"
        "{%- set content = message['content'] if message['content'] is string else "
        "(message['content'] | map(attribute='text') | join('')) -%}"
        "{%- set role = 'system' if message['role'] in ['system', 'developer'] else "
        "('assistant' if message['role'] in ['assistant', 'model'] else 'user') -%}"
        + opening +
        "{{- '<|im_start|>' ~ role ~ '\\n' ~ content ~ '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    )


def _go_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # Go's interpreted string literal syntax


def chatml_ollama(default_system: str) -> str:
    """The ChatML format as an Ollama Modelfile TEMPLATE (Go text/template over .Messages)."""
    opening = ('{{- if and (eq $i 0) (ne $role "system") }}{{ print "<|im_start|>system\\n" '
               + _go_string(default_system) + ' "<|im_end|>\\n" }}{{ end }}') if default_system else ""
    return (
        "{{- range $i, $m := .Messages }}"
        '{{- $role := "user" }}'
        '{{- if or (eq .Role "system") (eq .Role "developer") }}{{ $role = "system" }}'
        '{{- else if or (eq .Role "assistant") (eq .Role "model") }}{{ $role = "assistant" }}{{ end }}'
        + opening +
        "<|im_start|>{{ $role }}\n{{ .Content }}<|im_end|>\n"
        "{{ end }}"
        "<|im_start|>assistant\n"
    )


# ---- the format a base model uses -------------------------------------------------------------


@dataclass(frozen=True)
class ChatFormat:
    """One chat format: how messages render (``segments``), the turn end generation stops at,
    and the same format for other runtimes (``jinja``, ``ollama``)."""

    name: str  # gemma-turns | chatml (recorded in export.json)
    end: str  # the turn end: what training teaches the model to emit and generation stops on
    default_system: str = ""

    @property
    def stops(self) -> list[str]:
        return [self.end]

    def segments(self, messages: list[dict[str, Any]], *, generation_prompt: bool = False) -> list[tuple[str, bool]]:
        if self.name == "chatml":
            return chatml_segments(messages, default_system=self.default_system, generation_prompt=generation_prompt)
        return chat_segments(messages, generation_prompt=generation_prompt)

    def prompt(self, messages: list[dict[str, Any]]) -> str:
        return "".join(text for text, _ in self.segments(messages, generation_prompt=True))

    @property
    def jinja(self) -> str:
        return chatml_jinja(self.default_system) if self.name == "chatml" else JINJA_CHAT_TEMPLATE

    @property
    def ollama(self) -> str:
        return chatml_ollama(self.default_system) if self.name == "chatml" else OLLAMA_TEMPLATE


GEMMA = ChatFormat("gemma-turns", END)


def single_token(tokenizer, text: str) -> int | None:
    """The id of ``text`` when the vocabulary holds it as one token (else None)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or ids[0] is None or (tokenizer.unk_token_id is not None and ids[0] == tokenizer.unk_token_id):
        return None
    return int(ids[0])


def special_prefix(tokenizer) -> list[int]:
    """The ids the tokenizer puts before a text when it adds special tokens (Gemma: ``<bos>``;
    ChatML tokenizers: none), so training rows start as generation prompts do."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    if plain and full[len(full) - len(plain):] == plain:
        return list(full[: len(full) - len(plain)])
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def shipped_default_system(template: str | None) -> str:
    """The system prompt a shipped ChatML template opens with when the conversation has none."""
    if not template or IM_START not in template:
        return ""
    marker = "\x00ftspec\x00"
    try:
        text = render_jinja_template(template, [{"role": "user", "content": marker}], add_generation_prompt=False)
    except Exception:  # noqa: BLE001 - a template we cannot run opens with nothing
        return ""
    head = f"{IM_START}system\n"
    if not text.startswith(head) or f"{IM_END}\n{IM_START}user\n{marker}" not in text:
        return ""
    return text[len(head): text.index(f"{IM_END}\n{IM_START}user\n{marker}")]


def format_for(tokenizer) -> ChatFormat:
    """The chat format of the base model whose tokenizer this is (remembered on the tokenizer)."""
    cached = getattr(tokenizer, "_ftspec_chat_format", None)
    if isinstance(cached, ChatFormat):
        return cached
    fmt = GEMMA
    if single_token(tokenizer, START) is None and single_token(tokenizer, IM_START) is not None \
            and single_token(tokenizer, IM_END) is not None:
        template = getattr(tokenizer, "chat_template", None)
        fmt = ChatFormat("chatml", IM_END, shipped_default_system(template if isinstance(template, str) else None))
    with contextlib.suppress(AttributeError):
        tokenizer._ftspec_chat_format = fmt
    return fmt
