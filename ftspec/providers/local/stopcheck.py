"""Loss-mask and stop checks a local job passes before it trains (``LocalProvider.preflight``).

A fine-tune stops generating only if (a) the token generation stops on exists as one token of
the vocabulary, and (b) training teaches the model to emit it: the rows it trains on must have
it among their trained tokens (an assistant turn's turn end for chat rows, EOS for completion
rows) after the cut to ``max_seq_len``. Without those the model rambles to ``max_tokens`` on
every answer, which no eval catches until after the training time is spent; here it is a
located error on the spec's ``template`` (or ``base_model``) before the job exists.

The base model also continues the first training answers greedily for a few tokens in the same
format (the answer given, its turn end left off): an instruction-tuned base that speaks the format
ends the turn there on the stop token. One that ends none is a warning, not an error: a
pretrained-only or random base never does, and training is what teaches it; for an instruct
base it means the format is not its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.providers.local.chat_format import RecordEncoder, content_text, single_token

BASE_PROMPTS = 2  # training prompts the base model answers greedily
BASE_MAX_TOKENS = 8
ERROR_SHARE = 0.5  # more than this share of trained rows without the stop token: an error


@dataclass
class MaskCheck:
    stop_texts: dict[str, str]  # row kind (chat | completion) -> the stop text it must train
    stop_ids: dict[str, int | None]
    rows: int = 0
    trained_rows: int = 0
    missing: list[int] = field(default_factory=list)  # 1-based rows whose trained tokens lack the stop
    cut: list[int] = field(default_factory=list)  # of those, the rows the max_seq_len cut shortened
    kinds: set[str] = field(default_factory=set)


def read_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def check_mask(tokenizer, records: list[dict[str, Any]], max_seq_len: int) -> MaskCheck:
    """Which rendered rows train the stop token, after the trainer's cut to ``max_seq_len``."""
    encoder = RecordEncoder(tokenizer)
    texts = {"chat": encoder.format.end, "completion": tokenizer.eos_token or ""}
    ids = {kind: (single_token(tokenizer, text) if text else None) for kind, text in texts.items()}
    if tokenizer.eos_token_id is not None:
        ids["completion"] = tokenizer.eos_token_id
    result = MaskCheck(texts, ids)
    for n, (record, encoded) in enumerate(zip(records, encoder.encode(records), strict=True), 1):
        result.rows += 1
        kind = "chat" if "messages" in record else "completion"
        result.kinds.add(kind)
        stop = ids[kind]
        trained = [t for t, keep in zip(encoded.input_ids, encoded.trainable, strict=True) if keep]
        if not trained:
            continue
        result.trained_rows += 1
        kept = [t for t, keep in zip(encoded.input_ids[:max_seq_len], encoded.trainable[:max_seq_len], strict=True) if keep]
        if stop is None or stop not in kept:
            result.missing.append(n)
            if stop is not None and stop in trained:
                result.cut.append(n)
    return result


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def mask_problems(spec, check: MaskCheck, max_seq_len: int) -> tuple[list[Any], list[str]]:
    """(located problems, warnings) for a ``check_mask`` result."""
    if "chat" in check.kinds and check.stop_ids["chat"] is None:
        return [spec.problem(("base_model",), (
            f"the chat format's turn end {check.stop_texts['chat']!r} is not one token of {spec.base_model}'s "
            "vocabulary, so generation can never stop on it and a fine-tune would ramble to max_tokens; use a base "
            "whose tokenizer has Gemma's <start_of_turn>/<end_of_turn> or ChatML's <|im_start|>/<|im_end|> tokens"))], []
    if check.trained_rows == 0:
        return [spec.problem(("template",), "no training row has a token to train on (every assistant turn has "
                                            "weight 0, or no message maps to the assistant role)")], []
    if not check.missing:
        return [], []
    stop = check.stop_texts["chat" if "chat" in check.kinds else "completion"]
    share = f"{len(check.missing)} of {check.trained_rows} training rows"
    why = (f"they are longer than max_seq_len={max_seq_len} (hyperparameters.local.max_seq_len) and the cut drops "
           "the answer's end" if len(check.cut) == len(check.missing) else "their trained tokens do not include it")
    message = f"{share} (rows {_rows(check.missing)}) never train the stop token {stop!r}: {why}"
    if len(check.missing) > ERROR_SHARE * check.trained_rows:
        return [spec.problem(("template",), f"{message}; a model trained on them would not learn to stop and "
                                            "would ramble to max_tokens (shorten the template's system prompt or "
                                            "the examples, or raise max_seq_len)")], []
    return [], [f"warning: {message}; those rows teach the model to go on past its answer"]


def answered_prompts(fmt, records: list[dict[str, Any]], limit: int = BASE_PROMPTS) -> list[str]:
    """The first chat rows rendered up to the end of their first trained answer, its turn end
    left off: where a model that learned the format emits the stop token next."""
    out = []
    for record in records:
        messages = record.get("messages")
        if not isinstance(messages, list):
            continue
        for i, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") in {"assistant", "model"} \
                    and message.get("weight", 1) != 0 and i:
                out.append(fmt.prompt(messages[:i]) + content_text(message))
                break
        if len(out) >= limit:
            break
    return out


def base_warnings(engine, records: list[dict[str, Any]]) -> list[str]:
    """The base model continues the first training answers greedily for a few tokens; a
    warning when it ends none of them on a stop token."""
    from ftspec.providers.base import ChatRequest

    fmt = engine.chat_format
    prompts = answered_prompts(fmt, records)
    if not prompts:
        return []
    results = engine.generate([ChatRequest(model="base", prompt=p, temperature=0, max_tokens=BASE_MAX_TOKENS)
                               for p in prompts])
    ended = sum(1 for r in results if r.finish_reasons and r.finish_reasons[0] == "stop")
    if ended:
        return []
    return [f"note: the base model, greedy with this chat format, ended 0 of {len(prompts)} training answers with "
            f"{fmt.end!r} within {BASE_MAX_TOKENS} tokens: training has to teach it to stop (expected of a "
            "pretrained-only base; an instruction-tuned one that does not may be using a format not its own)"]


def preflight(provider, spec, training_file: Path) -> list[str]:
    """Raise a located ``SpecError`` for a training file that would train a model that never
    stops; return the lines the build prints (``warning: ...``, ``note: ...``)."""
    from ftspec.errors import SpecError
    from ftspec.providers.local import models
    from ftspec.providers.local.train import TrainConfig

    base = provider.base_model(spec.base_model)
    local = ((spec.raw.get("hyperparameters") or {}).get("local") or {})
    max_seq_len = int(local.get("max_seq_len") or TrainConfig().max_seq_len)
    records = read_rows(training_file)
    tokenizer = models.load_tokenizer(base)
    check = check_mask(tokenizer, records, max_seq_len)
    problems, warnings = mask_problems(spec, check, max_seq_len)
    if problems:
        raise SpecError(problems)
    engine = provider.engine(base)
    return warnings + base_warnings(engine, records)
