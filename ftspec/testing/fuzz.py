"""Mutators and the contract for fuzzing ftspec (``tests/fuzz/``, ``benchmarks/fuzz.py``).

Mutators take a ``random.Random`` (hypothesis hands one in through ``st.randoms()``, the long
run seeds its own), so the CI run and the long run explore the same space:

- :func:`mutate_spec`: structure-aware mutations of a bundled spec (a value replaced by a nasty
  one, a key dropped, renamed or added, a list emptied or nested) and then, sometimes,
  text-level ones (YAML syntax tokens, control characters, aliases, tags spliced in);
- :func:`mutate_bytes`: byte-level mutations of a data file (flips, splices of JSON/CSV/YAML
  syntax, bad UTF-8, cuts, duplicated spans).

The contract (:func:`contract_problems`): exit 0 or 1 (never 70, never a traceback), every
``error:`` line located as ``file:LINE`` or ``file:LINE:COL``, ``--json`` stdout strict JSON,
and (for data) the row books balanced.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import yaml

LOCATED = re.compile(r"^[^\s:][^:]*:\d+(?::\d+)?: \S")

NASTY_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**63, -(2**63) - 1, 10**30, 1e308, -1e-308, 0.5,
    float("nan"), float("inf"), float("-inf"), "", " ", "x" * 5000, "auto", "0", "1e999",
    "\x00", "\x1b[31m", "\x7f", "a\u2028b", "\ufeff", "\U0001f600", "{{ 1/0 }}", "{% include 'x' %}",
    "{{ range(100)|random }}", "../../etc/passwd", "a" * 300 + "/" + "b" * 300, "*", "data/*.jsonl",
    "rot13", "base64", "utf-16", "punycode", "30m", "99999999999999999999d", ";;",
    [], {}, [[[[[]]]]], {"a": {"b": {"c": {}}}}, [None], ["x"] * 50,
]

YAML_TOKENS = ["&a ", "*a", "*undefined", "!!int ", "!!float ", "!!binary ", "!!python/object:os.system ",
               "!custom ", "? ", "<<: *a\n", "\t", "[", "]", "{", "}", ":", ": ", "- ", "'", '"', "\\",
               "#", "\n", "---\n", "...\n", "%YAML 1.1\n", "~", ".nan", ".inf", "0x1F", "1e999",
               "\x00", "\x1b", "\ufeff", "\ud800", "|\n", ">-\n", "  ", "1: ", "true: ", "~: ", "[a, b]: ",
               "&x [*x]", "9" * 400]

DATA_TOKENS = [b'"', b"'", b",", b"\n", b"\r\n", b"\r", b"", b"[", b"]", b"{", b"}", b":", b"\\", b"\\u",
               b"\\ud800", b"NaN", b"Infinity", b"-Infinity", b"1e999", b"null", b"true", b"\xff",
               b"\xc3", b"\xed\xa0\x80", b"\x00", b"\t", b",]", b"[" * 200, b"]" * 200, b"Q) ", b"A) ",
               b"---\n", b"2022. 2. 30. ", b"13:61", b"2022-02-30 13:55:00", b"+09:00", b"\xef\xbb\xbf",
               "오후".encode(), "민지 : ".encode(), b"Json : ", b'""', b"\n\n\n"]


# ---- the contract ---------------------------------------------------------------------------

def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``ftspec.cli.main(args)`` in-process: (exit code, stdout, stderr)."""
    from ftspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else (0 if code is None else 1)), out.getvalue(), err.getvalue()


def strict_json(text: str) -> Any:
    def reject(token: str) -> Any:
        raise ValueError(f"non-strict JSON constant {token}")

    return json.loads(text, parse_constant=reject)


def contract_problems(code: int, out: str, err: str, *, as_json: bool = False) -> list[str]:
    """What a CLI run did that the contract forbids (empty when it kept it)."""
    found = []
    if code not in (0, 1):
        found.append(f"exit {code}")
    if "Traceback" in err or "internal error" in err:
        found.append("internal error: " + " ".join(err.split())[:300])
    for line in err.splitlines():
        if line.startswith("error: ") and not LOCATED.match(line[7:]):
            found.append(f"unlocated error line: {line[:200]}")
    if as_json and out.strip():
        try:
            data = strict_json(out)
        except ValueError as exc:
            found.append(f"--json output is not strict JSON: {exc}")
        else:
            for row in data if isinstance(data, list) else [data]:
                for error in (row.get("errors") or []) if isinstance(row, dict) else []:
                    if not LOCATED.match(str(error)):
                        found.append(f"unlocated error in --json: {str(error)[:200]}")
    return found


def problems_located(exc: Exception) -> list[str]:
    """For an ``FtspecError`` raised in-process: its lines that are not located."""
    lines = exc.lines() if hasattr(exc, "lines") else [str(exc)]
    return [f"unlocated error line: {line[:200]}" for line in lines
            if not line.startswith("hint: ") and not LOCATED.match(line)]


