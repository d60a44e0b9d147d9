"""Benchmark: ``extract`` throughput against the loopback OpenAI, 8 requests in flight versus one
at a time, and the cache hit rate of a rebuild.

Serves the tests' schema-checked fake OpenAI (tests/graph/fake_openai.py on 127.0.0.1; needs
the dev extras: jsonschema, referencing) with a fixed artificial latency per chat answer
(``--latency``, default 50 ms, standing in for a real model's), and builds a dataset from
``--chunks`` raw transcript blocks (default 200) with ``extract``:

- baseline: ``concurrency: 1`` (one request at a time, what a hand-written loop does);
- run: ``concurrency: 8``, in a fresh project (nothing cached);
- rebuild: the ``concurrency: 8`` project again after an unrelated change (the system prompt).

Prints chunks/s for both and their ratio (goal >= 5x), then the rebuild's cache hit rate and
its chat requests (goal 100% and 0).

    .venv/bin/python benchmarks/bench_extract.py [--chunks 200] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402

API_KEY = "sk-bench-extract-0123456789"
KEY_ENV = "FTSPEC_BENCH_OPENAI_KEY"
MODEL = "gpt-4.1-mini-2025-04-14"
PROMPT = "Turn this support conversation into Q/A chat examples, one JSON object per line:\n{{ chunk }}\n"


def block(i: int) -> str:
    return f"Customer: ticket {i}: my board drops the link after {i % 40 + 5} minutes?\nEngineer: check the reset pulse ({i})."


def answer(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"ticket {i}: my board drops the link?"},
                                    {"role": "assistant", "content": f"Check the reset pulse ({i})."}]})


def project(root: Path, url: str, chunks: int, concurrency: int) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "calls.txt").write_text("\n\n".join(block(i) for i in range(chunks)) + "\n", encoding="utf-8")
    (root / "prompt.txt").write_text(PROMPT, encoding="utf-8")
    spec = root / "specs" / "bench.yaml"
    spec.parent.mkdir()
    spec.write_text(f"""ftspec: 1
name: bench
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {{base_url: "{url}", api_key_env: {KEY_ENV}, max_retries: 2, timeout: 30}}
sources:
  - {{name: calls, path: ../data/calls.txt, format: transcript}}
transforms:
  - extract: {{model: {MODEL}, prompt: ../prompt.txt, concurrency: {concurrency}, sampling: {{max_tokens: 200}}}}
template: {{type: chat, system: "You are the support engineer."}}
review: {{path: ../reviews/bench.yaml, required: false}}
""", encoding="utf-8")
    return spec


def build(spec_path: Path) -> tuple[float, dict]:
    from ftspec.data.pipeline import build_dataset
    from ftspec.providers.models import spec_models
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    start = time.perf_counter()
    with spec_models(spec) as models:
        result = build_dataset(spec, None, models=models)
    return time.perf_counter() - start, result.manifest["generated"]["transforms[0].extract"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    os.environ[KEY_ENV] = API_KEY
    server = FakeOpenAI(api_key=API_KEY).start()
    server.chat_latency = args.latency
    server.chat_rules = [(f"ticket {i}:", answer(i)) for i in range(args.chunks)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            one = project(Path(tmp) / "one", server.url, args.chunks, 1)
            eight = project(Path(tmp) / "eight", server.url, args.chunks, 8)
            t1, books1 = build(one)
            t8, books8 = build(eight)
            assert books1["examples"] == books8["examples"] == args.chunks, (books1, books8)
            before = server.count("POST", "/chat/completions")
            eight.write_text(eight.read_text(encoding="utf-8").replace("You are the support engineer.", "Be brief."),
                             encoding="utf-8")
            t_re, books_re = build(eight)
            rebuild_requests = server.count("POST", "/chat/completions") - before
    finally:
        server.stop()
    assert not server.violations, server.violations
    print(f"extract: {args.chunks} chunks, {args.latency * 1000:.0f} ms per answer (loopback OpenAI)")
    print(f"  baseline, 1 in flight : {t1:7.2f} s  {args.chunks / t1:8.1f} chunks/s")
    print(f"  8 in flight           : {t8:7.2f} s  {args.chunks / t8:8.1f} chunks/s  ({t1 / t8:.1f}x the baseline)")
    rate = books_re["cached"] / books_re["calls"] if books_re["calls"] else 0.0
    print(f"  rebuild (system prompt changed): {t_re:.2f} s, cache hit rate {rate:.0%} "
          f"({books_re['cached']}/{books_re['calls']}), {rebuild_requests} chat request(s)")


if __name__ == "__main__":
    main()
