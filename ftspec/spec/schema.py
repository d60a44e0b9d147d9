"""The spec's JSON Schema (schemas/ftspec.schema.json), compiled once."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGED = Path(__file__).resolve().parent.parent / "_schemas" / "ftspec.schema.json"
_REPO = Path(__file__).resolve().parents[2] / "schemas" / "ftspec.schema.json"


def schema_path() -> Path:
    """The packaged copy in a wheel, the repository file in a checkout (editable install)."""
    return _PACKAGED if _PACKAGED.exists() else _REPO


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@cache
def spec_validator():
    # The schema's own validity against the 2020-12 metaschema is a test
    # (tests/data/test_schema_file.py), not a start-up cost: it took ~0.15 s per command.
    from jsonschema import Draft202012Validator, validators

    # Every number in the schema is finite: NaN and infinity fail "type": "number"/"integer"
    # (the YAML layer refuses `.nan`/`.inf` already; this holds for data built any other way).
    base = Draft202012Validator.TYPE_CHECKER
    checker = base.redefine_many({
        "number": lambda c, x: base.is_type(x, "number") and _finite(x),
        "integer": lambda c, x: base.is_type(x, "integer") and _finite(x),
    })
    finite = validators.extend(Draft202012Validator, type_checker=checker)
    return finite(spec_schema())


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)
