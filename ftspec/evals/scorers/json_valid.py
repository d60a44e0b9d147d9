"""``json_valid``: the output is JSON (a ```json fenced block counts, as chat models add one)."""

from __future__ import annotations

import json
import re
from typing import Any

from ftspec.evals.scorers import SCORERS, Score, Scorer

_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL)


def parse_json_output(output: str) -> tuple[bool, Any, str | None]:
    """(ok, value, error): the whole output, else the first fenced block."""
    text = output.strip()
    try:
        return True, json.loads(text), None
    except json.JSONDecodeError as exc:
        error = f"not JSON: {exc.msg} at column {exc.colno}"
    fenced = _FENCE.search(text)
    if fenced:
        try:
            return True, json.loads(fenced.group(1)), None
        except json.JSONDecodeError as exc:
            error = f"fenced block is not JSON: {exc.msg}"
    return False, None, error


@SCORERS.register("json_valid")
class JsonValid(Scorer):
    def score(self, output, case):
        ok, _, error = parse_json_output(output)
        return Score(1.0 if ok else 0.0, ok, {} if ok else {"reason": error})
