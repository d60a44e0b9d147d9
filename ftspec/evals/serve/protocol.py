"""The OpenAI wire format for ``ftspec serve``: request checks, eval-identical requests, bodies.

Requests become the same ``ChatRequest`` an eval builds (``ftspec.evals.runner.eval_request``)
through the spec's template (system prompt, role mapping, completion separator and stop), so a
client sending a case's messages with the eval's sampling gets the answer the eval recorded.
Every rejection is an ``APIError``: OpenAI's error shape, its status, and the parameter it names.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from ftspec.evals.sampling import DEFAULT_MAX_TOKENS

MAX_N = 128
MAX_STOPS = 4
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# Parameters that change what OpenAI answers and that this server cannot honour: refused by name
# (a silently ignored one would answer something else than the client asked for).
UNSUPPORTED_CHAT = ("tools", "tool_choice", "functions", "function_call", "audio", "prediction",
                    "logit_bias", "top_logprobs", "web_search_options")
UNSUPPORTED_COMPLETION = ("suffix", "logit_bias")


class APIError(Exception):
    """An OpenAI-shaped error answer: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(param: str, message: str, code: str | None = "invalid_value") -> APIError:
    return APIError(400, f"Invalid value for '{param}': {message}", param=param, code=code)


def unsupported(param: str) -> APIError:
    return APIError(400, f"'{param}' is not supported by ftspec serve", param=param, code="unsupported_parameter")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


# ---- field checks ------------------------------------------------------------------------------


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(key, f"expected a number, got {value!r}", "invalid_type")
    if not low <= value <= high:
        raise bad(key, f"{value} is outside [{low:g}, {high:g}]")
    return float(value)


