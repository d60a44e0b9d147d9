"""``contains``: every keyword (``values``, or the case's ``must_include``) occurs in the output."""

from __future__ import annotations

from ftspec.evals.scorers import SCORERS, Score, Scorer, field_values


def keyword_hits(output: str, keywords: list[str], ignore_case: bool) -> list[bool]:
    haystack = output.casefold() if ignore_case else output
    return [(k.casefold() if ignore_case else k) in haystack for k in keywords]


@SCORERS.register("contains")
class Contains(Scorer):
    default_field = "must_include"

    def needed_fields(self):
        return [] if "values" in self.options else super().needed_fields()

    def keywords(self, case) -> list[str]:
        if "values" in self.options:
            return list(self.options["values"])
        return field_values(case, self.options.get("field", self.default_field))

    def score(self, output, case):
        keywords = self.keywords(case)
        hits = keyword_hits(output, keywords, bool(self.options.get("ignore_case", True)))
        missing = [k for k, hit in zip(keywords, hits, strict=True) if not hit]
        fraction = sum(hits) / len(hits) if hits else 1.0
        return Score(fraction, not missing, {"missing": missing} if missing else {})
