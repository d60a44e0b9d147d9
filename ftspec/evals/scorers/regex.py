"""``regex``: the output matches ``pattern`` (or the case's ``regex``) anywhere (re.search)."""

from __future__ import annotations

import re

from ftspec.evals.scorers import SCORERS, Score, Scorer


@SCORERS.register("regex")
class Regex(Scorer):
    default_field = "regex"

    @classmethod
    def problems(cls, options, spec, path):
        if "pattern" in options:
            try:
                re.compile(options["pattern"])
            except re.error as exc:
                return [spec.problem(path + ("pattern",), f"invalid regular expression: {exc}")]
        return []

    def needed_fields(self):
        return [] if "pattern" in self.options else super().needed_fields()

    def score(self, output, case):
        pattern = self.options.get("pattern") or case.get(self.options.get("field", "regex"))
        try:
            ok = re.search(pattern, output, flags=re.DOTALL) is not None
        except re.error as exc:
            return Score(0.0, False, error=f"invalid regular expression in case '{case.id}': {exc}")
        return Score(1.0 if ok else 0.0, ok)
