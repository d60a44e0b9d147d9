"""Generation for evals: chat/completion prompts, n choices, stops, OpenAI-style penalties.

Penalties follow OpenAI's documentation exactly: for every token j,
``logit_j -= count_j * frequency_penalty + (count_j > 0) * presence_penalty`` where count_j
is how often j occurs in the tokens generated so far (never the prompt). Requests are batched
(left padding) when their sampling settings agree, so a 20-case eval is a handful of
``generate`` calls instead of 20.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from ftspec.providers.base import ChatRequest, ChatResult
from ftspec.providers.local.chat_format import ChatFormat, format_for

DEFAULT_MAX_TOKENS = 256
# requests (x n choices) per generate call: on 2 CPU cores Gemma 3 270M decodes 24 requests in
# one call 4x faster than in calls of 4, same greedy answers (bench_local_generate.py --batch-sizes)
BATCH_SIZE = 32


@functools.cache
def _processor_class():
    import torch
    from transformers import LogitsProcessor

    class PenaltyProcessor(LogitsProcessor):
        """OpenAI's frequency/presence penalties over the generated tokens of each row."""

        def __init__(self, prompt_len: int, frequency_penalty: float, presence_penalty: float) -> None:
            self.prompt_len = prompt_len
            self.frequency = float(frequency_penalty or 0.0)
            self.presence = float(presence_penalty or 0.0)

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            generated = input_ids[:, self.prompt_len :]
            if generated.shape[1] == 0 or (self.frequency == 0 and self.presence == 0):
                return scores
            counts = torch.zeros_like(scores)
            counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
            return scores - counts * self.frequency - (counts > 0).to(scores.dtype) * self.presence

    return PenaltyProcessor


def penalty_processor(prompt_len: int, frequency_penalty: float | None, presence_penalty: float | None):
    return _processor_class()(prompt_len, frequency_penalty or 0.0, presence_penalty or 0.0)


@functools.cache
def _stop_class():
    import torch
    from transformers import StoppingCriteria

    class StopOnText(StoppingCriteria):
        """Marks a row done once its generated text contains one of that row's stop strings."""

        def __init__(self, tokenizer, prompt_len: int, stops: list[list[str]]) -> None:
            self.tokenizer, self.prompt_len, self.stops = tokenizer, prompt_len, stops
            self.window = 8 + max((len(s) for row in stops for s in row), default=0)

        def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
            done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            for i, row_stops in enumerate(self.stops):
                if row_stops:
                    tail = self.tokenizer.decode(input_ids[i, self.prompt_len :][-self.window :], skip_special_tokens=True)
                    done[i] = any(s in tail for s in row_stops)
            return done

    return StopOnText


@functools.cache
def _hook_classes():
    import torch
    from transformers import StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    class StepStreamer(BaseStreamer):
        """Hands ``on_step`` each decoding step's new token per row (the first ``put`` is the prompt)."""

        def __init__(self, on_step) -> None:
            self.on_step, self.prompt_seen = on_step, False

        def put(self, value) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            self.on_step(value.reshape(-1).tolist())

        def end(self) -> None:
            pass

    class StopCancelled(StoppingCriteria):
        """Rows whose caller went away stop generating (``cancelled()`` -> one bool per row)."""

        def __init__(self, cancelled) -> None:
            self.cancelled = cancelled

        def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
            return torch.tensor(self.cancelled(), dtype=torch.bool, device=input_ids.device)

    return StepStreamer, StopCancelled


