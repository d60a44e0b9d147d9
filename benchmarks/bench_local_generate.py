"""Eval generation: batched (``chat_batch``, left padding) vs one case at a time, same process.

    .venv/bin/python benchmarks/bench_local_generate.py                 # bundled Gemma 3 270M
    .venv/bin/python benchmarks/bench_local_generate.py --cases 20 --max-tokens 32
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="base model or local fine-tuned model id")
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "support" / "faq.jsonl")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    from ftspec.providers import get_provider
    from ftspec.providers.base import ChatRequest

    provider = get_provider("local", {})
    requests = [ChatRequest(model=args.model, messages=m, temperature=0, max_tokens=args.max_tokens)
                for m in cases(args.data, args.cases)]
    provider.chat(requests[0])  # load the model once, outside both timings

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
