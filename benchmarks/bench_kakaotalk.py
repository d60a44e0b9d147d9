"""Benchmark: convert a generated 1M-message KakaoTalk PC CSV into chat JSONL.

Generates a deterministic export (BOM, 3 speakers, quoted multi-line messages, media placeholders,
deleted messages, a pause every ~40 messages), then in the same run times
  * baseline: ``csv.reader`` over the file doing nothing else (the parsing floor);
  * ftspec: the ``kakaotalk`` source with turn shaping (``assistant``, ``session_gap``,
    ``context_turns``) -> chat template -> canonical JSONL lines written to a file,
    in a child process so its peak RSS is measured alone.
Prints messages/s for both, the ratio, and ftspec's peak RSS (must stay under 300 MB: the source
streams; only one session is held at a time).

    .venv/bin/python benchmarks/bench_kakaotalk.py [--messages 1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

LIMIT_MB = 300
TEXTS = ["하이", "뭐해?", "ㅋㅋㅋㅋ 진짜?", "오늘 저녁 뭐 먹지", "ok, see you at 7", "그 책 제목이 \"달러구트\"였나?\n아니면 다른 거?",
         "I'm on my way, 10 minutes", "내일 비 온대\n우산 챙겨", "사진", "이모티콘", "삭제된 메시지입니다.", "좋아 좋아, 그러자",
         "회의 끝나고 연락할게", "lol that's hilarious", "배고파 ㅠㅠ", "주말에 등산 갈래?"]
SPEAKERS = ["지훈", "서연", "민재"]


def generate(path: Path, n: int) -> None:
    rng = random.Random(1217)
    t = datetime(2022, 1, 1, 9, 0, 0)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["Date", "User", "Message"])
        for i in range(n):
            t += timedelta(hours=3) if i % 40 == 0 else timedelta(seconds=rng.randint(5, 120))
            writer.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(SPEAKERS), rng.choice(TEXTS)])


def baseline(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = sum(1 for _ in csv.reader(fh)) - 1
    return rows, time.perf_counter() - start


def child(path: Path, out: Path) -> None:
    """Runs in a fresh process: convert, then print JSON stats (its own peak RSS included)."""
    from ftspec.data.context import BuildContext
    from ftspec.data.records import record_line
    from ftspec.data.sources import read_source
    from ftspec.data.templates import get_template
    from ftspec.spec.loader import load_spec

    spec_path = path.with_name("bench.yaml")
    spec_path.write_text(
        "ftspec: 1\nname: bench\nprovider: local\nbase_model: gemma-3-270m\n"
        f"sources:\n  - {{name: chat, path: {path.name}, format: kakaotalk, assistant: 지훈, "
        "session_gap: 30m, context_turns: 6}\ntemplate: {type: chat}\n", encoding="utf-8")
    spec = load_spec(spec_path)
    ctx = BuildContext()
    template = get_template(spec)
    start = time.perf_counter()
    examples = 0
    with open(out, "wb") as fh:
        for example in read_source(spec.sources[0], spec, ctx):
            fh.write(record_line(template.render(example)))
            examples += 1
    seconds = time.perf_counter() - start
    stats = ctx.sources["chat"]
    print(json.dumps({"rows": stats.rows_read, "examples": examples, "seconds": seconds,
                      "dropped": dict(stats.dropped),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "KakaoTalk_bench.csv"
        generate(path, args.messages)
        size_mb = path.stat().st_size / 1e6
        rows, base_s = baseline(path)
        result = subprocess.run([sys.executable, __file__, "--child", str(path), str(Path(tmp) / "out.jsonl")],
                                capture_output=True, text=True, check=True)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
    rate, base_rate = stats["rows"] / stats["seconds"], rows / base_s
    print(f"input: {args.messages:,} messages, {size_mb:.1f} MB CSV")
    print(f"baseline csv.reader only: {base_rate:,.0f} messages/s")
    print(f"ftspec kakaotalk -> shaped chat JSONL: {rate:,.0f} messages/s "
          f"({stats['examples']:,} examples; dropped {stats['dropped']})")
    print(f"ratio ftspec/baseline: {rate / base_rate:.2f}")
    print(f"ftspec peak RSS: {stats['peak_rss_mb']:.0f} MB (limit {LIMIT_MB} MB): "
          f"{'OK' if stats['peak_rss_mb'] < LIMIT_MB else 'OVER LIMIT'}")
    if stats["peak_rss_mb"] >= LIMIT_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
