"""DPO on the local LoRA trainer: preference pairs, cached reference log-probs, the DPO loss.

The loss (Rafailov et al. 2023) for a pair with preferred answer ``w`` and non-preferred ``l``::

    -log sigmoid(beta * ((log pi(w) - log ref(w)) - (log pi(l) - log ref(l))))

where ``log pi(y)`` is the summed log-probability of the answer's tokens given the prompt.
The reference model is the frozen base: with LoRA that is the same model with its adapters
disabled, so no second copy is loaded. Its log-probs never change during training, so they are
computed once before the first step (one no-grad pass over every pair) and cached, instead of
a second forward per step and epoch as a naive loop (or TRL without ``precompute_ref_log_probs``)
does.

Both answers of every pair in a batch are packed into one row (position ids restart per
sequence, as in ``train.py``), and the LM head is applied only where an answer token is
predicted, so a step costs one forward and backward over the batch's real tokens.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftspec.data.preference import sides
from ftspec.providers.local.chat_format import Encoded
from ftspec.providers.local.train import (
    Emit,
    Stop,
    TrainConfig,
    TrainResult,
    lm_parts,
    make_batches,
)

DEFAULT_BETA = 0.1


@dataclass(slots=True)
class Pair:
    chosen: Encoded
    rejected: Encoded
    ref_chosen: float = 0.0  # summed reference log-probs, filled once by ``cache_reference``
    ref_rejected: float = 0.0

    @property
    def tokens(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)


def _answer_only(record: dict[str, Any], n_prompt: int) -> dict[str, Any]:
    """The chat side with its prompt's assistant turns weighted 0: only the answer is scored."""
    messages = []
    for i, m in enumerate(record["messages"]):
        if i >= n_prompt:  # the answer: always scored
            m = {k: v for k, v in m.items() if k != "weight"}
        elif m.get("role") == "assistant":  # an earlier turn of the prompt: context only
            m = {**m, "weight": 0}
        messages.append(m)
    return {**record, "messages": messages}


def encode_pairs(encoder, records: list[dict[str, Any]], max_len: int) -> tuple[list[Pair], int]:
    """Tokenise preference records into pairs (answers trainable); returns them and how many
    sides were cut to ``max_len`` tokens."""
    flat: list[dict[str, Any]] = []
    for record in records:
        n_prompt = len(record["input"]["messages"])
        flat.extend(_answer_only(side, n_prompt) for side in sides(record))
    encoded = encoder.encode(flat)
    cut = 0
    out = []
    for i in range(0, len(encoded), 2):
        pair = []
        for e in encoded[i:i + 2]:
            if len(e.input_ids) > max_len:
                cut += 1
                e = Encoded(e.input_ids[:max_len], e.trainable[:max_len])
            pair.append(e)
        out.append(Pair(pair[0], pair[1]))
    return out, cut


def _chunks(seqs: list[Encoded], budget: int) -> list[list[int]]:
    """Indexes of ``seqs`` grouped in order into rows of at most ``budget`` tokens."""
    rows: list[list[int]] = []
    size = budget + 1
    for i, e in enumerate(seqs):
        n = len(e.input_ids)
        if size + n > budget:
            rows.append([])
            size = 0
        rows[-1].append(i)
        size += n
    return rows


def sequence_logps(model, seqs: list[Encoded], cfg: TrainConfig, device: str):
    """Summed log-probability of each sequence's trainable tokens (a tensor, one per sequence),
    packed into rows of at most ``cfg.max_tokens_per_forward`` tokens."""
    import torch

    decoder, head, cap = lm_parts(model)
    out = []
    for row in _chunks(seqs, cfg.max_tokens_per_forward):
        ids, pos, owner, keep = [], [], [], []
        for j, i in enumerate(row):
            e = seqs[i]
            ids.extend(e.input_ids)
            pos.extend(range(len(e.input_ids)))
            owner.extend([j] * len(e.input_ids))
            keep.extend(e.trainable)
        ids_t = torch.tensor([ids], dtype=torch.long, device=device)
        pos_t = torch.tensor([pos], dtype=torch.long, device=device)
        # position t predicts token t+1: a target is kept when it is trainable and in the same sequence
        target_keep = torch.tensor(
            [keep[t + 1] and owner[t + 1] == owner[t] for t in range(len(ids) - 1)], dtype=torch.bool, device=device)
        owners = torch.tensor(owner[1:], dtype=torch.long, device=device)[target_keep]
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.bf16_autocast):
            hidden = decoder(input_ids=ids_t, position_ids=pos_t, use_cache=False).last_hidden_state
            logits = head(hidden[0, :-1][target_keep]).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        targets = ids_t[0, 1:][target_keep]
        token_logps = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
        sums = torch.zeros(len(row), dtype=token_logps.dtype, device=device)
        out.append(sums.index_add(0, owners, token_logps))
    return torch.cat(out) if out else torch.zeros(0, device=device)


def _flat(pairs: list[Pair]) -> list[Encoded]:
    return [e for p in pairs for e in (p.chosen, p.rejected)]


def cache_reference(model, pairs: list[Pair], cfg: TrainConfig, device: str) -> int:
    """Fill every pair's reference log-probs from the model as training finds it, in one no-grad
    pass; returns the tokens it read. That is the frozen base for a fresh adapter (LoRA's B is
    zero, so base + adapter is the base exactly) and the parent model for continued training
    (``base_model: {spec: PARENT}``: the adapter starts as the parent's), which is DPO's
    reference in the supervised-then-DPO recipe. Called before the first step only."""
    import torch

    was_training = model.training
    model.eval()
    tokens = 0
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.batch_size):
            batch = pairs[start:start + cfg.batch_size]
            logps = sequence_logps(model, _flat(batch), cfg, device).tolist()
            for k, pair in enumerate(batch):
                pair.ref_chosen, pair.ref_rejected = logps[2 * k], logps[2 * k + 1]
            tokens += sum(p.tokens for p in batch)
    model.train(was_training)
    return tokens


