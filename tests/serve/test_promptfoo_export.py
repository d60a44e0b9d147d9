"""``ftspec evals export --format promptfoo`` checked by running promptfoo itself (npm, pinned)
against ``ftspec serve`` on 127.0.0.1: for every case and scorer, promptfoo's verdict on the
exported assertion must be the verdict ``ftspec eval`` gave the same answer."""

from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from ftspec.evals.cases import load_cases
from ftspec.evals.exports.promptfoo import PROMPTFOO_VERSION
from ftspec.evals.runner import build_scorers
from ftspec.evals.scorers import ScoreContext
from ftspec.spec.loader import load_spec

from .conftest import ftspec
from .test_promptfoo import EVAL_TIMEOUT_S, INSTALL_TIMEOUT_S, _env, _skip

PROMPTFOO = f"promptfoo@{PROMPTFOO_VERSION}"
QUESTIONS = ["How do I reset my password?", "Where is my refund?", "What is your return window?"]
SCORERS = [
    {"contains": {"field": "must_include"}},
    {"not_contains": {"values": ["zebra crossing"]}},
    {"exact": {"ignore_case": True}},
    {"length": {"max": 40}},
    {"regex": {"pattern": "[A-Za-z]"}},
    {"json_valid": {}},
    {"judge": {"rubric": "Is it polite?"}},
]


def write_export_spec(project) -> None:
    spec = yaml.safe_load((project.root / "specs" / "demo.yaml").read_text(encoding="utf-8"))
    # the same name as the served spec: its system prompt renders `name`, and ftspec serve applies
    # demo.yaml's template; its own eval set name keeps reports/demo/smoke.json as it is
    spec["evals"] = [{
        "name": "pfsmoke", "sampling": {"temperature": 0, "max_tokens": 24},
        "cases": [{"id": f"q{i}", "messages": [{"role": "user", "content": q}], "ideal": "Settings",
                   "must_include": ["Settings" if i == 0 else "3-5"]} for i, q in enumerate(QUESTIONS)],
        "scorers": SCORERS,
    }]
    (project.root / "specs" / "pfexport.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def test_promptfoo_runs_the_export_with_ftspecs_verdicts(project, chat_server, tmp_path):
    npx = shutil.which("npx")
    if npx is None:
        _skip("npx (Node.js) is not installed")
    try:
        version = subprocess.run([npx, "--yes", PROMPTFOO, "--version"], capture_output=True, text=True,
                                 timeout=INSTALL_TIMEOUT_S, env=_env(tmp_path), cwd=tmp_path)
    except subprocess.TimeoutExpired:
        _skip(f"npx could not fetch {PROMPTFOO} within {INSTALL_TIMEOUT_S}s")
    if version.returncode != 0:
        _skip(f"npx could not run {PROMPTFOO}: {(version.stderr.strip().splitlines() or ['?'])[-1]}")

    write_export_spec(project)
    model = project.lock("demo")["model"]
    out_dir = tmp_path / "export"
    done = ftspec(project.root, project.env, "evals", "export", "specs/pfexport.yaml", "--format", "promptfoo",
                  "--model", model, "--base-url", chat_server.url, "--out", str(out_dir), "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["not_exported"] == [
        "pfsmoke: scorer 'judge' not exported: promptfoo's `llm-rubric` grades with its own prompt and grader, "
        "so its verdicts are not ftspec's"]
    config_path = out_dir / "pfsmoke.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert config["providers"][0]["id"] == f"openai:chat:{model}"
    assert config["providers"][0]["config"]["apiBaseUrl"] == chat_server.url

    # ftspec's own answers and verdicts for the same model (judge left out: it is not exported)
    spec_path = project.root / "specs" / "pfexport.yaml"
    spec_doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec_doc["evals"][0]["scorers"] = SCORERS[:-1]
    spec_path.write_text(yaml.safe_dump(spec_doc, sort_keys=False), encoding="utf-8")
    evaluated = ftspec(project.root, project.env, "eval", "specs/pfexport.yaml", "--model", model)
    assert evaluated.returncode == 0, evaluated.stderr
    report = project.report("demo", "pfsmoke")
    expected = {(c["id"], label): s["passed"] for c in report["cases"] for label, s in c["results"][0]["scores"].items()}
    assert len(expected) == 3 * 6 and any(expected.values()) and not all(expected.values())

    out = tmp_path / "results.json"
    ran = subprocess.run(
        [npx, "--yes", PROMPTFOO, "eval", "-c", str(config_path), "-o", str(out), "--no-cache",
         "--no-progress-bar", "--no-table", "--max-concurrency", "3"],
        capture_output=True, text=True, timeout=EVAL_TIMEOUT_S, env=_env(tmp_path), cwd=tmp_path)
    assert out.is_file(), ran.stdout[-2000:] + ran.stderr[-2000:]
    rows = json.loads(out.read_text(encoding="utf-8"))["results"]["results"]
    assert len(rows) == 3
    got = {}
    spec = load_spec(spec_path)
    cases = {c.id: c for c in load_cases(spec, 0)}
    scorers = dict(build_scorers(spec, 0, ScoreContext(spec)))
    for row in rows:
        case_id = row["testCase"]["description"]
        answer = row["response"]["output"].strip()
        recorded = next(c for c in report["cases"] if c["id"] == case_id)["results"][0]["outputs"][0]
        assert answer and answer == recorded, (case_id, answer, recorded)  # what ftspec eval got
        for component in row["gradingResult"]["componentResults"]:
            label = component["assertion"]["metric"]
            got[(case_id, label)] = component["pass"]
            assert component["pass"] == scorers[label].score(answer, cases[case_id]).passed
    assert got == expected  # promptfoo's verdict on each exported assertion is ftspec eval's
    assert ran.returncode != 0  # some cases fail (json_valid): promptfoo says so in its exit code
