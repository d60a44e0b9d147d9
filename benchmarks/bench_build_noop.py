"""Benchmark: a no-op ``ftspec build`` (everything up to date) vs the first, full build.

Starts the tests' schema-checked fake OpenAI server on 127.0.0.1, builds a small spec once
(dataset, upload, job, wait, lock), then times repeated no-op builds in the same process and
one no-op ``ftspec build`` CLI call (interpreter start-up included). The issue's goal: a no-op
build under 0.5 s. Prints the times and the no-op / first-build ratio.

    .venv/bin/python benchmarks/bench_build_noop.py [--examples 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402
from graph_helpers import API_KEY, KEY_ENV, write_examples, write_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ[KEY_ENV] = API_KEY
    from ftspec.graph.build import build

    server = FakeOpenAI(api_key=API_KEY).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "data").mkdir()
            write_examples(project / "data" / "train.jsonl", n=args.examples)
            spec = write_spec(project, server.url)
            start = time.perf_counter()
            build([spec], echo=lambda _: None, live=False)
            first = time.perf_counter() - start
            noops = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = build([spec], echo=lambda _: None, live=False)
                noops.append(time.perf_counter() - start)
                assert result.ran == [], result.ran
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=project, check=True,
                           capture_output=True, env={**os.environ})
            cli = time.perf_counter() - start
    finally:
        server.stop()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    baseline = time.perf_counter() - start
    best = min(noops)
    print(f"first build (server job simulation included): {first:.3f} s")
    print(f"no-op build in process: best {best * 1000:.1f} ms, mean {sum(noops) / len(noops) * 1000:.1f} ms "
          f"over {args.repeat} runs; ratio no-op/first = {best / first:.4f}")
    print(f"no-op ftspec build CLI, interpreter start included: {cli:.3f} s (goal < 0.5 s); "
          f"python -c pass {baseline:.3f} s; ratio CLI/baseline = {cli / baseline:.1f}")


if __name__ == "__main__":
    main()
