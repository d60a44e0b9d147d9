"""What the model steps (extract, distill, moderate) share: their common options, the files
beside the spec they read, chat-example checks for answers and few-shot outputs, and the
per-step books in the manifest."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ftspec.data.context import MAX_LISTED
from ftspec.data.generate import DEFAULT_CONCURRENCY, StepCalls, StepModel, step_scope

ROLES = ("system", "user", "assistant")


def step_model(spec: Any, name: str, options: dict[str, Any], index: int, *, kind: str = "chat",
               default_model: str | None = None) -> StepModel:
    provider = options.get("provider") or spec.provider
    return StepModel(step=name, index=index, provider=provider, model=options.get("model") or default_model or "",
                     scope=step_scope(spec, provider), kind=kind,
                     concurrency=int(options.get("concurrency", DEFAULT_CONCURRENCY)))


def sampling(options: dict[str, Any]) -> dict[str, Any]:
    """Sampling for a step: temperature 0 unless the spec says otherwise (a rebuild asks the
    same question and, where the model allows, gets the same answer)."""
    return {"temperature": 0, **(options.get("sampling") or {})}


def open_calls(transform: Any, model: StepModel, max_tokens: int | None) -> StepCalls:
    return StepCalls(transform.spec, transform.ctx, model, max_tokens=max_tokens)


def chat_problem(value: Any) -> str | None:
    """Why ``value`` is not a trainable chat example (as a model answer or a few-shot output)."""
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list) or not value["messages"]:
        return "not a chat example: an object with a non-empty 'messages' list"
    extra = sorted(set(value) - {"messages"})
    if extra:
        return f"unexpected key '{extra[0]}' beside 'messages'"
    roles = []
    for i, message in enumerate(value["messages"], 1):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"message {i} needs a role ({', '.join(ROLES)})"
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            return f"message {i} ({message['role']}) has no text content"
        if set(message) - {"role", "content"}:
            return f"message {i} has keys other than role and content"
        roles.append(message["role"])
    if "user" not in roles or "assistant" not in roles:
        return "needs at least one user and one assistant message"
    if roles[-1] != "assistant":
        return "the last message must be the assistant's"
    return None


def resolve_file(spec: Any, rel: str) -> Path:
    return spec.resolve(rel)


def step_books(ctx: Any, label: str) -> dict[str, Any]:
    books = ctx.steps.setdefault(label, {})
    books.setdefault("consumed", 0)
    books.setdefault("examples", 0)
    books.setdefault("errors", Counter())
    books.setdefault("error_rows", [])
    books.setdefault("origins", [])
    return books


def record_error(transform: Any, books: dict[str, Any], source: str, on_error: str, file: str, line: int,
                 reason: str) -> None:
    """A chunk (or example) whose answer gave nothing usable: counted by reason in the step's
    books, listed with its location, and failed or skipped per ``on_error``."""
    books["errors"][reason.split(":")[0]] += 1
    if len(books["error_rows"]) < MAX_LISTED:
        books["error_rows"].append({"file": file, "line": line, "reason": reason})
    transform.ctx.bad_row(source, on_error, file, line, reason, stage="generated")


def note_origin(books: dict[str, Any], example: Any, model: str) -> None:
    books["examples"] += 1
    books["origins"].append({"id": example.id, "origin": str(example.origin), "model": model})
