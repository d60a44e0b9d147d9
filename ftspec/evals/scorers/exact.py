"""``exact``: the output equals the ideal (or one of several ideals), whitespace-trimmed."""

from __future__ import annotations

from ftspec.evals.scorers import SCORERS, Score, Scorer, field_values


@SCORERS.register("exact")
class Exact(Scorer):
    default_field = "ideal"

    def score(self, output, case):
        fold = (lambda s: s.strip().casefold()) if self.options.get("ignore_case") else str.strip
        wanted = field_values(case, self.options.get("field", "ideal"))
        ok = any(fold(output) == fold(w) for w in wanted)
        return Score(1.0 if ok else 0.0, ok)
