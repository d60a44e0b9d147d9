"""``not_contains``: no keyword (``values``, or the case's ``must_not_include``) occurs."""

from __future__ import annotations

from ftspec.evals.scorers import SCORERS, Score
from ftspec.evals.scorers.contains import Contains, keyword_hits


@SCORERS.register("not_contains")
class NotContains(Contains):
    default_field = "must_not_include"

    def score(self, output, case):
        keywords = self.keywords(case)
        hits = keyword_hits(output, keywords, bool(self.options.get("ignore_case", True)))
        found = [k for k, hit in zip(keywords, hits, strict=True) if hit]
        fraction = 1.0 - (len(found) / len(keywords) if keywords else 0.0)
        return Score(fraction, not found, {"found": found} if found else {})