@dataclass
class Engine:
    """A loaded model (base, or base + LoRA adapter) ready to generate."""

    model: Any
    tokenizer: Any
    device: str

    @property
    def chat_format(self) -> ChatFormat:
        return format_for(self.tokenizer)

    def prompt_text(self, request: ChatRequest) -> str:
        if request.messages is not None:
            return self.chat_format.prompt(request.messages)
        return request.prompt or ""

    def stop_ids(self) -> list[int]:
        ids = [self.tokenizer.eos_token_id]
        end = self.tokenizer.convert_tokens_to_ids(self.chat_format.end)
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            ids.append(end)
        return [i for i in ids if i is not None]

    def generate(self, requests: list[ChatRequest], *, on_step=None, cancelled=None) -> list[ChatResult]:
        """One ``generate`` call for requests that share sampling settings.

        Rows are request-major (request i's n choices are rows i*n .. i*n+n-1). ``on_step(tokens)``,
        when given, receives each step's new token of every row (for streaming); ``cancelled()``
        returns one bool per row, and a True row stops generating (its caller went away).
        """
        import torch
        from transformers import GenerationConfig

        first = requests[0]
        n = max(1, first.n)
        temperature = 1.0 if first.temperature is None else float(first.temperature)
        sample = temperature > 0
        started = time.perf_counter()
        tok = self.tokenizer
        tok.padding_side = "left"
        enc = tok([self.prompt_text(r) for r in requests], return_tensors="pt", padding=True,
                  add_special_tokens=True).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        stops = [list(r.stop or []) for r in requests for _ in range(n)]
        config = GenerationConfig(
            max_new_tokens=first.max_tokens or DEFAULT_MAX_TOKENS,
            do_sample=sample,
            temperature=temperature if sample else None,
            top_p=(first.top_p if first.top_p is not None else 1.0) if sample else None,
            top_k=0 if sample else None,
            num_return_sequences=n,
            eos_token_id=self.stop_ids(),
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else self.stop_ids()[0],
        )
        if first.seed is not None:
            torch.manual_seed(first.seed)
        stopping = [_stop_class()(tok, prompt_len, stops)]
        streamer_class, cancel_class = _hook_classes() if (on_step or cancelled) else (None, None)
        if cancelled is not None:
            stopping.append(cancel_class(cancelled))
        with torch.no_grad():
            out = self.model.generate(
                **enc, generation_config=config,
                logits_processor=[penalty_processor(prompt_len, first.frequency_penalty, first.presence_penalty)],
                stopping_criteria=stopping,
                streamer=streamer_class(on_step) if on_step is not None else None,
            )
        latency = time.perf_counter() - started
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        results = []
        for r_index, request in enumerate(requests):
            choices, reasons, used = [], [], 0
            for row in out[r_index * n : (r_index + 1) * n, prompt_len:].tolist():
                text, reason, count = self._finish(row, request.stop or [])
                choices.append(text)
                reasons.append(reason)
                used += count
            results.append(ChatResult(choices=choices, prompt_tokens=int(prompt_tokens[r_index]),
                                      completion_tokens=used, latency_s=latency, finish_reasons=reasons))
        return results

    def _finish(self, ids: list[int], stops: list[str]) -> tuple[str, str, int]:
        """Cut a row at its first end token, then at its first stop string (not returned)."""
        enders = set(self.stop_ids())
        reason = "length"
        for i, t in enumerate(ids):
            if t in enders:
                ids, reason = ids[:i], "stop"
                break
        pad = self.tokenizer.pad_token_id
        while ids and ids[-1] == pad and pad not in enders:
            ids = ids[:-1]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cuts = [text.find(s) for s in stops if s and s in text]
        if cuts:
            text, reason = text[: min(cuts)], "stop"
        return text, reason, len(ids)


def sampling_key(r: ChatRequest) -> tuple:
    return (r.messages is not None, r.n, r.temperature, r.top_p, r.frequency_penalty,
            r.presence_penalty, r.max_tokens, r.seed)


def plan_batches(requests: list[ChatRequest], prompt_text, batch_size: int = BATCH_SIZE) -> list[list[int]]:
    """The ``generate`` calls ``generate_batched`` makes, as request indices: grouped by sampling
    settings, similar prompt lengths together (less left padding). Generation spread over a Ray
    cluster runs exactly these calls, so it gives the same answers."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(sampling_key(r), []).append(i)
    calls = []
    for indices in groups.values():
        per_call = max(1, batch_size // max(1, requests[indices[0]].n))
        indices = sorted(indices, key=lambda i: len(prompt_text(requests[i])))
        calls += [indices[start : start + per_call] for start in range(0, len(indices), per_call)]
    return calls


def generate_batched(engine: Engine, requests: list[ChatRequest], batch_size: int = BATCH_SIZE) -> list[ChatResult]:
    """Results in request order; requests grouped by sampling settings, then batched."""
    results: list[ChatResult | None] = [None] * len(requests)
    for chunk in plan_batches(requests, engine.prompt_text, batch_size):
        for i, result in zip(chunk, engine.generate([requests[i] for i in chunk]), strict=True):
            results[i] = result
    return [r for r in results if r is not None]
