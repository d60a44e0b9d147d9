"""Helpers: a real spec file in tmp_path around fixture data, and source reading."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"


def write_spec(tmp_path: Path, sources: list[dict], template: dict | None = None, **extra) -> Path:
    """Copy each source's fixture next to a spec (keeping its name) and write the spec."""
    for source in sources:
        for key in ("path",):
            fixture = FIXTURES / source[key]
            if fixture.exists():
                shutil.copy(fixture, tmp_path / source[key])
    spec = {"ftspec": 1, "name": "conv", "provider": "local", "base_model": "gemma-3-270m",
            "sources": sources, "template": template or {"type": "chat"}, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def read_examples(spec_path: Path):
    """(examples, context) from the spec's sources, read directly through the registry."""
    from ftspec.data.context import BuildContext
    from ftspec.data.sources import read_source
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    ctx = BuildContext()
    examples = [e for s in spec.sources for e in read_source(s, spec, ctx)]
    return examples, ctx


def as_golden(examples, ctx) -> dict:
    return {
        "examples": [{"origin": f"{Path(e.origin.file).name}:{e.origin.line}", **e.record} for e in examples],
        "sources": {name: {"rows_read": s.rows_read, "examples": s.examples, "dropped": dict(sorted(s.dropped.items()))}
                    for name, s in sorted(ctx.sources.items())},
    }


def check_golden(name: str, actual: dict) -> None:
    """Compare with golden/<name>.json; FTSPEC_UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    path = GOLDEN / f"{name}.json"
    text = json.dumps(actual, ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("FTSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with FTSPEC_UPDATE_GOLDEN=1 and review it"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8"))
