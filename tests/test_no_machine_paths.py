"""No machine path in a shipped file: a path on one developer's machine means nothing on another
(the base-model table's comment and the OpenAPI extraction script's default once had one)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home/[a-z]\w*|Users/\w+|root)/")
SHIPPED = ("ftspec", "tests", "benchmarks", "docs", "specs", "README.md", "CHANGELOG.md", "pyproject.toml")
TEXT = {".py", ".md", ".json", ".yaml", ".yml", ".toml", ".txt", ".jinja", ".html", ".cfg"}


def _files():
    for name in SHIPPED:
        top = REPO / name
        paths = [top] if top.is_file() else top.rglob("*")
        for path in paths:
            if path.is_file() and path.suffix in TEXT and "__pycache__" not in path.parts and path != Path(__file__):
                yield path


def test_no_shipped_file_names_a_path_on_this_machine():
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}"
             for path in _files()
             for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if MACHINE_PATH.search(line)]
    assert found == []
