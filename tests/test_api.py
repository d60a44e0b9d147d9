"""The public Python API (``import ftspec``) drives a whole build without click.

Build, status and evaluate run against the schema-checked fake OpenAI server on loopback (the
graph tests' server), through the registered ``openai`` provider.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402
from graph_helpers import API_KEY, KEY_ENV, SMOKE_EVALS, write_spec  # noqa: E402

import ftspec  # noqa: E402

EVALS = SMOKE_EVALS + "    min_pass_rate: 0.5\n"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    srv = FakeOpenAI(api_key=API_KEY).start()
    yield srv
    srv.stop()
    assert srv.violations == [], "\n".join(srv.violations)


def test_build_status_evaluate_through_the_public_api(server, tmp_path):
    spec_path = write_spec(tmp_path, server.url, extra=EVALS)
    result = ftspec.build([spec_path], echo=lambda _line: None, live=False)
    assert [t.split(".", 1)[1] for t in result.ran] == ["dataset", "upload", "job", "wait", "eval.smoke", "lock"]

    spec = ftspec.load_spec(spec_path)
    assert ftspec.status(spec).summary == "up to date"
    assert {action for _task, action in ftspec.plan(spec)} == {"up to date"}

    evaluation = ftspec.evaluate(spec_path, eval_name="smoke")
    assert evaluation.model.startswith("ft:gpt-4o-mini-2024-07-18:fake-org:support:")
    smoke = evaluation.summaries["smoke"]
    assert (smoke["cases"], smoke["passed"], smoke["pass_rate"]) == (2, 1, 0.5)
    assert (tmp_path / "reports" / "support" / "smoke.json").is_file()
    assert smoke["gate"] == {"min_pass_rate": 0.5, "passed": True} and evaluation.passed
    assert evaluation.failures == []


def test_evaluate_without_a_model_is_a_located_error(server, tmp_path):
    spec_path = write_spec(tmp_path, server.url, extra=EVALS)
    with pytest.raises(ftspec.errors.EvalError, match=r"support\.yaml: no model to evaluate"):
        ftspec.evaluate(spec_path)


def test_the_api_names_are_exported_lazily():
    assert set(ftspec.__all__) >= {"build", "status", "plan", "evaluate", "diff", "load_spec"}
    code = ("import sys, ftspec; names = [ftspec.build, ftspec.status, ftspec.plan, ftspec.evaluate, "
            "ftspec.diff, ftspec.load_spec]; print(sorted(m for m in ('torch', 'openai', 'click') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_failed_gate_is_returned_not_raised(server, tmp_path):
    spec_path = write_spec(tmp_path, server.url, extra=EVALS)
    ftspec.build([spec_path], echo=lambda _line: None, live=False)
    write_spec(tmp_path, server.url, extra=EVALS.replace("min_pass_rate: 0.5", "min_pass_rate: 0.9"))
    evaluation = ftspec.evaluate(spec_path)
    assert not evaluation.passed
    assert evaluation.failures == ["support: eval 'smoke': pass rate 50.0% is below min_pass_rate 90.0%"]
