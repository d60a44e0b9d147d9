"""Base vs fine-tuned side by side: colour thresholds, the HTML report, the build summary (issue 12)."""

from __future__ import annotations

import json

import pytest
from evals_helpers import write_spec
from test_runner import CASE_A, CASE_B, CASE_C, _cases, _run

from ftspec.evals.compare import base_vs_tuned, rate_level, summary_lines

PER_MODEL = """\
providers:
  evalfake:
    answers:
      base-1:
        "W5500 소켓 수는?": "소켓 8개."
        "Unknown question": "Use DHCP."
      ft:model-1:
        "What is W5500?": "An Ethernet controller with SPI."
        "W5500 소켓 수는?": "W5500은 소켓 8개를 지원합니다."
"""

EVALS = """\
- name: smoke
  cases: ../evals/smoke.jsonl
  baseline: true
  scorers:
    - contains: {field: must_include}
"""


@pytest.mark.parametrize(("rate", "level"), [
    (0.0, "bad"), (0.04, "bad"), (0.499, "bad"), (0.5, "warn"), (0.79, "warn"), (0.8, "ok"), (1.0, "ok"),
    (None, "bad")])
def test_pass_rate_colour_thresholds(rate, level):
    assert rate_level(rate) == level


def test_side_by_side_summary_report_and_console(project):
    _cases(project, [CASE_A, CASE_B, CASE_C])
    _, summary, _ = _run(project, write_spec(project, EVALS, providers_yaml=PER_MODEL))
    compared = base_vs_tuned(summary)
    assert compared is not None
    assert compared["base"]["pass_rate"] == pytest.approx(2 / 3, abs=1e-4)  # b and c
    assert compared["tuned"]["pass_rate"] == pytest.approx(2 / 3, abs=1e-4)  # a and b
    assert compared["lift_points"] == 0.0
    assert compared["better"] == ["a"] and compared["worse"] == ["c"]

    lines = summary_lines("bot", {"smoke": summary})
    assert lines[0] == ("bot: eval 'smoke': base 66.7% -> fine-tuned 66.7% (+0.0 points), "
                        "mean score 0.667 -> 0.667")
    assert lines[1] == "  1 better (a), 1 worse (c)"

    html = (project / "reports/bot/smoke.html").read_text(encoding="utf-8")
    assert "base model pass rate" in html and "lift over base" in html and "+0.0 points" in html
    # 66.7% is amber, not green
    assert "<b class='warn'>66.7%</b>" in html


def test_summary_without_baseline_is_styled_by_level(project):
    _cases(project, [CASE_A, CASE_C])
    evals = EVALS.replace("  baseline: true\n", "")
    _, summary, _ = _run(project, write_spec(project, evals, providers_yaml=PER_MODEL))
    assert base_vs_tuned(summary) is None
    assert summary_lines("bot", {"smoke": summary}) == [
        "bot: eval 'smoke': pass rate 50.0%, mean score 0.500 (no baseline)"]
    styled = summary_lines("bot", {"smoke": summary}, style=lambda text, level: f"<{level}>{text}")
    assert "<warn>50.0%" in styled[0]
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    assert report["summary"]["pass_rate"] == 0.5


def test_eval_progress_line_is_throttled_with_eta():
    from ftspec.evals.generate import ProgressLine

    now = [0.0]
    lines: list[str] = []
    line = ProgressLine(lines.append, "bot: eval 'smoke'", interval=10, clock=lambda: now[0])
    for done, at in ((0, 0.0), (1, 2.0), (2, 4.0), (3, 12.5), (4, 13.0), (5, 14.0)):
        now[0] = at
        line(done, 5)
    # the start, then nothing for 10 s, then one, then always the last
    assert lines == ["bot: eval 'smoke': generating 0/5",
                     "bot: eval 'smoke': generating 3/5, ETA 0m08s",
                     "bot: eval 'smoke': generating 5/5, done in 0m14s"]


def test_baseline_generations_are_cached_across_a_retrained_model(project):
    """A rebuild after a data change (a new fine-tuned model) generates for the new model only:
    the base model's answers come from the generation cache."""
    _cases(project, [CASE_A, CASE_B])
    spec_path = write_spec(project, EVALS, providers_yaml=PER_MODEL)
    first, _, provider = _run(project, spec_path)
    assert first.new_generations == 4  # 2 cases x (fine-tune + base)
    assert sorted(r.model for r in provider.requests) == ["base-1", "base-1", "ft:model-1", "ft:model-1"]
    second, summary, provider = _run(project, spec_path, model="ft:model-2")
    assert second.new_generations == 2
    assert [r.model for r in provider.requests] == ["ft:model-2", "ft:model-2"]
    assert summary["baseline"]["model"] == "base-1" and summary["baseline"]["runs"] == 2
