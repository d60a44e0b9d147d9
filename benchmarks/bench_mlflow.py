"""Benchmark: the wall time MLflow tracking adds to a ``ftspec build``, side by side with the
same build untracked.

Starts a real MLflow tracking server on 127.0.0.1 (``ftspec.testing.mlflow_server``: sqlite
backend, served artifacts; needs full mlflow, the ``test`` extra), builds the tiny Gemma-3 model,
then for two identical projects, one with ``tracking: {mlflow: ...}``, times in process:
the first build (dataset, one LoRA epoch in the worker, evals, lock; tracked: plus one run with
params, loss history, eval metrics, artifacts and a model version), the no-op rebuild (best of
``--repeat``; the goal is no added cost: a marker says the run is logged, so nothing is imported
or asked), and a tracked no-op with that marker removed (one search on the server finds the
complete run; nothing logged). The observers' share of the first build (the tracking itself:
MLflow import, one run, artifacts, model version) is timed separately, since training-time noise
hides it in the totals. Prints each pair and the tracked/untracked ratio.

    .venv/bin/python benchmarks/bench_mlflow.py [--examples 40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ftspec.testing.tiny_model import write_local_spec

EVALS = """\
evals:
  - name: smoke
    cases: data/smoke.jsonl
    sampling: {max_tokens: 6, seed: 1}
    scorers:
      - contains: {field: must_include}
"""


def write_project(project: Path, base_model: Path, examples: int, tracked: bool) -> Path:
    (project / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"},
                          {"role": "assistant", "content": f"Settings, then Account, then Reset on device {i}."}]}
            for i in range(examples)]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cases = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"How do I reset device {i}?"}],
              "must_include": ["Settings"]} for i in range(2)]
    (project / "data" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    spec = write_local_spec(project / "bench.yaml", base_model, name="bench", data="data/train.jsonl",
                            system="You are Acme support.", validation=0.1, batch_size=8)
    extra = EVALS + ("tracking: {mlflow: {experiment: bench}}\n" if tracked else "")
    spec.write_text(spec.read_text(encoding="utf-8") + extra, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return spec


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(spec: Path, repeat: int, store: Path) -> dict[str, float]:
    import ftspec.graph.build as graph_build

    build = graph_build.build
    os.environ["FTSPEC_LOCAL_STORE"] = str(store)  # the worker inherits it
    quiet = {"echo": lambda _: None, "live": False}
    observed: list[float] = []
    notify = graph_build.notify

    def timed_notify(*args, **kwargs) -> None:  # the observers' share of a build: tracking itself
        observed.append(timed(lambda: notify(*args, **kwargs)))

    graph_build.notify = timed_notify  # type: ignore[assignment]
    out = {"first build": timed(lambda: build([spec], **quiet))}
    out["  of which observers (tracking)"] = observed[0]
    out["no-op build (best)"] = min(timed(lambda: build([spec], **quiet)) for _ in range(repeat))
    markers = spec.parent / ".ftspec" / "tracking"

    def forgotten() -> None:
        shutil.rmtree(markers, ignore_errors=True)
        build([spec], **quiet)

    out["no-op, marker removed (best)"] = min(timed(forgotten) for _ in range(repeat))
    graph_build.notify = notify  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from ftspec.testing.mlflow_server import MlflowServer
    from ftspec.testing.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = build_tiny_model(root / "tiny-gemma")
        start = time.perf_counter()
        server = MlflowServer(root / "mlflow")
        started = time.perf_counter() - start
        try:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
            plain = measure(write_project(root / "plain", base, args.examples, False), args.repeat, root / "s1")
            os.environ["MLFLOW_TRACKING_URI"] = server.uri
            tracked = measure(write_project(root / "tracked", base, args.examples, True), args.repeat, root / "s2")
            runs = server.client().search_runs([server.client().get_experiment_by_name("bench").experiment_id])
        finally:
            server.stop()
    print(f"mlflow server start (not part of a build): {started:.1f} s; runs logged: {len(runs)} (expected 1)")
    print(f"{'':32} {'untracked':>11} {'tracked':>11} {'added':>10} {'ratio':>7}")
    for name in plain:
        a, b = plain[name], tracked[name]
        ratio = f"{b / a:7.2f}" if a >= 0.001 else "      -"
        print(f"{name:32} {a:10.3f}s {b:10.3f}s {b - a:+9.3f}s {ratio}")


if __name__ == "__main__":
    main()
