"""The local LoRA trainer: packed batches, loss only on trainable tokens, per-epoch validation.

Why not ``transformers.Trainer``: on CPU the cost is dominated by (a) padding and (b) the
vocabulary projection (Gemma 3 has 262k tokens: projecting every position costs more than
the transformer itself). This loop packs each batch's examples into one row (position ids
restart per example, which transformers turns into a block-diagonal attention mask, so
examples never see each other), and applies the LM head only at positions whose next token is
trained. The loss is the mean over trained tokens of the batch, as in a padded batch.

Precision: fp32 weights; with ``bf16_autocast`` (chosen by the worker on CUDA with bf16 and on
CPUs whose oneDNN has bf16 kernels, ~1.7x faster on an AVX512-BF16 CPU) matmuls run in bf16.
``FTSPEC_LOCAL_PRECISION=fp32`` turns it off.

Learning rate: ``learning_rate_multiplier`` x ``base_learning_rate`` (default 2e-4, a common
LoRA rate), decayed linearly to zero over the run.

Data parallel (``DataParallel``, the Ray executor): every rank draws the same batches, runs its
share of each batch's examples with the loss scaled by the whole batch's target count, and the
gradients are summed across ranks once per optimizer step, so N ranks take the same steps as
one process (same global batch, learning rate and packing) up to floating-point order.
``on_step_end`` gets a ``snapshot`` callable (trainable weights, optimizer, scheduler, position)
that ``train(..., resume=snapshot)`` continues from, at the same step and epoch.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ftspec.providers.local.chat_format import Encoded

BASE_LEARNING_RATE = 2e-4
DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
IGNORE = -100


@dataclass
class TrainConfig:
    n_epochs: int = 3
    batch_size: int = 4
    learning_rate_multiplier: float = 1.0
    base_learning_rate: float = BASE_LEARNING_RATE
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    max_seq_len: int = 1024
    seed: int = 0
    gradient_accumulation: int = 1
    packing: bool = True
    max_tokens_per_forward: int = 4096  # bounds the attention mask when batches are large
    bf16_autocast: bool = False  # bf16 matmuls over fp32 weights (CUDA, or CPUs with AVX512-BF16/AMX)

    @property
    def learning_rate(self) -> float:
        return self.base_learning_rate * self.learning_rate_multiplier

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "learning_rate": self.learning_rate}


@dataclass
class TrainResult:
    steps: int
    trained_tokens: int
    train_loss: float | None
    valid_loss: float | None
    elapsed_s: float
    tokens_per_s: float
    first_train_loss: float | None = None


@dataclass
class DataParallel:
    """One rank of a data-parallel run: ``all_sum`` sums numbers across ranks, ``sync_grads``
    sums the parameters' gradients across ranks in place (missing gradients count as zero)."""

    rank: int
    world_size: int
    all_sum: Callable[[list[float]], list[float]]
    sync_grads: Callable[[list[Any]], None]

    def share(self, items: list[Any]) -> list[Any]:
        return items[self.rank :: self.world_size]


class Stop(Exception):
    """Raised by ``should_stop`` callers to end training early (cancel)."""


def truncate(examples: list[Encoded], max_len: int) -> tuple[list[Encoded], int]:
    """Cut examples longer than ``max_len`` tokens; returns them and how many were cut."""
    out, cut = [], 0
    for e in examples:
        if len(e.input_ids) > max_len:
            cut += 1
            e = Encoded(e.input_ids[:max_len], e.trainable[:max_len])
        out.append(e)
    return out, cut


def _labels(e: Encoded) -> list[int]:
    return [t if keep else IGNORE for t, keep in zip(e.input_ids, e.trainable, strict=True)]


def pack_rows(batch: list[Encoded], max_tokens: int) -> list[list[Encoded]]:
    """Group a batch's examples into rows of at most ``max_tokens`` tokens (first fit)."""
    rows: list[list[Encoded]] = []
    sizes: list[int] = []
    for e in sorted(batch, key=lambda x: -len(x.input_ids)):
        n = len(e.input_ids)
        for i, size in enumerate(sizes):
            if size + n <= max_tokens:
                rows[i].append(e)
                sizes[i] += n
                break
        else:
            rows.append([e])
            sizes.append(n)
    return rows


