"""``field_match``: per-field accuracy of a JSON answer against the case's expected JSON.

The expected object is the case's ``ideal`` (or ``field``), written as a JSON object; ``fields``
names the keys compared. The score is the fraction of those keys whose value in the output
equals the expected value (strings compared trimmed, and case-blind unless ``ignore_case`` is
false); the case passes when that fraction reaches ``threshold`` (default 1: every field right).
A key missing from the output counts as wrong. Output that is not a JSON object scores 0.
"""

from __future__ import annotations

import json
from typing import Any

from ftspec.evals.scorers import SCORERS, Score, Scorer
from ftspec.evals.scorers.json_valid import parse_json_output


def _norm(value: Any, ignore_case: bool) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value.casefold() if ignore_case else value
    return value


@SCORERS.register("field_match")
class FieldMatch(Scorer):
    default_field = "ideal"

    @classmethod
    def problems(cls, options, spec, path):
        fields = options.get("fields") or []
        if len(set(fields)) != len(fields):
            return [spec.problem(path + ("fields",), "a field is named twice")]
        return []

    def expected(self, case) -> tuple[dict[str, Any] | None, str | None]:
        """(the expected object, or None with the reason it is unusable)."""
        raw = case.get(self.options.get("field", self.default_field))
        if isinstance(raw, list):
            raw = raw[0] if len(raw) == 1 else None
            if raw is None:
                return None, "needs one expected JSON object, not a list of answers"
        if isinstance(raw, dict):
            value = raw
        else:
            try:
                value = json.loads(str(raw))
            except json.JSONDecodeError as exc:
                return None, f"its expected answer is not JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(value, dict):
            return None, "its expected answer is not a JSON object"
        missing = [f for f in self.options["fields"] if f not in value]
        if missing:
            return None, f"its expected answer lacks the field(s) {', '.join(missing)}"
        return value, None

    def case_problems(self, case):
        if case.get(self.options.get("field", self.default_field)) in (None, "", []):
            return []  # reported by needed_fields
        _, reason = self.expected(case)
        return [reason] if reason else []

    def score(self, output, case):
        expected, reason = self.expected(case)
        if expected is None:
            return Score(0.0, False, error=reason)
        fields = list(self.options["fields"])
        ok, value, error = parse_json_output(output)
        if not ok or not isinstance(value, dict):
            return Score(0.0, False, {"reason": error or "not a JSON object"})
        ignore_case = bool(self.options.get("ignore_case", True))
        wrong = {f: {"expected": expected[f], "got": value.get(f)} for f in fields
                 if f not in value or _norm(value[f], ignore_case) != _norm(expected[f], ignore_case)}
        fraction = (len(fields) - len(wrong)) / len(fields)
        passed = fraction >= float(self.options.get("threshold", 1.0))
        return Score(fraction, passed, {"wrong": wrong} if wrong else {})
