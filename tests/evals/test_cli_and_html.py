from __future__ import annotations

import json

import pytest
from evals_helpers import write_spec

from ftspec.cli import main
from ftspec.testing.browser import find_chromium, headless_chromium

CASES = [
    {"id": "ok", "prompt": "What is W5500?", "ideal": "W5500 is an Ethernet controller with SPI.",
     "must_include": ["SPI"], "tags": ["en"]},
    {"id": "bad", "prompt": "소켓 수는?", "ideal": "소켓 8개입니다.", "must_include": ["8"], "tags": ["ko"]},
]
EVALS = """\
- name: smoke
  cases: ../evals/smoke.jsonl
  min_pass_rate: 0.4
  baseline: true
  scorers:
    - similarity: {threshold: 0.7}
    - contains: {}
"""
PROVIDERS = """\
providers:
  evalfake:
    answers:
      "What is W5500?": "W5500 is an Ethernet controller with SPI."
"""


def ftspec(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def evaluated(project, capsys):
    (project / "evals" / "smoke.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES), encoding="utf-8")
    write_spec(project, EVALS, providers_yaml=PROVIDERS)
    code, out, err = ftspec(capsys, "eval", "specs/bot.yaml", "--model", "ft:bot:1")
    assert code == 0, err
    assert out == ("bot/smoke: 1/2 passed (50.0%), 0 errored, model ft:bot:1; "
                   "report reports/bot/smoke.html\n")
    return project


def test_eval_cli_gate_and_missing_model(evaluated, capsys):
    spec = evaluated / "specs" / "bot.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("min_pass_rate: 0.4", "min_pass_rate: 0.9"), encoding="utf-8")
    code, _, err = ftspec(capsys, "eval", "specs/bot.yaml", "--model", "ft:bot:1")
    assert code == 1 and err == "error: bot: eval 'smoke': pass rate 50.0% is below min_pass_rate 90.0%\n"
    code, _, err = ftspec(capsys, "eval", "specs/bot.yaml")
    assert code == 1 and err.startswith("error: specs/bot.yaml: no model to evaluate (the lockfile names none)")
    code, _, err = ftspec(capsys, "eval", "specs/bot.yaml", "--eval", "smok", "--model", "m")
    assert code == 1 and err == "error: bot.yaml: no eval named 'smok' (did you mean 'smoke'?); known: smoke\n"


def test_report_cli(evaluated, capsys):
    code, out, _ = ftspec(capsys, "report", "specs/bot.yaml")
    assert code == 0 and out == "reports/bot/smoke.html\n"
    (evaluated / "reports/bot/smoke.json").unlink()
    code, _, err = ftspec(capsys, "report", "specs/bot.yaml")
    assert code == 1 and err == ("error: reports/bot/smoke.json: no report for eval 'smoke' yet; "
                                 "run: ftspec eval specs/bot.yaml\n")


@pytest.mark.browser
def test_html_report_in_headless_chromium(evaluated, tmp_path_factory):
    found = find_chromium()
    if found is None:
        print("skipped: chromium/chromedriver not installed (/usr/bin/chromium, /usr/bin/chromedriver)")
        pytest.skip("chromium/chromedriver not installed")
    from selenium.webdriver.common.by import By

    with headless_chromium(tmp_path_factory.mktemp("chromium-profile"), found) as driver:
        driver.get((evaluated / "reports/bot/smoke.html").as_uri())
        summary = driver.find_element(By.ID, "summary")
        assert "pass rate" in summary.text and "50.0%" in summary.text
        histogram = driver.find_element(By.ID, "histogram")
        assert histogram.find_element(By.ID, "threshold").get_attribute("stroke") == "#b3261e"
        assert "no training metrics" in driver.find_element(By.ID, "loss-curve").text
        assert len(histogram.find_elements(By.CSS_SELECTOR, "rect.bar")) == 20
        assert "threshold 0.7" in histogram.text
        rows = driver.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
        assert [r.get_attribute("data-status") for r in rows] == ["failed", "passed"]  # failing first
        assert "소켓 8개입니다." in rows[0].text and "echo: 소켓 수는?" in rows[0].text
        assert "base-1" in driver.find_element(By.ID, "cases").text  # baseline column
        driver.find_element(By.CSS_SELECTOR, "button[data-kind='tag'][data-value='en']").click()
        assert [r.is_displayed() for r in rows] == [False, True]
        assert driver.find_element(By.ID, "shown").text == "1"
        driver.find_element(By.CSS_SELECTOR, "button[data-kind='tag'][data-value='']").click()
        driver.find_element(By.CSS_SELECTOR, "button[data-kind='status'][data-value='notpassed']").click()
        assert [r.is_displayed() for r in rows] == [True, False]
