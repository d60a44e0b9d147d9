"""``length``: the output's length in chars (default) or words lies within [min, max]."""

from __future__ import annotations

from ftspec.evals.scorers import SCORERS, Score, Scorer


@SCORERS.register("length")
class Length(Scorer):
    @classmethod
    def problems(cls, options, spec, path):
        if "min" in options and "max" in options and options["min"] > options["max"]:
            return [spec.problem(path + ("min",), f"min ({options['min']}) is greater than max ({options['max']})")]
        return []

    def score(self, output, case):
        unit = self.options.get("unit", "chars")
        size = len(output.split()) if unit == "words" else len(output.strip())
        low, high = self.options.get("min"), self.options.get("max")
        ok = (low is None or size >= low) and (high is None or size <= high)
        return Score(1.0 if ok else 0.0, ok, {"length": size, "unit": unit})