def _packed_tensors(row: list[Encoded], device: str):
    import torch

    ids, pos, labels = [], [], []
    for e in row:
        ids.extend(e.input_ids)
        pos.extend(range(len(e.input_ids)))
        labels.extend(_labels(e))
    def as_tensor(values: list[int]):
        return torch.tensor([values], dtype=torch.long, device=device)

    return as_tensor(ids), as_tensor(pos), as_tensor(labels)


def _padded_tensors(batch: list[Encoded], pad_id: int, device: str):
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(_labels(e))
        mask[i, :n] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def lm_parts(model):
    """(decoder, lm_head, softcap) of a (peft-wrapped) causal LM."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = causal.get_decoder() if hasattr(causal, "get_decoder") else causal.model
    cap = getattr(causal.config, "final_logit_softcapping", None)
    return decoder, causal.get_output_embeddings(), cap


def summed_loss(model, ids, labels, *, position_ids=None, attention_mask=None):
    """Sum of next-token cross-entropy over trained positions, and how many there were."""
    import torch
    import torch.nn.functional as F

    decoder, head, cap = lm_parts(model)
    hidden = decoder(
        input_ids=ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    n = int(keep.sum())
    if n == 0:
        return hidden.sum() * 0.0, 0
    logits = head(hidden[:, :-1][keep]).float()  # only where a trained token is predicted
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return F.cross_entropy(logits, targets[keep], reduction="sum"), n


def batch_targets(batch: list[Encoded]) -> int:
    return sum(max(0, sum(e.trainable[1:])) for e in batch) or 1


def batch_loss(model, batch: list[Encoded], cfg: TrainConfig, pad_id: int, device: str, *, backward: bool,
               scale: float = 1.0, total_targets: int | None = None):
    """Run a batch (forward, optional backward); returns (summed loss, targets, tokens).
    ``total_targets`` is the whole batch's when this is one rank's share of it."""
    import torch

    total_targets = total_targets or batch_targets(batch)
    loss_sum, targets, tokens = 0.0, 0, 0
    if not batch:  # a rank with no share of a small batch
        return loss_sum, targets, tokens
    if cfg.packing:
        chunks = [_packed_tensors(row, device) for row in pack_rows(batch, cfg.max_tokens_per_forward)]
        calls = [dict(ids=c[0], labels=c[2], position_ids=c[1]) for c in chunks]
    else:
        ids, mask, labels = _padded_tensors(batch, pad_id, device)
        calls = [dict(ids=ids, labels=labels, attention_mask=mask)]
    for call in calls:
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.bf16_autocast):
            loss, n = summed_loss(model, **call)
        if backward and n:
            (loss * (scale / total_targets)).backward()
        loss_sum += float(loss.detach())
        targets += n
        tokens += int(call["ids"].numel())
    return loss_sum, targets, tokens


def make_batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def add_lora(model, cfg: TrainConfig):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.seed)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def continue_lora(model, adapter_dir: str, cfg: TrainConfig):
    """The parent's adapter loaded trainable on ``model``: continued training updates the same
    LoRA matrices (one adapter on the original base, so serving and every export are unchanged).
    ``cfg`` takes the adapter's shape; returns the model and the settings the spec asked to differ."""
    import json
    from pathlib import Path

    import torch
    from peft import PeftModel

    torch.manual_seed(cfg.seed)
    saved = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    shape = {"lora_r": int(saved["r"]), "lora_alpha": float(saved["lora_alpha"]),
             "target_modules": sorted(saved["target_modules"])}
    asked = {"lora_r": cfg.lora_r, "lora_alpha": cfg.lora_alpha, "target_modules": sorted(cfg.target_modules)}
    kept = [k for k in shape if shape[k] != asked[k]]
    cfg.lora_r, cfg.lora_alpha, cfg.target_modules = shape["lora_r"], shape["lora_alpha"], shape["target_modules"]
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True), kept


def evaluate(model, examples: list[Encoded], cfg: TrainConfig, pad_id: int, device: str,
             data_parallel: DataParallel | None = None) -> float | None:
    import torch

    if not examples:
        return None
    mine = data_parallel.share(examples) if data_parallel else examples
    model.eval()
    loss_sum, targets = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(mine), cfg.batch_size):
            s, n, _ = batch_loss(model, mine[i : i + cfg.batch_size], cfg, pad_id, device, backward=False)
            loss_sum, targets = loss_sum + s, targets + n
    if data_parallel:
        loss_sum, targets = data_parallel.all_sum([loss_sum, targets])
    model.train()
    return loss_sum / targets if targets else None


