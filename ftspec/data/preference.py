"""Preference pairs (DPO): the record shape, its checks, and its two chat sides.

A preference record is OpenAI's DPO line as the fine-tuning guide words it::

    {"input": {"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool},
     "preferred_output": [{"role": "assistant", "content": "..."}],
     "non_preferred_output": [{"role": "assistant", "content": "..."}]}

Every consumer (validation, token counts, the local trainer, the compare page) reads it through
``sides``: the prompt conversation followed by one answer, as a chat record, so a preference pair
is tokenised, counted and rendered exactly as two supervised examples would be.
"""

from __future__ import annotations

from typing import Any

INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
OUTPUT_KEYS = ("preferred_output", "non_preferred_output")
TOP_KEYS = frozenset({"input", *OUTPUT_KEYS})

# providers whose DPO takes exactly one assistant message per side (the guide's "single-turn"):
# OpenAI [GUIDE-24], Together and Fireworks (hosted-providers.md); the local trainer takes more
SINGLE_TURN_PROVIDERS = frozenset({"openai", "azure", "together", "fireworks"})


def is_preference(record: Any) -> bool:
    return isinstance(record, dict) and "input" in record and any(k in record for k in OUTPUT_KEYS)


def preference_record(messages: list[dict[str, Any]], preferred: str | list[dict[str, Any]],
                      non_preferred: str | list[dict[str, Any]], **input_extra: Any) -> dict[str, Any]:
    """A preference record from a prompt conversation and two answers (text or messages)."""
    def side(answer: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"role": "assistant", "content": answer}] if isinstance(answer, str) else list(answer)

    return {"input": {"messages": list(messages), **input_extra},
            "preferred_output": side(preferred), "non_preferred_output": side(non_preferred)}


def shape_problem(value: Any) -> str | None:
    """Structure a source refuses at once (the message-level checks run in validation)."""
    if not isinstance(value, dict):
        return "data_type: expected a JSON object with 'input', 'preferred_output' and 'non_preferred_output'"
    extra = sorted(set(value) - TOP_KEYS)
    if extra:
        return f"unrecognized_key: '{extra[0]}' (a preference example has input, preferred_output, non_preferred_output)"
    given = value.get("input")
    if not isinstance(given, dict):
        return "missing_input: no 'input' object" if given is None else "data_type: 'input' must be an object"
    messages = given.get("messages")
    if not isinstance(messages, list) or not messages:
        return "missing_messages_list: 'input' has no 'messages' list"
    extra = sorted(set(given) - INPUT_KEYS)
    if extra:
        return f"unrecognized_key: 'input.{extra[0]}' (input has messages, tools, parallel_tool_calls)"
    for key in OUTPUT_KEYS:
        side = value.get(key)
        if side is None:
            return f"missing_{key}: no '{key}' (a pair needs both sides)"
        if not isinstance(side, list) or not side:
            return f"data_type: '{key}' must be a non-empty list of assistant messages"
    return None


def preference_problems(record: Any, *, single_turn: bool) -> list[tuple[str, str]]:
    """``[(check, detail)]`` for one rendered preference record."""
    from ftspec.data.validate import message_problems

    problem = shape_problem(record)
    if problem:
        check, _, detail = problem.partition(": ")
        return [(check, detail)]
    out: list[tuple[str, str]] = []
    messages = record["input"]["messages"]
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            out.append(("data_type", f"input message {index} is not an object"))
            continue
        out.extend((c, "input " + d) for c, d in message_problems(index, message))
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") not in ("user", "tool"):
        out.append(("input_last_message", f"the input must end with a user (or tool) message, not {last.get('role')!r}: "
                                          "the two outputs answer it"))
    for key in OUTPUT_KEYS:
        side = record[key]
        if single_turn and len(side) != 1:
            out.append(("multi_turn_output", f"'{key}' has {len(side)} messages; this provider's DPO takes exactly one "
                                              "assistant message per side (single-turn)"))
        for index, message in enumerate(side, 1):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                out.append(("output_role", f"'{key}' message {index} must be an assistant message"))
                continue
            content = message.get("content")
            if not isinstance(content, str) or not content.strip():
                out.append(("missing_content", f"'{key}' message {index} has no text content (DPO is text-only)"))
            if "weight" in message:
                out.append(("message_unrecognized_key", f"'{key}' message {index}: 'weight' has no meaning in a preference pair"))
    if not out and _answer(record["preferred_output"]) == _answer(record["non_preferred_output"]):
        out.append(("identical_outputs", "preferred_output and non_preferred_output are the same answer; "
                                         "a pair teaches nothing unless they differ"))
    return out


def _answer(side: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(m.get("content"), m.get("tool_calls")) for m in side]


def sides(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preferred, non-preferred) as chat records: the input's messages then that answer."""
    given = record["input"]
    extra = {k: v for k, v in given.items() if k != "messages"}
    messages = list(given["messages"])
    return ({"messages": messages + list(record["preferred_output"]), **extra},
            {"messages": messages + list(record["non_preferred_output"]), **extra})


def token_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """Records to count tokens on, and how many of them each input record became: a preference
    record is billed and trained as its two sides, every other record as itself."""
    flat: list[dict[str, Any]] = []
    widths: list[int] = []
    for record in records:
        if is_preference(record) and shape_problem(record) is None:
            flat.extend(sides(record))
            widths.append(2)
        else:
            flat.append(record)
            widths.append(1)
    return flat, widths
