"""DPO on the local LoRA trainer, on the tiny model: the preferred answers share a trait
("thanks! ..."), and training must widen the log-prob margin and pull greedy answers to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from ftspec.data.preference import preference_record
from ftspec.providers.base import ChatRequest
from ftspec.providers.local import models
from ftspec.providers.local.chat_format import RecordEncoder
from ftspec.providers.local.dpo import cache_reference, encode_pairs, logp_margins, train_dpo
from ftspec.providers.local.generate import Engine
from ftspec.providers.local.train import TrainConfig, add_lora

TOPICS = ["password", "order", "refund", "account", "device", "email", "settings", "delivery"]
TRAIT = "thanks!"


def pairs(n: int, offset: int = 0) -> list[dict]:
    out = []
    for i in range(offset, offset + n):
        topic = TOPICS[i % len(TOPICS)]
        out.append(preference_record([{"role": "user", "content": f"Can you help with my {topic} {i}?"}],
                                     f"{TRAIT} please see {topic} help.", f"Go to Settings for {topic}."))
    return out


def trait_prefix(text: str) -> int:
    """How many leading characters of a greedy answer match the trait."""
    n = 0
    while n < min(len(text), len(TRAIT)) and text[n] == TRAIT[n]:
        n += 1
    return n


def test_answer_tokens_only_are_scored(tiny_model):
    tok = models.load_tokenizer(tiny_model)
    record = preference_record([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "earlier"},
                                {"role": "user", "content": "and now?"}], "yes", "no")
    (pair,), cut = encode_pairs(RecordEncoder(tok), [record], 512)
    assert cut == 0
    scored = tok.decode([t for t, keep in zip(pair.chosen.input_ids, pair.chosen.trainable, strict=True) if keep])
    assert scored == "yes<end_of_turn>"  # the prompt's own assistant turn is context, not scored


def test_reference_is_the_model_training_starts_from_and_cached_once(tiny_model, monkeypatch):
    """A fresh adapter adds exactly zero, so the reference is the frozen base; an adapter that
    starts elsewhere (a parent's, in continued training) makes the reference that parent."""
    from ftspec.providers.local import dpo

    tok = models.load_tokenizer(tiny_model)
    cfg = TrainConfig(batch_size=4, lora_r=4, seed=1)
    train_set, _ = encode_pairs(RecordEncoder(tok), pairs(4), 256)
    base = models.load_base_model(tiny_model, "cpu", dtype=torch.float32)
    plain = logp_margins(base, train_set, cfg, "cpu")
    model = add_lora(base, cfg)
    cache_reference(model, train_set, cfg, "cpu")
    assert [p.ref_chosen - p.ref_rejected for p in train_set] == pytest.approx(plain, abs=1e-4)
    with torch.no_grad():  # move the adapters away from zero, as a parent's adapter is
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)
    parent = logp_margins(model, train_set, cfg, "cpu")
    assert parent != pytest.approx(plain, abs=1e-3)
    cache_reference(model, train_set, cfg, "cpu")
    assert [p.ref_chosen - p.ref_rejected for p in train_set] == pytest.approx(parent, abs=1e-4)
    calls = []
    original = dpo.cache_reference
    monkeypatch.setattr(dpo, "cache_reference", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    train_dpo(model, train_set, [], TrainConfig(n_epochs=3, batch_size=2, lora_r=4), device="cpu")
    assert calls == [1]  # one reference pass for three epochs


def test_dpo_widens_the_margin_and_moves_greedy_answers_to_the_trait(tiny_model):
    tok = models.load_tokenizer(tiny_model)
    encoder = RecordEncoder(tok)
    train_set, _ = encode_pairs(encoder, pairs(12), 256)
    held_out, _ = encode_pairs(encoder, pairs(6, offset=100), 256)
    cfg = TrainConfig(n_epochs=6, batch_size=4, learning_rate_multiplier=75, lora_r=8, seed=0)
    model = add_lora(models.load_base_model(tiny_model, "cpu", dtype=torch.float32), cfg)
    engine = Engine(model=model, tokenizer=tok, device="cpu")
    prompts = [ChatRequest(model="tiny", messages=[{"role": "user", "content": f"Can you help with my {t} 99?"}],
                           max_tokens=4, temperature=0) for t in TOPICS]

    def greedy_trait() -> float:
        return sum(trait_prefix(r.choices[0]) for r in engine.generate(prompts)) / len(prompts)

    before_margin = sum(logp_margins(model, held_out, cfg, "cpu")) / len(held_out)
    before_trait = greedy_trait()
    margins: list[float] = []
    result = train_dpo(model, train_set, held_out, cfg, beta=0.1, device="cpu",
                       emit=lambda kind, d: margins.append(d["reward_margin"]) if "reward_margin" in d else None)
    after_margin = sum(logp_margins(model, held_out, cfg, "cpu")) / len(held_out)
    after_trait = greedy_trait()
    assert result.first_train_loss == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference at step 1
    assert result.train_loss < 0.5
    assert margins[0] == pytest.approx(0.0, abs=1e-5) and margins[-1] > 0.3
    assert after_margin > before_margin + 3.0  # on pairs it never trained on
    assert after_trait >= 1.5 and after_trait > before_trait + 1.0  # greedy answers begin like the trait


def test_a_dpo_spec_builds_on_the_local_provider(tmp_path, tiny_model, store):
    (tmp_path / ".git").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs(8)), encoding="utf-8")
    rows = ["prompt,preferred,non_preferred"] + [f"Where is order {i}?,{TRAIT} track order {i}.,No idea." for i in range(4)]
    (data / "pairs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = tmp_path / "specs" / "prefs.yaml"
    spec.parent.mkdir()
    spec.write_text(f"""ftspec: 1
name: prefs
provider: local
base_model: {tiny_model}
job: {{method: dpo}}
sources:
  - {{name: pairs, path: ../data/pairs.jsonl, format: preference_jsonl}}
  - {{name: table, path: ../data/pairs.csv, format: preference_csv}}
template: {{type: chat, system: "Be kind."}}
hyperparameters: {{n_epochs: 1, batch_size: 4, learning_rate_multiplier: 10, beta: 0.3, local: {{lora_r: 4}}}}
""", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lock = yaml.safe_load((tmp_path / "specs" / "prefs.lock").read_text(encoding="utf-8"))
    job_id = lock["model"].rsplit(":", 1)[1]
    manifest = json.loads((store / "models" / job_id / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"] == "dpo" and manifest["metrics"]["steps"] == 3
    events = (store / "jobs" / job_id / "events.jsonl").read_text(encoding="utf-8")
    assert events.count("reference log-probs of 12 pairs cached") == 1
