"""``ftspec eval --junit PATH``: one JUnit testcase per eval case, failures with the scorers'
reasons, errors for runs that errored; the XML is parsed back with xml.etree."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from evals_helpers import write_spec

from ftspec.cli import main

CASES = [
    {"id": "ok", "prompt": "What is W5500?", "must_include": ["SPI"]},
    {"id": "missing", "prompt": "Sockets?", "must_include": ["8 sockets"]},
    {"id": "refused", "prompt": "Refuse me", "must_include": ["x"]},
]
EVALS = """\
- name: smoke
  cases: ../evals/smoke.jsonl
  scorers:
    - contains: {}
    - length: {max: 200}
- name: tone
  cases:
    - {id: polite, prompt: "What is W5500?", ideal: "W5500 is an Ethernet controller with SPI."}
  scorers:
    - exact: {}
"""
PROVIDERS = """\
providers:
  evalfake:
    fail_on: ["Refuse me"]
    answers:
      "What is W5500?": "W5500 is an Ethernet controller with SPI."
      "Sockets?": "It has a few."
"""


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_junit_has_one_testcase_per_case(project, capsys):
    (project / "evals" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    write_spec(project, EVALS, providers_yaml=PROVIDERS)
    code, _, err = run(capsys, "eval", "specs/bot.yaml", "--model", "ft:bot:1", "--junit", "out/junit.xml")
    assert code == 0, err
    root = ET.parse(project / "out" / "junit.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert sorted(suites) == ["bot.smoke", "bot.tone"]
    smoke = suites["bot.smoke"]
    assert (smoke.get("tests"), smoke.get("failures"), smoke.get("errors")) == ("3", "1", "1")
    assert smoke.find("properties/property[@name='model']").get("value") == "ft:bot:1"
    cases = {c.get("name"): c for c in smoke.iter("testcase")}
    assert list(cases) == ["ok", "missing", "refused"]
    assert all(c.get("classname") == "bot.smoke" for c in cases.values())
    assert list(cases["ok"]) == []
    failure, = cases["missing"]
    assert failure.tag == "failure"
    assert failure.get("message") == 'contains: missing ["8 sockets"]'
    assert "output: It has a few." in failure.text
    error, = cases["refused"]
    assert error.tag == "error" and "model refused: Refuse me" in error.get("message")
    polite, = suites["bot.tone"].iter("testcase")
    assert polite.get("name") == "polite" and list(polite) == []
    # the same counts as the eval reports themselves
    report = json.loads((project / "reports" / "bot" / "smoke.json").read_text(encoding="utf-8"))
    assert report["summary"]["failed"] == 1 and report["summary"]["errored"] == 1


def test_junit_only_for_the_selected_eval(project, capsys):
    (project / "evals" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    write_spec(project, EVALS, providers_yaml=PROVIDERS)
    code, _, err = run(capsys, "eval", "specs/bot.yaml", "--model", "m", "--eval", "tone", "--junit", "t.xml")
    assert code == 0, err
    root = ET.parse(project / "t.xml").getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["bot.tone"]
    assert root.get("tests") == "1" and root.get("failures") == "0"