Emit = Callable[[str, dict[str, Any]], None]


def _restore(model, optimizer, scheduler, resume: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in resume["weights"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(resume["optimizer"])
    scheduler.load_state_dict(resume["scheduler"])
    torch.set_rng_state(resume["torch_rng"])


def train(
    model,
    train_set: list[Encoded],
    valid_set: list[Encoded],
    cfg: TrainConfig,
    *,
    pad_id: int,
    device: str,
    emit: Emit = lambda kind, data: None,
    on_epoch_end: Callable[[int, Any], None] = lambda epoch, model: None,
    should_stop: Callable[[], bool] = lambda: False,
    data_parallel: DataParallel | None = None,
    resume: dict[str, Any] | None = None,
    on_step_end: Callable[[int, Callable[[], dict[str, Any]]], None] = lambda step, snapshot: None,
) -> TrainResult:
    """LoRA-train ``model`` (already peft-wrapped) in place; emits ``metrics`` per step."""
    import torch

    dp = data_parallel
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    n_batches = math.ceil(len(train_set) / cfg.batch_size)
    steps_per_epoch = math.ceil(n_batches / cfg.gradient_accumulation)
    total_steps = steps_per_epoch * cfg.n_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, total_steps)))
    model.train()
    step, trained_tokens, started = 0, 0, time.perf_counter()
    first_loss = last_loss = valid_loss = None
    start_epoch, start_group = 1, 0
    if resume is not None:
        _restore(model, optimizer, scheduler, resume)
        start_epoch, start_group = resume["epoch"], resume["next_group"]
        step, trained_tokens = resume["step"], resume["trained_tokens"]
        first_loss, last_loss, valid_loss = resume["first_loss"], resume["last_loss"], resume["valid_loss"]

    def snapshot(epoch: int, next_group: int) -> dict[str, Any]:
        return {
            "epoch": epoch, "next_group": next_group, "step": step, "trained_tokens": trained_tokens,
            "first_loss": first_loss, "last_loss": last_loss, "valid_loss": valid_loss,
            "weights": {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    for epoch in range(1, cfg.n_epochs + 1):
        batches = make_batches(len(train_set), cfg.batch_size, rng)  # drawn every epoch: a resume replays the order
        if epoch < start_epoch:
            continue
        first = start_group if epoch == start_epoch else 0
        for group_index in range(first, steps_per_epoch):
            if should_stop():
                raise Stop()
            start = group_index * cfg.gradient_accumulation
            group = batches[start : start + cfg.gradient_accumulation]
            t0 = time.perf_counter()
            loss_sum = targets = tokens = 0
            for idx in group:
                examples = [train_set[i] for i in idx]
                s, n, t = batch_loss(
                    model, dp.share(examples) if dp else examples, cfg, pad_id, device,
                    backward=True, scale=1.0 / len(group), total_targets=batch_targets(examples),
                )
                loss_sum, targets, tokens = loss_sum + s, targets + n, tokens + t
            if dp:
                dp.sync_grads(params)
                loss_sum, targets, tokens = dp.all_sum([loss_sum, targets, tokens])
                targets, tokens = int(targets), int(tokens)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            trained_tokens += tokens
            last_loss = loss_sum / targets if targets else None
            first_loss = last_loss if first_loss is None else first_loss
            dt = time.perf_counter() - t0
            emit("metrics", {
                "step": step, "total_steps": total_steps, "epoch": epoch,
                "train_loss": last_loss, "tokens": tokens,
                "tokens_per_s": round(tokens / dt, 1) if dt > 0 else None,
                "learning_rate": scheduler.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - started, 2),
            })
            on_step_end(step, lambda e=epoch, g=group_index + 1: snapshot(e, g))
        valid_loss = evaluate(model, valid_set, cfg, pad_id, device, dp)
        if valid_loss is not None:
            emit("metrics", {"step": step, "total_steps": total_steps, "epoch": epoch, "valid_loss": valid_loss})
        on_epoch_end(epoch, model)
    elapsed = time.perf_counter() - started
    return TrainResult(
        steps=step, trained_tokens=trained_tokens, train_loss=last_loss, valid_loss=valid_loss,
        elapsed_s=elapsed, tokens_per_s=trained_tokens / elapsed if elapsed > 0 else 0.0,
        first_train_loss=first_loss,
    )
