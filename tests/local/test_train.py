"""The trainer in-process: packing is exact, masks hold, seeds make runs identical."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ftspec.providers.local import models
from ftspec.providers.local.chat_format import RecordEncoder
from ftspec.providers.local.train import (
    TrainConfig,
    add_lora,
    batch_loss,
    pack_rows,
    train,
    truncate,
)
from ftspec.providers.local.worker import resolve_hyperparameters, train_config

from .conftest import support_records


def encoded(tiny_model, n=8):
    tok = models.load_tokenizer(tiny_model)
    records = support_records(n)
    records[1]["messages"][2]["weight"] = 0
    return tok, RecordEncoder(tok).encode(records)


def test_packed_loss_equals_padded_loss(tiny_model):
    tok, data = encoded(tiny_model)
    model = models.load_base_model(tiny_model, "cpu")
    cfg = TrainConfig(batch_size=8)
    with torch.no_grad():
        packed = batch_loss(model, data, cfg, tok.pad_token_id, "cpu", backward=False)
        padded = batch_loss(model, data, dataclasses.replace(cfg, packing=False), tok.pad_token_id, "cpu", backward=False)
    assert packed[1] == padded[1] == sum(sum(e.trainable[1:]) for e in data)
    assert packed[0] == pytest.approx(padded[0], rel=1e-4)
    assert packed[2] == sum(len(e.input_ids) for e in data) < padded[2]  # no padding tokens


def test_pack_rows_respects_the_token_budget(tiny_model):
    _, data = encoded(tiny_model)
    width = len(data[0].input_ids)
    rows = pack_rows(data, 3 * width)
    assert sorted(len(r) for r in rows) == [2, 3, 3]
    assert all(sum(len(e.input_ids) for e in row) <= 3 * width for row in rows)


def run(tiny_model, seed):
    tok, data = encoded(tiny_model)
    cfg = TrainConfig(n_epochs=3, batch_size=4, learning_rate_multiplier=25, lora_r=4, seed=seed, lora_dropout=0.1)
    model = add_lora(models.load_base_model(tiny_model, "cpu"), cfg)
    events = []
    result = train(model, data, data[:2], cfg, pad_id=tok.pad_token_id, device="cpu",
                   emit=lambda kind, d: events.append(d))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
    return result, weights, events


def test_same_seed_same_model_and_loss_falls(tiny_model):
    a, wa, events = run(tiny_model, seed=5)
    b, wb, _ = run(tiny_model, seed=5)
    c, wc, _ = run(tiny_model, seed=6)
    assert a.train_loss == b.train_loss and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert a.train_loss < a.first_train_loss
    assert [e["step"] for e in events if "train_loss" in e] == list(range(1, 7))
    assert len([e for e in events if "valid_loss" in e]) == 3


def test_truncate_cuts_long_examples(tiny_model):
    _, data = encoded(tiny_model, 2)
    cut, n = truncate(data, 10)
    assert n == 2 and all(len(e.input_ids) == len(e.trainable) == 10 for e in cut)


def test_auto_hyperparameters_follow_ftspec_rule():
    from ftspec.data.plan import auto_batch_size, auto_epochs

    resolved = resolve_hyperparameters({"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}, 20)
    assert resolved == {"n_epochs": auto_epochs(20), "batch_size": auto_batch_size(20), "learning_rate_multiplier": 1.0}


def test_extras_reach_the_config():
    job = {"request": {"hyperparameters": {"n_epochs": 2, "batch_size": 3, "learning_rate_multiplier": 0.5},
                       "extras": {"lora_r": 16, "lora_alpha": 32, "max_seq_len": 64, "packing": False,
                                  "gradient_accumulation": 2, "base_learning_rate": 1e-4, "seed": 9},
                       "seed": None}}
    cfg, _ = train_config(job, 10)
    assert (cfg.lora_r, cfg.lora_alpha, cfg.max_seq_len, cfg.packing, cfg.gradient_accumulation, cfg.seed) == (
        16, 32, 64, False, 2, 9)
    assert cfg.learning_rate == pytest.approx(5e-5)


def test_extras_nested_by_the_build_graph():
    job = {"request": {"hyperparameters": {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 1},
                       "extras": {"hyperparameters": {"lora_r": 2, "max_seq_len": 32}, "auto": []},
                       "seed": 4}}
    cfg, _ = train_config(job, 10)
    assert (cfg.lora_r, cfg.max_seq_len, cfg.seed) == (2, 32, 4)
