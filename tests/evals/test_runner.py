from __future__ import annotations

import json

import pytest
from evals_helpers import write_spec

from ftspec.errors import SpecError
from ftspec.evals.runner import EvalRun, eval_task_key, run_eval_set
from ftspec.providers import get_provider
from ftspec.spec.loader import load_spec

ANSWERS = """\
providers:
  evalfake:
    answers:
      "What is W5500?": "W5500 is a hardwired TCP/IP Ethernet controller with SPI."
      "W5500 소켓 수는?": "W5500은 소켓 8개를 지원합니다."
"""

EVALS = """\
- name: smoke
  cases: ../evals/smoke.jsonl
  sampling: {temperature: 0.2, max_tokens: 64, seed: 1}
  scorers:
    - similarity: {threshold: 0.5}
    - contains: {field: must_include}
"""


def _cases(root, rows):
    path = root / "evals" / "smoke.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


CASE_A = {"id": "a", "messages": [{"role": "user", "content": "What is W5500?"}],
          "ideal": "W5500 is a hardwired TCP/IP Ethernet controller.", "must_include": ["SPI"], "tags": ["en"]}
CASE_B = {"id": "b", "messages": [{"role": "user", "content": "W5500 소켓 수는?"}],
          "ideal": "W5500은 하드웨어 소켓 8개를 지원합니다.", "must_include": ["8"], "tags": ["ko"]}
CASE_C = {"id": "c", "prompt": "Unknown question", "ideal": "Something else entirely",
          "must_include": ["DHCP"], "tags": ["en"]}


def _run(root, spec_path, **kw):
    spec = load_spec(spec_path)
    provider = get_provider("evalfake", spec.provider_settings, project_root=root)
    run = EvalRun(spec, spec.evals[0], kw.pop("model", "ft:model-1"), provider, project_root=root, **kw)
    return run, run.run(), provider


def test_run_writes_reports_and_summary(project):
    _cases(project, [CASE_A, CASE_B, CASE_C])
    spec_path = write_spec(project, EVALS, providers_yaml=ANSWERS)
    run, summary, provider = _run(project, spec_path)
    assert summary["cases"] == 3
    assert (summary["passed"], summary["failed"], summary["errored"]) == (2, 1, 0)
    assert summary["pass_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["report"] == "reports/bot/smoke.json"
    assert set(summary["scores"]) == {"similarity", "contains"}
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in report["cases"]}
    assert by_id["c"]["results"][0]["status"] == "failed"
    assert by_id["c"]["results"][0]["scores"]["contains"]["detail"] == {"missing": ["DHCP"]}
    assert by_id["a"]["results"][0]["outputs"] == ["W5500 is a hardwired TCP/IP Ethernet controller with SPI."]
    assert by_id["a"]["results"][0]["tokens"]["completion"] > 0
    # the chat template's system prompt is applied to the request
    assert provider.requests[0].messages[0] == {"role": "system", "content": "You answer briefly."}
    assert provider.requests[0].temperature == 0.2 and provider.requests[0].seed == 1
    assert (project / "reports/bot/smoke.html").is_file()


def test_rerun_is_byte_identical_and_generates_nothing(project, fake_provider):
    _cases(project, [CASE_A, CASE_B])
    spec_path = write_spec(project, EVALS, providers_yaml=ANSWERS)
    _, first, _ = _run(project, spec_path)
    before = (project / "reports/bot/smoke.json").read_bytes()
    run, second, provider = _run(project, spec_path)
    assert provider.requests == [] and run.new_generations == 0
    assert first == second
    assert (project / "reports/bot/smoke.json").read_bytes() == before


def test_adding_one_case_generates_exactly_one(project, fake_provider):
    _cases(project, [CASE_A, CASE_B])
    spec_path = write_spec(project, EVALS, providers_yaml=ANSWERS)
    _, _, provider = _run(project, spec_path)
    assert len(provider.requests) == 2
    key_before = eval_task_key(load_spec(spec_path), load_spec(spec_path).evals[0], "ft:model-1")
    _cases(project, [CASE_A, CASE_B, CASE_C])
    key_after = eval_task_key(load_spec(spec_path), load_spec(spec_path).evals[0], "ft:model-1")
    run, summary, provider = _run(project, spec_path)
    assert len(provider.requests) == 1
    assert provider.requests[0].messages[-1]["content"] == "Unknown question"
    assert run.new_generations == 1 and summary["cases"] == 3
    assert key_before != key_after


def test_task_key_tracks_model_sampling_and_scorers(project):
    _cases(project, [CASE_A])
    spec = load_spec(write_spec(project, EVALS))
    key = eval_task_key(spec, spec.evals[0], "m1")
    assert key == eval_task_key(spec, spec.evals[0], "m1")
    assert key != eval_task_key(spec, spec.evals[0], "m2")
    spec2 = load_spec(write_spec(project, EVALS.replace("temperature: 0.2", "temperature: 0.3")))
    assert key != eval_task_key(spec2, spec2.evals[0], "m1")
    spec3 = load_spec(write_spec(project, EVALS.replace("threshold: 0.5", "threshold: 0.6")))
    assert key != eval_task_key(spec3, spec3.evals[0], "m1")


