"""The Ray executor against the detached process: training tokens/s, and what Ray adds in seconds.

One real Ray head on this machine (``ftspec.testing.ray_cluster``, ``--cpus`` CPUs), one local
store, the same data, seed and hyperparameters, run one after another:

* ``process``: ``executor: process`` (today's detached worker, all cores),
* ``ray x1`` and ``ray x2``: ``executor: {ray: {num_workers: 1|2}}`` (1 CPU per worker).

Per run: tokens/s of the training loop (the manifest's ``tokens_per_s``: trained tokens / loop
time, the same clock for all), wall seconds from ``create_job`` to ``succeeded``, and for Ray
the overhead: submission (``create_job`` returning), driver start (first event), worker group
start (first "starting" event), and fetching the adapter into the store. The ratio column is
against ``process``. On a 2-core machine two workers cannot be faster; the overhead is the figure.

    .venv/bin/python benchmarks/bench_ray_train.py                       # tiny random Gemma
    .venv/bin/python benchmarks/bench_ray_train.py --base gemma-3-270m --examples 32
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def records(n: int) -> list[dict[str, Any]]:
    return [{"messages": [
        {"role": "system", "content": "You are Acme support."},
        {"role": "user", "content": f"How do I reset my password on device {i}? It keeps asking for the old one."},
        {"role": "assistant", "content": f"Go to Settings, then Account, then Reset password on device {i}; "
                                         "confirm with the code we e-mail you."},
    ]} for i in range(n)]


def run(provider, base: str, files: tuple[str, str], key: str, executor, args) -> dict[str, Any]:
    from ftspec.providers.base import JobRequest

    request = JobRequest(
        model=base, training_file=files[0], validation_file=files[1], idempotency_key=key, suffix="bench",
        hyperparameters={"n_epochs": args.epochs, "batch_size": args.batch, "learning_rate_multiplier": 1.0},
        extras={"hyperparameters": {"seed": 0, "max_seq_len": 256, "executor": executor}})
    started = time.perf_counter()
    job = provider.create_job(request)
    submitted = time.perf_counter() - started
    first_event = first_start = None
    while not job.done:
        time.sleep(0.5)
        job = provider.get_job(job.id)
        messages = [e.message for e in provider.list_events(job.id, limit=10_000)]
        now = time.perf_counter() - started
        if first_event is None and any(m.startswith("validating") for m in messages):
            first_event = now
        if first_start is None and any(m.startswith(("starting:", "training on")) for m in messages):
            first_start = now
    wall = time.perf_counter() - started
    if job.status != "succeeded":
        raise SystemExit(f"{key}: {job.status}: {job.error}")
    manifest = provider.manifest(job.fine_tuned_model)
    return {"tokens_per_s": manifest["metrics"]["tokens_per_s"], "wall_s": wall, "submit_s": submitted,
            "driver_s": first_event, "workers_s": first_start, "loop_s": manifest["metrics"]["elapsed_s"],
            "fetch_s": (manifest.get("ray") or {}).get("fetch_s"), "train_loss": manifest["metrics"]["train_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="base model (default: the tiny random Gemma from ftspec.testing)")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    from ftspec.providers import get_provider
    from ftspec.testing.ray_cluster import ray_head

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ["FTSPEC_LOCAL_STORE"] = str(work / "store")
    base = args.base
    if base is None:
        from ftspec.testing.tiny_model import build_tiny_model

        base = str(build_tiny_model(work / "tiny"))
    provider = get_provider("local", {})
    base = provider.base_model(base)
    paths = []
    for name, n in (("train", args.examples), ("valid", max(2, args.examples // 8))):
        path = work / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records(n)), encoding="utf-8")
        paths.append(provider.upload(path, idempotency_key=f"bench-{name}").id)
    files = (paths[0], paths[1])
    rows: dict[str, dict[str, Any]] = {}
    head_started = time.perf_counter()
    with ray_head(num_cpus=args.cpus) as head:
        head_s = time.perf_counter() - head_started
        rows["process"] = run(provider, base, files, "bench-process", "process", args)
        for n in (1, 2):
            rows[f"ray x{n}"] = run(provider, base, files, f"bench-ray-{n}",
                                    {"ray": {"address": head.address, "num_workers": n, "checkpoint_every": 0}}, args)
    base_tps = rows["process"]["tokens_per_s"]
    print(f"base {args.base or 'tiny random Gemma'}, {args.examples} examples x {args.epochs} epoch(s), batch {args.batch}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; Ray head start {head_s:.1f} s")
    print(f"{'run':<8} {'tokens/s':>9} {'ratio':>6} {'loop s':>7} {'wall s':>7} {'submit s':>9} {'driver s':>9} "
          f"{'workers s':>10} {'fetch s':>8} {'final loss':>11}")

    def cell(value, width: int, fmt: str = ".1f") -> str:
        return f"{value:>{width}{fmt}}" if value is not None else f"{'-':>{width}}"

    for name, r in rows.items():
        print(f"{name:<8} {cell(r['tokens_per_s'], 9)} {cell(r['tokens_per_s'] / base_tps, 6, '.2f')} {cell(r['loop_s'], 7)} "
              f"{cell(r['wall_s'], 7)} {cell(r['submit_s'], 9, '.2f')} {cell(r['driver_s'], 9)} {cell(r['workers_s'], 10)} "
              f"{cell(r['fetch_s'], 8, '.2f')} {cell(r['train_loss'], 11, '.5f')}")
    print("overhead of Ray over the process run (wall - loop): "
          + ", ".join(f"{n} {r['wall_s'] - r['loop_s'] - (rows['process']['wall_s'] - rows['process']['loop_s']):+.1f} s"
                      for n, r in rows.items() if n != "process"))


if __name__ == "__main__":
    main()
