"""Benchmark: one review decision saved by ``ftspec review --serve`` vs the straightforward save.

Both paths hold the same guarantees: under the decisions file lock, the whole file is checked
by the build's own loader before it is written atomically. The straightforward save rereads
and reparses the file, dumps it and parses the result again on every click; the server's save
(``ReviewSession.decide``) reuses the decisions it wrote last while the file is unchanged and
dumps with libyaml. Prints ms per decision for each and the ratio, on ``--examples`` examples.

    .venv/bin/python benchmarks/bench_review_save.py [--examples 800] [--decisions 40]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from ftspec.data.review.decisions import (
    decisions_lock,
    decisions_path,
    decisions_yaml,
    entry_as_written,
    load_decisions,
    parse_decisions,
)
from ftspec.data.review.server import ReviewSession
from ftspec.spec.loader import load_spec
from ftspec.util import atomic_write_text


def write_project(root: Path, examples: int) -> Path:
    (root / ".ftspec").mkdir()
    rows = [{"messages": [{"role": "user", "content": f"How do I reset the password on device {i}?"},
                          {"role": "assistant", "content": f"Open Settings > Account > Reset on device {i}."}]}
            for i in range(examples)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"ftspec": 1, "name": "bench", "provider": "local", "base_model": "gemma-3-270m",
            "sources": [{"name": "train", "path": "train.jsonl", "format": "chat_jsonl"}],
            "template": {"type": "chat"}, "review": "reviews/bench.yaml"}
    path = root / "bench.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def straightforward_save(spec, ident: str, decision: str) -> None:
    """Reread, change, dump with the pure-Python dumper, check, write: every click."""
    path = decisions_path(spec)
    with decisions_lock(path):
        entries = {i: entry_as_written(d) for i, d in load_decisions(path).items()}
        entries[ident]["decision"] = decision
        text = decisions_yaml(spec, list(entries.values()), dumper=yaml.SafeDumper)
        parse_decisions(text, str(path))
        atomic_write_text(path, text)


def timed(fn, ids: list[str]) -> float:
    start = time.perf_counter()
    for n, ident in enumerate(ids):
        fn(ident, ("keep", "drop")[n % 2])
    return (time.perf_counter() - start) / len(ids) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=800)
    parser.add_argument("--decisions", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(write_project(Path(tmp), args.examples))
        session = ReviewSession(spec)
        ids = list(session.examples)[: args.decisions]
        baseline = timed(lambda i, d: straightforward_save(spec, i, d), ids)
        served = timed(lambda i, d: session.decide({"id": i, "decision": d}), ids)
        assert all(load_decisions(session.path)[i].decision in ("keep", "drop") for i in ids)
    print(f"{args.examples} examples, {len(ids)} decisions each way")
    print(f"straightforward save : {baseline:8.1f} ms per decision")
    print(f"review --serve save  : {served:8.1f} ms per decision")
    print(f"speed-up             : {baseline / served:8.1f}x")


if __name__ == "__main__":
    main()
