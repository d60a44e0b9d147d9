"""Benchmark: peak RSS while building a dataset from a generated ~1 GB chat source.

Generates the source into a temp folder (streamed, the same Korean/English multi-turn shape as
bench_tokens.py), then builds it with ``ftspec dataset`` in a child process (10% validation
split, drop_empty, max_tokens) and reads that child's peak RSS from ``getrusage``. Target: < 300 MB.

    .venv/bin/python benchmarks/bench_memory.py [--mb 1024]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_tokens import EN_A, EN_MORE, EN_Q, KO_A, KO_MORE, KO_Q, SYSTEMS  # noqa: E402


def generate(path: Path, target_bytes: int) -> int:
    rng = random.Random(7)
    written = count = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target_bytes:
            korean = rng.random() < 0.5
            qs, answers, more = (KO_Q, KO_A, KO_MORE) if korean else (EN_Q, EN_A, EN_MORE)
            messages = [{"role": "system", "content": rng.choice(SYSTEMS)}]
            for _turn in range(rng.randint(1, 4)):
                n, d, k = rng.randint(1000, 999999), rng.randint(1, 30), rng.randrange(len(qs))
                messages.append({"role": "user", "content": qs[k].format(n=n, d=d)})
                messages.append({"role": "assistant", "content": " ".join(
                    [answers[k].format(n=n, d=d), *rng.sample(more, rng.randint(1, 3))])})
            line = json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "big.jsonl"
        start = time.perf_counter()
        n = generate(source, args.mb * 1024 * 1024)
        print(f"generated {source.stat().st_size / 2**20:,.0f} MiB, {n:,} examples in {time.perf_counter() - start:.0f} s")
        (root / "spec.yaml").write_text(
            "ftspec: 1\nname: bigmem\nprovider: openai\nbase_model: gpt-4o-mini-2024-07-18\n"
            "sources:\n  - path: big.jsonl\n    format: chat_jsonl\n"
            "transforms:\n  - drop_empty\n  - max_tokens: {action: drop}\n"
            "template:\n  type: chat\nsplit:\n  validation: 0.1\n", encoding="utf-8")
        ftspec = Path(sys.executable).parent / "ftspec"
        start = time.perf_counter()
        done = subprocess.run([str(ftspec), "-q", "dataset", "spec.yaml", "--out", "out"], cwd=root,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        print(done.stdout.strip())
        if done.returncode != 0:
            print(done.stderr.strip())
            raise SystemExit(done.returncode)
        out_mb = sum(p.stat().st_size for p in (root / "out").glob("*.jsonl")) / 2**20
        print(f"built {out_mb:,.0f} MiB of JSONL in {elapsed:.0f} s ({n / elapsed:,.0f} examples/s)")
        print(f"peak RSS of the build: {peak_mb:,.0f} MiB (target < 300 MiB): {'PASS' if peak_mb < 300 else 'FAIL'}")


if __name__ == "__main__":
    main()
