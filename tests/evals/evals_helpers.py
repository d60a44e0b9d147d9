"""Helpers shared by the eval tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

SPEC_HEAD = """\
ftspec: 1
name: bot
provider: evalfake
base_model: base-1
sources:
  - {path: ../data/train.jsonl, format: chat_jsonl}
template:
  type: chat
  system: "You answer briefly."
"""


def write_spec(root: Path, evals_yaml: str, *, head: str = SPEC_HEAD, providers_yaml: str = "") -> Path:
    path = root / "specs" / "bot.yaml"
    path.write_text(head + providers_yaml + "evals:\n" + textwrap.indent(textwrap.dedent(evals_yaml), "  "),
                    encoding="utf-8")
    return path