def dpo_loss(model, batch: list[Pair], cfg: TrainConfig, beta: float, device: str):
    """(mean loss, margins) for a batch; margins are the implicit reward differences
    ``beta * ((pi(w) - ref(w)) - (pi(l) - ref(l)))`` per pair (detached)."""
    import torch
    import torch.nn.functional as F

    logps = sequence_logps(model, _flat(batch), cfg, device)
    chosen, rejected = logps[0::2], logps[1::2]
    ref = torch.tensor([[p.ref_chosen, p.ref_rejected] for p in batch], dtype=logps.dtype, device=device)
    margins = beta * ((chosen - ref[:, 0]) - (rejected - ref[:, 1]))
    return -F.logsigmoid(margins).mean(), margins.detach()


def logp_margins(model, pairs: list[Pair], cfg: TrainConfig, device: str) -> list[float]:
    """``log pi(preferred) - log pi(non-preferred)`` per pair under the model as it is now."""
    import torch

    was_training = model.training
    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.batch_size):
            logps = sequence_logps(model, _flat(pairs[start:start + cfg.batch_size]), cfg, device)
            out.extend((logps[0::2] - logps[1::2]).tolist())
    model.train(was_training)
    return out


def _validate(model, pairs: list[Pair], cfg: TrainConfig, beta: float, device: str) -> tuple[float, float] | None:
    """(mean DPO loss, preference accuracy) on held-out pairs."""
    import torch

    if not pairs:
        return None
    model.eval()
    losses, right = [], 0
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.batch_size):
            batch = pairs[start:start + cfg.batch_size]
            loss, margins = dpo_loss(model, batch, cfg, beta, device)
            losses.append(float(loss) * len(batch))
            right += int((margins > 0).sum())
    model.train()
    return sum(losses) / len(pairs), right / len(pairs)


def train_dpo(
    model,
    train_set: list[Pair],
    valid_set: list[Pair],
    cfg: TrainConfig,
    *,
    beta: float = DEFAULT_BETA,
    device: str,
    emit: Emit = lambda kind, data: None,
    on_epoch_end: Callable[[int, Any], None] = lambda epoch, model: None,
    should_stop: Callable[[], bool] = lambda: False,
    pad_id: int = 0,
) -> TrainResult:
    """DPO-train ``model`` (peft-wrapped) in place; the reference is the model as given (the
    base, or the parent in continued training: ``cache_reference``).
    ``metrics`` events carry the DPO loss, reward margin and preference accuracy per step."""
    import torch

    del pad_id  # packed rows need no padding; accepted for the supervised trainer's signature
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    ref_tokens = cache_reference(model, train_set + valid_set, cfg, device)
    emit("reference", {"pairs": len(train_set) + len(valid_set), "tokens": ref_tokens,
                       "elapsed_s": round(time.perf_counter() - started, 2)})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    n_batches = math.ceil(len(train_set) / cfg.batch_size)
    steps_per_epoch = math.ceil(n_batches / cfg.gradient_accumulation)
    total_steps = steps_per_epoch * cfg.n_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, total_steps)))
    model.train()
    step, trained_tokens = 0, 0
    first_loss = last_loss = valid_loss = None
    for epoch in range(1, cfg.n_epochs + 1):
        batches = make_batches(len(train_set), cfg.batch_size, rng)
        for start in range(0, len(batches), cfg.gradient_accumulation):
            if should_stop():
                raise Stop()
            group = batches[start:start + cfg.gradient_accumulation]
            t0 = time.perf_counter()
            loss_sum, margins, tokens = 0.0, [], 0
            for idx in group:
                batch = [train_set[i] for i in idx]
                loss, m = dpo_loss(model, batch, cfg, beta, device)
                (loss / len(group)).backward()
                loss_sum += float(loss.detach()) / len(group)
                margins.extend(m.tolist())
                tokens += sum(p.tokens for p in batch)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            trained_tokens += tokens
            last_loss = loss_sum
            first_loss = last_loss if first_loss is None else first_loss
            dt = time.perf_counter() - t0
            emit("metrics", {
                "step": step, "total_steps": total_steps, "epoch": epoch, "train_loss": last_loss,
                "reward_margin": sum(margins) / len(margins),
                "reward_accuracy": sum(1 for x in margins if x > 0) / len(margins),
                "tokens": tokens, "tokens_per_s": round(tokens / dt, 1) if dt > 0 else None,
                "learning_rate": scheduler.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - started, 2),
            })
        held = _validate(model, valid_set, cfg, beta, device)
        if held is not None:
            valid_loss = held[0]
            emit("metrics", {"step": step, "total_steps": total_steps, "epoch": epoch,
                             "valid_loss": held[0], "valid_reward_accuracy": held[1]})
        on_epoch_end(epoch, model)
    elapsed = time.perf_counter() - started
    return TrainResult(
        steps=step, trained_tokens=trained_tokens, train_loss=last_loss, valid_loss=valid_loss,
        elapsed_s=elapsed, tokens_per_s=trained_tokens / elapsed if elapsed > 0 else 0.0,
        first_train_loss=first_loss,
    )
