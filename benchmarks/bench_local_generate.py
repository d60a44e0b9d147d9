"""Eval generation: batched (``chat_batch``, left padding) vs one case at a time, same process.

    .venv/bin/python benchmarks/bench_local_generate.py                 # bundled Gemma 3 270M
    .venv/bin/python benchmarks/bench_local_generate.py --cases 20 --max-tokens 32
    .venv/bin/python benchmarks/bench_local_generate.py --cases 24 --max-tokens 64 --batch-sizes 4,32

``--batch-sizes A,B`` compares calls of A requests (the eval runner's chunk before it handed the
device whole batches: its ``concurrency`` of 4) with calls of B, instead of one at a time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SYSTEM = "You are the support engineer for WIZnet W-series Ethernet chips. Answer briefly, in the user's language."


def cases(path: Path, n: int) -> list[list[dict]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        user = next(m for m in record["messages"] if m["role"] == "user")
        out.append([{"role": "system", "content": SYSTEM}, user])
    return out[:n]


def compare_batch_sizes(provider, requests: list, sizes: list[int]) -> None:
    from ftspec.providers.local.generate import generate_batched

    engine = provider.engine(requests[0].model)
    runs = {}
    for size in sizes:
        started = time.perf_counter()
        out = generate_batched(engine, requests, batch_size=size)
        runs[size] = (time.perf_counter() - started, out)
    small, large = runs[sizes[0]], runs[sizes[-1]]
    tokens = sum(r.completion_tokens for r in large[1])
    print(f"{len(requests)} cases, greedy, {tokens} completion tokens")
    for size, (seconds, _) in runs.items():
        print(f"calls of {size:3d}: {seconds:7.1f} s  {tokens / seconds:6.1f} tokens/s")
    same = sum(a.choices == b.choices for a, b in zip(small[1], large[1], strict=True))
    print(f"ratio (calls of {sizes[0]} / calls of {sizes[-1]}): {small[0] / large[0]:.2f}x; "
          f"identical greedy answers: {same}/{len(requests)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="base model or local fine-tuned model id")
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "support" / "faq.jsonl")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", help="A,B: calls of A requests vs calls of B (default: one at a time vs batched)")
    args = parser.parse_args()

    from ftspec.providers import get_provider
    from ftspec.providers.base import ChatRequest

    provider = get_provider("local", {})
    requests = [ChatRequest(model=args.model, messages=m, temperature=0, max_tokens=args.max_tokens)
                for m in cases(args.data, args.cases)]
    provider.chat(requests[0])  # load the model once, outside both timings
    if args.batch_sizes:
        compare_batch_sizes(provider, requests, [int(x) for x in args.batch_sizes.split(",")])
        return

    started = time.perf_counter()
    batched = provider.chat_batch(requests)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    single = [provider.chat(r) for r in requests]
    single_s = time.perf_counter() - started

    same = sum(a.choices == b.choices for a, b in zip(batched, single, strict=True))
    tokens = sum(r.completion_tokens for r in batched)
    print(f"{len(requests)} cases, greedy, max_tokens {args.max_tokens}, {tokens} completion tokens")
    print(f"one at a time: {single_s:7.1f} s")
    print(f"batched      : {batched_s:7.1f} s")
    print(f"ratio (one-at-a-time / batched): {single_s / batched_s:.2f}x  (target >= 3x); "
          f"identical greedy answers: {same}/{len(requests)}")


if __name__ == "__main__":
    main()
