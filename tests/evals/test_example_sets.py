"""The example eval sets shipped in evals/support/ load, validate and fit their scorers."""

from __future__ import annotations

from pathlib import Path

from evals_helpers import write_spec

from ftspec.evals.cases import load_cases
from ftspec.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_example_sets_load_with_their_scorers(project):
    smoke, fmt = REPO / "evals/support/smoke.jsonl", REPO / "evals/support/format.jsonl"
    spec = load_spec(write_spec(project, f"""\
- name: smoke
  cases: {smoke}
  scorers: [similarity: {{threshold: 0.8}}, contains: {{field: must_include}}]
- name: format
  cases: {fmt}
  scorers: [json_schema: {{field: json_schema}}]
"""))
    smoke_cases, format_cases = load_cases(spec, 0), load_cases(spec, 1)
    assert len(smoke_cases) >= 20 and len(format_cases) >= 8
    assert {"ko", "en"} <= {t for c in smoke_cases for t in c.tags}
    assert all(c.get("must_include") and c.ideal for c in smoke_cases)
    # every format case's ideal answer satisfies its own schema
    from ftspec.evals.scorers import SCORERS, ScoreContext

    scorer = SCORERS.get("json_schema")({"field": "json_schema"}, ScoreContext(spec=spec))
    assert all(scorer.score(c.ideal, c).passed for c in format_cases)
