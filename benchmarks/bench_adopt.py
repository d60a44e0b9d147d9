"""Benchmark: ``ftspec adopt openai`` throughput and peak memory against the loopback OpenAI.

Seeds the tests' schema-checked fake OpenAI server (tests/graph/fake_openai.py, on 127.0.0.1;
needs the dev extras: jsonschema, referencing) with an organization of succeeded chat jobs,
each with its own training file, and runs ``ftspec adopt openai`` in a child process, twice:

- run A: ``--jobs`` jobs (default 100) sharing ``--mb`` MB of training files (default 50);
- run B: the same MB in ``--jobs / --scale`` jobs, so every file is ``--scale`` times larger.

For each it prints jobs/s, MB/s of training data adopted (download, canonical JSONL, spec,
dataset rebuild and lock) and the child's peak RSS (``wait4``'s ``ru_maxrss``). The baseline is
a plain streamed copy of the same files through httpx (no parsing), printed as MB/s with the
adopt / plain ratio. Streaming shows as peak RSS that stays flat while the files grow: the
B / A ratio of peak RSS is printed, and should stay near 1.

    .venv/bin/python benchmarks/bench_adopt.py [--jobs 100] [--mb 50] [--scale 10]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402

API_KEY = "sk-bench-0123456789abcdef"
KEY_ENV = "FTSPEC_BENCH_OPENAI_KEY"


def chat_file(job: int, size: int) -> bytes:
    """~``size`` bytes of chat lines, distinct per job (so no two jobs share a dataset)."""
    lines, written, i = [], 0, 0
    while written < size:
        line = json.dumps({"messages": [
            {"role": "system", "content": "You are the support assistant of Acme routers."},
            {"role": "user", "content": f"Job {job}, ticket {i}: my router drops the connection every few minutes."},
            {"role": "assistant", "content": f"For ticket {i}: update the firmware, then reset the router by holding "
                                             f"the button for {i % 30 + 5} seconds, and check the cable."}]}) + "\n"
        lines.append(line)
        written += len(line)
        i += 1
    return "".join(lines).encode()


def seed(server: FakeOpenAI, jobs: int, total_mb: float) -> tuple[list[str], int]:
    size = int(total_mb * 1024 * 1024 / jobs)
    files = []
    for j in range(jobs):
        fid = server.seed_file(f"train-{j}.jsonl", chat_file(j, size))
        files.append(fid)
        server.seed_job(training_file=fid, suffix=f"bot{j}", created_at=1700000000 + j)
    return files, sum(len(server.contents[f]) for f in files)


def plain_copy(server: FakeOpenAI, files: list[str], folder: Path) -> float:
    """The baseline: stream each file's content to disk as it comes, nothing else. Seconds."""
    import httpx

    folder.mkdir()
    start = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        for fid in files:
            with client.stream("GET", f"{server.url}/files/{fid}/content") as resp, open(folder / fid, "wb") as out:
                resp.raise_for_status()
                for chunk in resp.iter_bytes():
                    out.write(chunk)
    return time.perf_counter() - start


def adopt(server: FakeOpenAI, project: Path) -> tuple[float, float]:
    """``ftspec adopt openai`` in a child: (seconds, the child's peak RSS in MiB)."""
    (project / ".git").mkdir(parents=True)
    env = {**os.environ, KEY_ENV: API_KEY}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "-q", "adopt", "openai", "--base-url", server.url,
                             "--api-key-env", KEY_ENV], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"adopt failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024  # KiB on Linux


def run(label: str, jobs: int, total_mb: float, tmp: Path) -> dict[str, float]:
    server = FakeOpenAI(api_key=API_KEY).start()
    try:
        files, size = seed(server, jobs, total_mb)
        plain_s = plain_copy(server, files, tmp / f"{label}-plain")
        adopt_s, peak = adopt(server, tmp / f"{label}-project")
        assert len(list((tmp / f"{label}-project" / "specs").glob("*.lock"))) == jobs, "not every job was adopted"
        assert server.count("POST", "/files") == 0 and server.count("POST", "/fine_tuning/jobs") == 0
    finally:
        server.stop()
    mb = size / 2**20
    print(f"{label}: {jobs} jobs, {mb:.1f} MiB of training files ({mb / jobs:.2f} MiB each)")
    print(f"  adopt: {adopt_s:.1f} s, {jobs / adopt_s:.2f} jobs/s, {mb / adopt_s:.2f} MiB/s, peak RSS {peak:.0f} MiB")
    print(f"  plain streamed copy (baseline): {plain_s:.2f} s, {mb / plain_s:.1f} MiB/s; "
          f"adopt / plain MiB/s = {plain_s / adopt_s:.3f}")
    return {"peak": peak, "each_mb": mb / jobs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--scale", type=int, default=10, help="run B: files this many times larger")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftspec-bench-adopt-") as tmp:
        a = run("A", args.jobs, args.mb, Path(tmp))
        b = run("B", max(1, args.jobs // args.scale), args.mb, Path(tmp))
    print(f"peak RSS B / A = {b['peak'] / a['peak']:.2f} with files {b['each_mb'] / a['each_mb']:.0f}x larger "
          "(flat is ~1: downloads stream, no file is held whole)")


if __name__ == "__main__":
    main()
