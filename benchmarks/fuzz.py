"""The long fuzzing run: mutated bundled specs and mutated data files for every source format,
checked against the contract of issue 13 (``ftspec.testing.fuzz``).

    python benchmarks/fuzz.py --minutes 30 [--seed 1] [--out findings/]

Prints cases per second for each target, and every finding (a contract violation) with the
input that caused it, written under ``--out`` so it can become a regression fixture in
``tests/fuzz/regressions/``. Exit 1 when anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    args = parser.parse_args()

    from ftspec.testing.fuzz import (
        ENCODINGS,
        check_data_case,
        check_spec_case,
        mirror,
        mutate_bytes,
        mutate_spec,
    )
    from ftspec.testing.messy import SAMPLES

    specs = {p.name: p.read_text(encoding="utf-8") for p in sorted((REPO / "specs").glob("*.yaml"))}
    targets = [f"spec:{name}" for name in specs] + [f"data:{name}" for name in SAMPLES]
    rng = random.Random(args.seed)
    cases = dict.fromkeys(targets, 0)
    spent = dict.fromkeys(targets, 0.0)
    slowest = dict.fromkeys(targets, 0.0)
    findings: dict[str, tuple[str, str]] = {}
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mirror(root, REPO)
        os.chdir(root)
        for text in specs.values():  # warm-up (imports, tokenizers), not timed
            check_spec_case(root, text)
        n = 0
        while time.monotonic() < deadline:
            target = targets[n % len(targets)]
            n += 1
            kind, name = target.split(":", 1)
            start, cpu_start = time.monotonic(), time.process_time()
            encoding = None
            if kind == "spec":
                case: bytes = mutate_spec(specs[name], rng).encode("utf-8", "surrogatepass")
                found = check_spec_case(root, case.decode("utf-8", "surrogatepass"))
            else:
                case = mutate_bytes(SAMPLES[name][1], rng)
                encoding = rng.choice(ENCODINGS)
                found = [f"[encoding {encoding}] {p}" if encoding else p
                         for p in check_data_case(root, name, case, cli=n % 10 == 0, encoding=encoding)]
            took = time.monotonic() - start
            cpu = time.process_time() - cpu_start
            cases[target] += 1
            spent[target] += took
            slowest[target] = max(slowest[target], took)
            if cpu > 10:  # CPU time: a busy machine's waits are no finding
                found.append(f"slow: {cpu:.1f} s of CPU ({took:.1f} s wall)")
            for problem in found:
                key = f"{target} {problem[:60]}"
                if key not in findings:
                    findings[key] = (problem, _save(args.out, target, case, encoding))
                    print(f"FINDING {target}: {problem}\n  input: {findings[key][1]}", flush=True)
    total = sum(cases.values())
    elapsed = sum(spent.values())
    print(f"\n{total} cases in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.1f} cases/s), seed {args.seed}")
    for target in targets:
        rate = cases[target] / max(spent[target], 1e-9)
        print(f"  {target:28s} {cases[target]:6d} cases  {rate:7.1f}/s  slowest {slowest[target]:.2f} s")
    print(f"{len(findings)} distinct findings")
    return 1 if findings else 0


def _save(out: Path, target: str, case: bytes, encoding: str | None) -> str:
    """``<out>/spec/<spec>-<digest>.yaml`` or ``<out>/data/<sample>-<digest>[@<encoding>].<ext>``:
    the names ``tests/fuzz/regressions/`` reads, so a finding is copied there as it is."""
    kind, name = target.split(":", 1)
    (out / kind).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(case).hexdigest()[:12]
    suffix = Path(name).suffix if kind == "spec" else Path(_sample_file(name)).suffix
    path = out / kind / f"{Path(name).stem}-{digest}{'@' + encoding if encoding else ''}{suffix}"
    path.write_bytes(case)
    return str(path.resolve())


def _sample_file(name: str) -> str:
    from ftspec.testing.messy import SAMPLES

    return SAMPLES[name][0]


if __name__ == "__main__":
    sys.exit(main())
