"""The real bundled Gemma 3 270M: fine-tune on a small fixture, compare against the base model.

Slow (minutes on 2 CPU cores, plus a one-time ~2 minute GGUF conversion cached per machine
under ~/.cache/ftspec/models), still run in CI.
"""

from __future__ import annotations

import pytest

from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest, JobRequest
from ftspec.providers.local.chat_format import render_record

from .conftest import write_jsonl
from .test_jobs import wait_for

pytestmark = pytest.mark.slow

FACTS = [
    ("What is the W5500 reset pulse?", "Hold RSTn low for at least 500 us, then wait 1 ms before SPI access."),
    ("Which SPI mode does the W5500 use?", "SPI mode 0 or mode 3, up to 80 MHz."),
    ("How many sockets does the W5500 have?", "Eight independent hardware sockets."),
    ("W5500 칩의 내부 버퍼 크기는?", "송수신 합쳐 32KB입니다."),
]
SYSTEM = "You are WIZnet support. Answer in one sentence."


def records():
    return [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                          {"role": "assistant", "content": a}]} for q, a in FACTS]


def test_real_gemma_token_counts_are_exact():
    from ftspec.providers.local.models import load_tokenizer

    tok = load_tokenizer("gemma-3-270m")
    counter = get_provider("local", {}).token_counter("gemma-3-270m")
    expected = [len(tok(render_record(r, tok.eos_token)).input_ids) for r in records()]
    assert counter.count_records(records()) == expected
    assert get_provider("local", {}).model_info("gemma-3-270m").context_limit == 32768


def test_fine_tuning_gemma_moves_answers_towards_the_training_data(tmp_path):
    provider = get_provider("local", {})
    file = provider.upload(write_jsonl(tmp_path / "train.jsonl", records()), idempotency_key="gemma-train")
    job = provider.create_job(JobRequest(
        model="gemma-3-270m", training_file=file.id, idempotency_key="gemma-job", suffix="w5500",
        hyperparameters={"n_epochs": 6, "batch_size": 2, "learning_rate_multiplier": 10.0},
        extras={"lora_r": 8, "max_seq_len": 96, "seed": 1},
    ))
    job, _ = wait_for(provider, job.id, lambda j: j.done, timeout=900)
    assert job.status == "succeeded", job.error
    losses = [e.data["train_loss"] for e in provider.list_events(job.id, limit=1000)
              if e.type == "metrics" and "train_loss" in e.data]
    assert len(losses) == 12
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2  # last epoch's loss below the first's

    question, answer = FACTS[0]
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    tuned, base = provider.chat_batch([
        ChatRequest(model=job.fine_tuned_model, messages=messages, temperature=0, max_tokens=40),
        ChatRequest(model="gemma-3-270m", messages=messages, temperature=0, max_tokens=40),
    ])
    target, t, b = provider.embed([answer, tuned.choices[0], base.choices[0]])

    def cos(x, y):
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(t, target) > cos(b, target), (tuned.choices, base.choices)