# ---- spec mutations -------------------------------------------------------------------------

def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, path + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, path + (index,)))
    return out


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def mutate_tree(tree: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = _get(tree, path[:-1])
        last = path[-1]
        op = rng.randrange(6)
        if op <= 1:
            parent[last] = copy.deepcopy(rng.choice(NASTY_VALUES))
        elif op == 2 and isinstance(parent, dict):
            del parent[last]
        elif op == 3 and isinstance(parent, dict):
            parent[rng.choice(["extra", str(last) + "s", str(last)[:-1] or "k", "Name", "on_eror"])] = parent[last]
        elif op == 4:
            parent[last] = [parent[last], copy.deepcopy(parent[last])] if rng.random() < 0.5 else {"x": parent[last]}
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(rng.choice(NASTY_VALUES)))
        else:
            parent[last] = str(parent[last])
    return tree


def mutate_text(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(text))
        op = rng.randrange(5)
        if op <= 1:
            text = text[:pos] + rng.choice(YAML_TOKENS) + text[pos:]
        elif op == 2:
            text = text[:pos] + text[pos + rng.randint(1, 40):]
        elif op == 3:
            lines = text.splitlines(keepends=True)
            if lines:
                i = rng.randrange(len(lines))
                lines.insert(i, lines[i])
                text = "".join(lines)
        else:
            text = text[:pos] + chr(rng.choice([0x0, 0x7, 0x1B, 0x85, 0xA0, 0x2028, 0xFEFF, 0xD800, 0x1F600])) + text[pos:]
    return text


def mutate_spec(original: str, rng: random.Random) -> str:
    """A mutated copy of a spec's text (YAML), structure first, then maybe text."""
    text = original
    if rng.random() < 0.7:
        tree = yaml.safe_load(original)
        try:
            text = yaml.safe_dump(mutate_tree(tree, rng), allow_unicode=rng.random() < 0.5, sort_keys=False)
        except (yaml.YAMLError, UnicodeEncodeError):
            text = original
    if rng.random() < 0.5 or text == original:
        text = mutate_text(text, rng)
    return text


# ---- data mutations -------------------------------------------------------------------------

def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(6)
        if op <= 1:
            buf[pos:pos] = rng.choice(DATA_TOKENS)
        elif op == 2:
            del buf[pos: pos + rng.randint(1, 30)]
        elif op == 3 and buf:
            i = min(pos, len(buf) - 1)
            buf[i] = rng.randrange(256)
        elif op == 4:
            span = bytes(buf[pos: pos + rng.randint(1, 200)])
            buf[pos:pos] = span * rng.randint(1, 3)
        else:
            del buf[pos:]  # cut short
    return bytes(buf)


# ---- one case, as the tests and the long run check it ---------------------------------------

def mirror(root: Path, repo: Path) -> None:
    """``root`` made to look like the repository for the bundled specs (data, evals linked)."""
    (root / "specs").mkdir(exist_ok=True)
    for name in ("data", "evals"):
        link = root / name
        if not link.exists():
            link.symlink_to(repo / name, target_is_directory=True)


def check_spec_case(root: Path, text: str, commands: tuple[str, ...] = ("validate", "plan")) -> list[str]:
    """Write ``text`` as ``root/specs/fuzz.yaml`` and run each command with ``--json``."""
    path = root / "specs" / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    found = []
    for command in commands:
        code, out, err = run_cli([command, "specs/fuzz.yaml", "--json"])
        found += [f"{command}: {p}" for p in contract_problems(code, out, err, as_json=True)]
    return found


ENCODINGS = [None] * 6 + ["utf-8", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp949", "ascii"]
"""What a data case's source says under ``encoding:`` (None: not set, auto)."""


def check_data_case(root: Path, sample: str, data: bytes, *, cli: bool = False,
                    encoding: str | None = None) -> list[str]:
    """Write a mutated sample file, read it in skip mode and check the books (and, with
    ``cli``, run ``validate`` in fail mode through the CLI)."""
    from ftspec.errors import FtspecError
    from ftspec.testing.messy import books, write_project

    found: list[str] = []
    spec = write_project(root, sample, data, encoding=encoding)
    try:
        result = books(spec)
    except FtspecError as exc:
        found += problems_located(exc)
    except Exception as exc:  # noqa: BLE001 - exactly what the contract forbids
        found.append(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    else:
        if not result["balanced"]:
            found.append(f"books do not balance: { {k: v for k, v in result.items() if k != 'skipped_rows'} }")
    if cli:
        write_project(root, sample, data, on_error="fail", encoding=encoding)
        code, out, err = run_cli(["validate", "spec.yaml", "--json"])
        found += [f"validate: {p}" for p in contract_problems(code, out, err, as_json=True)]
    return found
