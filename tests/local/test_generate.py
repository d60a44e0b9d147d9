"""Serving: penalties (hand-computed), stop sequences, n choices, seeds, batching."""

from __future__ import annotations

import pytest
import torch

from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest
from ftspec.providers.local.generate import penalty_processor


def test_penalties_match_openai_formula_on_a_hand_computed_example():
    # prompt = tokens [0, 1]; generated so far = [2, 2, 3]; vocab of 5
    input_ids = torch.tensor([[0, 1, 2, 2, 3]])
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0]])
    out = penalty_processor(2, frequency_penalty=0.5, presence_penalty=1.0)(input_ids, scores)
    # logit_j -= count_j * 0.5 + (count_j > 0) * 1.0 ; prompt tokens 0 and 1 are not counted
    assert out.tolist() == [[1.0, 1.0, 1.0 - 2 * 0.5 - 1.0, 1.0 - 1 * 0.5 - 1.0, 1.0]]


def test_negative_penalties_encourage_repeats_and_zero_is_identity():
    input_ids = torch.tensor([[4, 1, 1]])
    scores = torch.zeros(1, 5)
    assert penalty_processor(1, -0.25, -1.0)(input_ids, scores).tolist() == [[0.0, 1.5, 0.0, 0.0, 0.0]]
    assert penalty_processor(1, 0, 0)(input_ids, scores).tolist() == [[0.0] * 5]


@pytest.fixture(scope="module")
def provider(tiny_model, tmp_path_factory):
    return get_provider("local", {"store": str(tmp_path_factory.mktemp("gen-store"))})


def ask(model, **kw) -> ChatRequest:
    kw.setdefault("messages", [{"role": "user", "content": "How do I reset my password?"}])
    return ChatRequest(model=model, **kw)


def test_greedy_batched_equals_one_at_a_time(provider, tiny_model):
    requests = [ask(tiny_model, messages=[{"role": "user", "content": "Where is my order? " * k}],
                    temperature=0, max_tokens=12) for k in (1, 3, 6)]
    batched = provider.chat_batch(requests)
    single = [provider.chat(r) for r in requests]
    assert [r.choices for r in batched] == [r.choices for r in single]
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 for r in batched)


def test_stop_sequence_truncates_and_is_not_returned(provider, tiny_model):
    full = provider.chat(ask(tiny_model, temperature=0, max_tokens=24)).choices[0]
    ascii_at = [i for i, ch in enumerate(full) if ch.isascii() and ch.strip() and i > 0]
    assert ascii_at, f"tiny model produced no ascii text: {full!r}"
    stop = full[ascii_at[0]]
    result = provider.chat(ask(tiny_model, temperature=0, max_tokens=24, stop=[stop, "never-seen"]))
    assert result.choices[0] == full[: full.index(stop)]
    assert result.finish_reasons == ["stop"]


def test_max_tokens_gives_finish_reason_length(provider, tiny_model):
    result = provider.chat(ask(tiny_model, temperature=0, max_tokens=3))
    assert result.completion_tokens <= 3
    assert result.finish_reasons[0] in {"length", "stop"}


def test_n_choices_and_seed_determinism(provider, tiny_model):
    req = dict(temperature=1.0, max_tokens=12, n=3, seed=7)
    first = provider.chat(ask(tiny_model, **req))
    again = provider.chat(ask(tiny_model, **req))
    other = provider.chat(ask(tiny_model, **{**req, "seed": 8}))
    assert len(first.choices) == 3 and len(first.finish_reasons) == 3
    assert first.choices == again.choices
    assert len(set(first.choices)) > 1  # sampled choices differ from each other
    assert other.choices != first.choices


def test_completion_prompt_requests(provider, tiny_model):
    from ftspec.providers.local.models import load_tokenizer

    result = provider.chat(ChatRequest(model=tiny_model, prompt="Refund policy:", temperature=0, max_tokens=5))
    assert len(result.choices) == 1
    assert result.prompt_tokens == len(load_tokenizer(tiny_model)("Refund policy:").input_ids)


def test_request_needs_messages_or_prompt(provider, tiny_model):
    from ftspec.errors import ProviderError

    with pytest.raises(ProviderError, match="exactly one of 'messages' or 'prompt'"):
        provider.chat(ChatRequest(model=tiny_model))


def test_embeddings_are_normalised_and_semantic(provider):
    a, b, c = provider.embed(["How do I reset my password?", "password reset steps", "banana bread recipe"])
    dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert len(a) == 384 and abs(dot(a, a) - 1) < 1e-3
    assert dot(a, b) > dot(a, c)