def _integer(body: dict[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(key, f"expected an integer, got {value!r}", "invalid_type")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise bad(key, f"{value} must be {bounds}")
    return value


def _stops(body: dict[str, Any]) -> list[str] | None:
    value = body.get("stop")
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad("stop", "expected a string or a list of strings", "invalid_type")
    if len(stops) > MAX_STOPS:
        raise bad("stop", f"at most {MAX_STOPS} stop sequences, got {len(stops)}")
    return [s for s in stops if s] or None


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise APIError(400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "expected a non-empty array of messages", "invalid_type")
    out = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(where, "expected an object", "invalid_type")
        if message.get("role") not in ROLES:
            raise bad(f"{where}.role", f"{message.get('role')!r} is not one of {', '.join(sorted(ROLES))}")
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise bad(f"{where}.content[{j}]", "only text parts are supported", "unsupported_content")
        elif content is not None and not isinstance(content, str):
            raise bad(f"{where}.content", "expected a string or an array of text parts", "invalid_type")
        out.append({k: v for k, v in message.items() if k in ("role", "content", "name", "tool_calls", "function_call")})
    return out


def _common(body: dict[str, Any]) -> dict[str, Any]:
    """The sampling fields both endpoints share, checked, as an eval ``sampling:`` dict."""
    sampling: dict[str, Any] = {}
    for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("frequency_penalty", -2, 2),
                           ("presence_penalty", -2, 2)):
        value = _number(body, key, low, high)
        if value is not None:
            sampling[key] = value
    n = _integer(body, "n", 1, MAX_N)
    if n is not None:
        sampling["n"] = n
    seed = _integer(body, "seed", -(2**63), 2**63 - 1)
    if seed is not None:
        sampling["seed"] = seed
    stops = _stops(body)
    if stops:
        sampling["stop"] = stops
    for key in ("stream",):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise bad(key, "expected a boolean", "invalid_type")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad("stream_options", "expected an object", "invalid_type")
        if not body.get("stream"):
            raise bad("stream_options", "only allowed when 'stream' is true")
    return sampling


def _max_tokens(body: dict[str, Any]) -> int | None:
    values = {k: _integer(body, k, 1) for k in ("max_completion_tokens", "max_tokens")}
    return values["max_completion_tokens"] if values["max_completion_tokens"] is not None else values["max_tokens"]


# ---- requests ----------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A checked request: the eval-identical ``ChatRequest``s (one per prompt) plus how to answer."""

    model: str  # the served model's id, as the response names it
    requests: list[Any]  # ChatRequest, one per prompt (chat: always one)
    stream: bool
    include_usage: bool


def _served(body: dict[str, Any], served) -> Any:
    model = body.get("model")
    if model is None:
        raise APIError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not isinstance(model, str):
        raise bad("model", "expected a string", "invalid_type")
    if not served.answers_to(model):
        raise APIError(404, f"The model '{model}' does not exist; this server serves '{served.id}'.",
                       param="model", code="model_not_found")
    return served


def parse_chat(body: Any, served) -> Parsed:
    body = _object(body)
    served = _served(body, served)
    for key in UNSUPPORTED_CHAT:
        if body.get(key) not in (None, [], {}):
            raise unsupported(key)
    if body.get("logprobs"):
        raise unsupported("logprobs")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise unsupported("response_format")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise unsupported("modalities")
    messages = _messages(body)
    sampling = _common(body)
    from ftspec.data.templates import TemplateError

    try:
        payload = served.template.prompt_for(messages=messages)
    except TemplateError as exc:
        raise bad("messages", str(exc)) from None
    request = served.request(payload, sampling)
    request = _fit(served, request, _max_tokens(body), "messages")
    return Parsed(served.id, [request], bool(body.get("stream")), _include_usage(body))


def parse_completion(body: Any, served) -> Parsed:
    body = _object(body)
    served = _served(body, served)
    if served.template.kind != "completion":
        raise APIError(404, f"'{served.id}' is a chat model (template type '{served.template.kind}') and is not "
                            "supported on /v1/completions; use /v1/chat/completions.", param="model",
                       code="model_not_supported")
    for key in UNSUPPORTED_COMPLETION:
        if body.get(key) not in (None, "", {}):
            raise unsupported(key)
    if body.get("echo"):
        raise unsupported("echo")
    if body.get("logprobs") is not None:
        raise unsupported("logprobs")
    if body.get("best_of") not in (None, 1):
        raise unsupported("best_of")
    prompts = body.get("prompt")
    if prompts is None:
        raise APIError(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise bad("prompt", "expected a string or a non-empty array of strings (token arrays are not supported)",
                  "invalid_type")
    sampling = _common(body)
    max_tokens = _max_tokens(body)
    requests = [_fit(served, served.request(served.completion_prompt(p), sampling), max_tokens, "prompt")
                for p in prompts]
    return Parsed(served.id, requests, bool(body.get("stream")), _include_usage(body))


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options") or {}
    value = options.get("include_usage", False)
    if not isinstance(value, bool):
        raise bad("stream_options.include_usage", "expected a boolean", "invalid_type")
    return value


def _fit(served, request, max_tokens: int | None, where: str):
    """Default ``max_tokens`` as the eval does (capped by the room left); over the context is a 400."""
    prompt_tokens = served.count_prompt(request)
    limit = served.context_length
    wanted = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
    if limit is not None:
        room = limit - prompt_tokens
        if max_tokens is None:
            wanted = max(1, min(wanted, room))
        if prompt_tokens + wanted > limit:
            raise APIError(
                400, f"This model's maximum context length is {limit} tokens. However, you requested "
                     f"{prompt_tokens + wanted} tokens ({prompt_tokens} in the {where}, {wanted} in the completion). "
                     f"Please reduce the length of the {where} or completion.",
                param=where, code="context_length_exceeded")
    return replace(request, max_tokens=wanted)


# ---- response bodies ---------------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_body(rid: str, model: str, created: int, texts: list[str], reasons: list[str], use: dict) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                     "finish_reason": reason, "logprobs": None}
                    for i, (text, reason) in enumerate(zip(texts, reasons, strict=True))],
        "usage": use,
    }


def completion_body(rid: str, model: str, created: int, texts: list[str], reasons: list[str],
                    use: dict) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": created, "model": model,
        "choices": [{"index": i, "text": text, "finish_reason": reason, "logprobs": None}
                    for i, (text, reason) in enumerate(zip(texts, reasons, strict=True))],
        "usage": use,
    }


def chat_chunk(rid: str, model: str, created: int, index: int, delta: dict[str, Any],
               finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            "usage": None}


def completion_chunk(rid: str, model: str, created: int, index: int, text: str,
                     finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": rid, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None}]}


def model_body(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "ftspec"}


def now() -> int:
    return int(time.time())
