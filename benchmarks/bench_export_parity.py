"""Export parity: the trained model's eval answers vs the same cases through its gguf-lora export
in llama.cpp (llama-cpp-python), per case and as pass rates (``ftspec export --check``).

    .venv/bin/python benchmarks/bench_export_parity.py                       # specs/support.yaml's model
    .venv/bin/python benchmarks/bench_export_parity.py --build               # train it first, in a temp copy (slow on CPU)
    .venv/bin/python benchmarks/bench_export_parity.py --tiny                # the tiny test model instead

The bundled Gemma 3 270M path needs the spec's locked model in this machine's local store and its
eval reports (``ftspec build specs/support.yaml``); without them (or with ``--tiny``) it trains
the tiny llama.cpp-compatible test model on the support data in a temporary project. Needs the
``local`` and ``llamacpp`` extras. The baseline is the trained model itself: "identical" is the
ratio of cases where the export's greedy answer is the trained model's, character for character.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ftspec(cwd: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0 and "min_pass_rate" not in done.stderr:  # a failed gate still wrote its reports
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        sys.exit(f"ftspec {' '.join(args)} failed: {' | '.join(tail)}")


def locked_model(spec: Path) -> str | None:
    from ftspec.lockfile import load_lock, lock_path
    from ftspec.providers import get_provider

    lock = lock_path(spec)
    if not lock.is_file():
        return None
    model = load_lock(lock).get("model")
    if not model:
        return None
    try:
        get_provider("local", {}).manifest(model)
    except Exception:
        return None
    return model


def tiny_project(root: Path, cases: int) -> Path:
    """A project training the tiny llama.cpp-compatible model on the support data; returns the spec."""
    from ftspec.testing.tiny_model import build_tiny_model, write_gguf

    folder = build_tiny_model(root / "tiny", llama_cpp=True)
    write_gguf(folder, root / "tiny.gguf")
    (root / ".ftspec").mkdir()
    (root / "specs").mkdir()
    shutil.copy(ROOT / "data" / "support" / "faq.jsonl", root / "faq.jsonl")
    lines = (ROOT / "evals" / "support" / "smoke.jsonl").read_text(encoding="utf-8").splitlines()[:cases]
    (root / "smoke.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = root / "specs" / "tiny.yaml"
    spec.write_text(f"""ftspec: 1
name: tiny
provider: local
base_model: {folder}
sources:
  - {{name: faq, path: ../faq.jsonl, format: chat_jsonl}}
template: {{type: chat, system: "You are the support engineer for WIZnet W-series Ethernet chips."}}
split: {{validation: 0.1}}
hyperparameters:
  n_epochs: 3
  batch_size: 8
  learning_rate_multiplier: 20
  local: {{lora_r: 8, seed: 3, max_seq_len: 256}}
evals:
  - name: smoke
    cases: ../smoke.jsonl
    sampling: {{temperature: 0, max_tokens: 48}}
    scorers:
      - contains: {{field: must_include}}
""", encoding="utf-8")
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "support.yaml")
    parser.add_argument("--build", action="store_true",
                        help="build SPEC first in a temporary copy of specs/, data/ and evals/ with its own store "
                             "(trains the bundled model; the repository's lockfile and reports stay as they are)")
    parser.add_argument("--quick", type=int, default=0, metavar="N",
                        help="with --build: train on the first N training records for 1 epoch (a busy CPU)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny test model even when a trained model exists")
    parser.add_argument("--cases", type=int, default=12, help="tiny path: eval cases from evals/support/smoke.jsonl")
    args = parser.parse_args()
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        sys.exit("needs llama-cpp-python: pip install -e '.[local,llamacpp]'")

    from ftspec.graph.export import export_spec

    spec, base_gguf, work = args.spec.resolve(), None, None
    if args.build and not args.tiny:
        work = Path(tempfile.mkdtemp(prefix="bench-export-"))
        for folder in ("specs", "data", "evals"):
            shutil.copytree(ROOT / folder, work / folder)
        (work / ".ftspec").mkdir()
        os.environ["FTSPEC_LOCAL_STORE"] = str(work / "store")
        spec = work / "specs" / spec.name
        if args.quick:
            for data in (work / "data").rglob("*.jsonl"):
                data.write_text("".join(data.read_text(encoding="utf-8").splitlines(True)[: args.quick]), encoding="utf-8")
            text = spec.read_text(encoding="utf-8")
            spec.write_text(text.replace("n_epochs: 2", "n_epochs: 1"), encoding="utf-8")
            print(f"quick: {args.quick} training records per data file, 1 epoch")
        started = time.perf_counter()
        ftspec(work, "build", str(spec))
        print(f"built {spec.name} (train + evals) in {time.perf_counter() - started:.0f} s")
    model = None if args.tiny else locked_model(spec)
    if model is None:
        if not args.tiny:
            print(f"no trained model of {spec.name} in this machine's local store: using the tiny test model")
        work = Path(tempfile.mkdtemp(prefix="bench-export-"))
        os.environ["FTSPEC_LOCAL_STORE"] = str(work / "store")  # not the user's store
        spec = tiny_project(work, args.cases)
        started = time.perf_counter()
        ftspec(work, "build", str(spec))
        print(f"trained + evaluated the tiny model in {time.perf_counter() - started:.0f} s")
        base_gguf = work / "tiny.gguf"
    out = Path(tempfile.mkdtemp(prefix="bench-export-out-")) / "gguf-lora"
    try:
        started = time.perf_counter()
        outcome = export_spec(spec, "gguf-lora", out=out, base_gguf=base_gguf, check=True, echo=lambda _: None)
        seconds = time.perf_counter() - started
        check = outcome.check or {}
        print(f"model {outcome.model_id}; export + check {seconds:.0f} s ({check.get('runtime')})")
        print(f"{'eval/case':44} {'same':>5} {'similarity':>10}  trained   export")
        for s in check.get("sets", []):
            for r in s["rows"]:
                print(f"{s['eval'] + '/' + r['id']:44} {'yes' if r['identical'] else 'no':>5} {r['similarity']:>10.3f}  "
                      f"{r['trained_status']:8}  {r['exported_status']}")
        for s in check.get("sets", []):
            ratio = s["identical"] / s["compared"] if s["compared"] else 0.0
            print(f"eval '{s['eval']}': identical {s['identical']}/{s['compared']} ({ratio:.2f} of the trained "
                  f"model's answers), mean similarity {s['mean_similarity']}, pass rate trained "
                  f"{s['trained']['pass_rate']:.1%} vs export {s['exported']['pass_rate']:.1%}")
        print("check passed" if check.get("passed") else f"check FAILED: {json.dumps(check.get('problems'))}")
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
