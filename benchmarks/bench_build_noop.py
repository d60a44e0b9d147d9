"""Benchmark: a no-op ``ftspec build`` (everything up to date) vs the first, full build.

Stands on the library alone (a ``.[local]`` install, no pytest, nothing from tests/): builds
the tiny Gemma-3 model from ``ftspec.testing.tiny_model``, writes a local-provider spec over
``--examples`` chat rows, builds it once for real (dataset, store upload, one LoRA epoch in the
detached worker, lock), then times repeated no-op builds in the same process and one no-op
``ftspec build`` CLI call (interpreter start-up included). The goal: a no-op build under 0.5 s.
Prints the times, the no-op / first-build ratio and the CLI / ``python -c pass`` ratio.

    .venv/bin/python benchmarks/bench_build_noop.py [--examples 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftspec.testing.tiny_model import write_local_spec


def write_project(project: Path, base_model: Path, examples: int) -> Path:
    (project / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"},
                          {"role": "assistant", "content": f"Settings, then Account, then Reset on device {i}."}]}
            for i in range(examples)]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = write_local_spec(project / "bench.yaml", base_model, name="bench", data="data/train.jsonl",
                            system="You are Acme support.", validation=0.1, batch_size=8)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from ftspec.graph.build import build
    from ftspec.testing.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FTSPEC_LOCAL_STORE"] = str(Path(tmp) / "store")  # the worker inherits it
        base = build_tiny_model(Path(tmp) / "tiny-gemma")
        spec = write_project(Path(tmp) / "project", base, args.examples)
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
        subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=spec.parent, check=True,
                       capture_output=True, env={**os.environ})
        cli = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    baseline = time.perf_counter() - start
    best = min(noops)
    print(f"first build (tiny-model LoRA training included): {first:.3f} s")
    print(f"no-op build in process: best {best * 1000:.1f} ms, mean {sum(noops) / len(noops) * 1000:.1f} ms "
          f"over {args.repeat} runs; ratio no-op/first = {best / first:.4f}")
    print(f"no-op ftspec build CLI, interpreter start included: {cli:.3f} s (goal < 0.5 s); "
          f"python -c pass {baseline:.3f} s; ratio CLI/baseline = {cli / baseline:.1f}")


if __name__ == "__main__":
    main()
