"""Spec YAML loading under hostile and large input.

Prints, for a legitimate 10 MB spec, ftspec's located loader against PyYAML's plain
``yaml.load(CSafeLoader)`` (the ratio is the cost of positions and limits), and the time to
refuse the 8x8 "billion laughs" alias bomb (PyYAML alone takes ~18 s and 1.3 GB on it).

    python benchmarks/bench_spec_load.py [--mb 10]
"""

from __future__ import annotations

import argparse
import time

import yaml

from ftspec.errors import SpecError
from ftspec.spec.yamlpos import load_yaml_with_positions

HEADER = ("ftspec: 1\nname: big\nprovider: openai\nbase_model: gpt-4o-mini-2024-07-18\n"
          "template: {type: chat, system: \"Answer briefly.\"}\nsources:\n")


def big_spec(megabytes: float) -> str:
    parts = [HEADER]
    size, i = len(HEADER), 0
    while size < megabytes * 1_000_000:
        item = (f"  - name: s{i}\n    path: data/part-{i:06d}-{'lorem-ipsum-dolor-sit-amet-' * 3}.jsonl\n"
                f"    format: chat_jsonl\n    on_error: skip\n")
        parts.append(item)
        size += len(item)
        i += 1
    return "".join(parts)


def bomb(levels: int = 8, width: int = 8) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=10.0)
    args = parser.parse_args()
    text = big_spec(args.mb)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    base = timed(lambda: yaml.load(text, Loader=loader))  # noqa: S506 - a safe loader
    ours = timed(lambda: load_yaml_with_positions(text, "big.yaml"))
    print(f"{len(text) / 1e6:.1f} MB spec: PyYAML {loader.__name__} {base:.2f} s, "
          f"ftspec {ours:.2f} s, ratio {ours / base:.2f}x")
    from pathlib import Path

    from ftspec.spec.loader import load_spec_text

    full = timed(lambda: load_spec_text(text, Path("big.yaml"), check_files=False))
    print(f"full load_spec (YAML + schema + checks, no file checks): {full:.2f} s")

    def refuse() -> None:
        try:
            load_yaml_with_positions(bomb(), "bomb.yaml")
        except SpecError as exc:
            print("bomb:", exc.lines()[0])
        else:
            raise SystemExit("the alias bomb was accepted")

    print(f"8x8 alias bomb refused in {timed(refuse) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