def test_matrix_variants_and_warning(project, caplog):
    _cases(project, [CASE_A])
    evals = EVALS.replace("  scorers:", "  matrix: {temperature: [0.2, 0.7], top_p: [0.5, 1.0]}\n  scorers:")
    spec_path = write_spec(project, evals, providers_yaml=ANSWERS)
    with caplog.at_level("WARNING", logger="ftspec.evals"):
        run, summary, provider = _run(project, spec_path)
    assert any("varies temperature and top_p together" in r.message for r in caplog.records)
    assert run.warnings == ["eval 'smoke': the matrix varies temperature and top_p together; "
                            "vary one at a time to know which one made the difference"]
    assert sorted(summary["variants"]) == ["temperature=0.2,top_p=0.5", "temperature=0.2,top_p=1.0",
                                           "temperature=0.7,top_p=0.5", "temperature=0.7,top_p=1.0"]
    assert sorted((r.temperature, r.top_p) for r in provider.requests) == [(0.2, 0.5), (0.2, 1.0), (0.7, 0.5), (0.7, 1.0)]


def test_matrix_on_one_parameter_has_no_warning(project):
    _cases(project, [CASE_A])
    evals = EVALS.replace("  scorers:", "  matrix: {temperature: [0.2, 1.0]}\n  scorers:")
    run, summary, _ = _run(project, write_spec(project, evals, providers_yaml=ANSWERS))
    assert run.warnings == []
    assert summary["runs"] == 2 and set(summary["variants"]) == {"temperature=0.2", "temperature=1.0"}


def test_baseline_runs_base_model_side_by_side(project):
    _cases(project, [CASE_A, CASE_B])
    evals = EVALS.replace("  scorers:", "  baseline: true\n  scorers:")
    run, summary, provider = _run(project, write_spec(project, evals, providers_yaml=ANSWERS))
    assert sorted({r.model for r in provider.requests}) == ["base-1", "ft:model-1"]
    assert summary["baseline"]["model"] == "base-1"
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    assert report["baseline_model"] == "base-1"
    assert all(c["baseline"][0]["model"] == "base-1" for c in report["cases"])


def test_min_pass_rate_gate(project):
    _cases(project, [CASE_A, CASE_C])
    evals = EVALS.replace("  scorers:", "  min_pass_rate: 0.9\n  scorers:")
    _, summary, _ = _run(project, write_spec(project, evals, providers_yaml=ANSWERS))
    assert summary["gate"] == {"min_pass_rate": 0.9, "passed": False}
    from ftspec.evals.runner import gate_failures

    assert gate_failures("bot", {"smoke": summary}) == [
        "bot: eval 'smoke': pass rate 50.0% is below min_pass_rate 90.0%"]


def test_completion_template_applies_separator_and_stop(project):
    _cases(project, [{"id": "p", "prompt": "What is W5500?", "ideal": "W5500 is a controller", "must_include": ["SPI"]}])
    head = (write_spec.__globals__["SPEC_HEAD"]
            .replace('  type: chat\n  system: "You answer briefly."\n', "  type: completion\n"))
    spec_path = write_spec(project, EVALS, head=head, providers_yaml=ANSWERS)
    _, summary, provider = _run(project, spec_path)
    request = provider.requests[0]
    assert request.prompt == "What is W5500?\n\n###\n\n" and request.messages is None
    assert request.stop == [" END"]
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    assert report["cases"][0]["results"][0]["outputs"] == ["W5500 is a hardwired TCP/IP Ethernet controller with SPI."]
    assert summary["passed"] == 1


def test_provider_failure_marks_case_errored(project):
    _cases(project, [CASE_A, CASE_C])
    answers = ANSWERS + '    fail_on: ["Unknown question"]\n'
    _, summary, _ = _run(project, write_spec(project, EVALS, providers_yaml=answers))
    assert summary["errored"] == 1 and summary["passed"] == 1
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    assert report["cases"][1]["results"][0]["error"] == "generation failed: model refused: Unknown question"


def test_training_curve_from_events(project):
    from ftspec.providers.base import JobEvent

    _cases(project, [CASE_A])
    events = [JobEvent("e2", 2, "info", "step 2", "metrics", {"step": 2, "train_loss": 1.5, "valid_loss": 1.7}),
              JobEvent("e1", 1, "info", "step 1", "metrics", {"step": 1, "train_loss": 2.0}),
              JobEvent("e0", 0, "info", "started")]
    run_eval_set(load_spec(write_spec(project, EVALS, providers_yaml=ANSWERS)), {"name": "smoke"}, "m",
                 get_provider("evalfake", {}), project_root=project, events=events)
    report = json.loads((project / "reports/bot/smoke.json").read_text(encoding="utf-8"))
    assert report["training"] == [{"step": 1, "train_loss": 2.0}, {"step": 2, "train_loss": 1.5, "valid_loss": 1.7}]


def test_similarity_without_threshold_is_a_spec_error(project):
    _cases(project, [CASE_A])
    spec_path = write_spec(project, EVALS.replace("similarity: {threshold: 0.5}", "similarity: {}"))
    with pytest.raises(SpecError) as err:
        load_spec(spec_path)
    assert str(err.value) == "specs/bot.yaml:15:21: evals[0].scorers[0].similarity: missing required key 'threshold'"
