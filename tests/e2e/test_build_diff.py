"""End to end through the real CLI: build a spec twice in a git repository, then diff.

The OpenAI provider runs against the schema-checked fake server on 127.0.0.1, whose
fine-tuned models answer with what their training file taught them, so the eval results
really follow the data each revision built.
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import build_ok, ftspec, git, write_cases, write_data, write_spec
from fake_openai import FakeOpenAI


def test_build_change_build_then_diff(tmp_path: Path, server: FakeOpenAI) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    git(project, "init", "-q")
    git(project, "config", "user.email", "t@example.com")
    git(project, "config", "user.name", "t")
    (project / ".gitignore").write_text(".ftspec/\n")
    write_data(project)
    write_cases(project, 5)
    write_spec(project, server.url, system="You are the router support bot.", n_epochs=2)
    build_ok(project)
    lock_a = json.loads((project / "specs" / "support.lock").read_text())
    assert lock_a["evals"]["smoke"]["pass_rate"] == 1.0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first model")

    # revision B: a new system prompt, more epochs, and a wrong answer taught for question 1
    write_spec(project, server.url, system="You are a terse router support bot.", n_epochs=3)
    write_data(project, answers={1: "Unplug it and wait."})
    build_ok(project)
    lock_b = json.loads((project / "specs" / "support.lock").read_text())
    assert lock_b["model"] != lock_a["model"]

    result = ftspec(project, "diff", "specs/support.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    text = json.dumps(diff)
    assert "template.system" in text and "hyperparameters.n_epochs" in text
    assert lock_a["model"] in text and lock_b["model"] in text
    smoke = diff["evals"]["smoke"]
    assert [case["id"] for case in smoke["regressed"]] == ["reset-1"]
    row = smoke["regressed"][0]
    assert row["old"]["outputs"] == ["Hold the button 1 s."]
    assert row["new"]["outputs"] == ["Unplug it and wait."]
    assert smoke["metrics"]["pass_rate"]["old"] == 1.0
    assert smoke["metrics"]["pass_rate"]["new"] == 0.8

    gate = ftspec(project, "diff", "specs/support.yaml", "--fail-on-regression")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    git(project, "add", "-A")
    git(project, "commit", "-qm", "second model")
    # going back from B to A only improves: the CI gate passes
    back = ftspec(project, "diff", "specs/support.yaml", "HEAD", "HEAD~1", "--fail-on-regression")
    assert back.returncode == 0, back.stdout + back.stderr


def test_adding_one_case_generates_exactly_one(tmp_path: Path, server: FakeOpenAI) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    (project / ".git").mkdir()
    write_data(project)
    write_cases(project, 4)
    write_spec(project, server.url, system="You are the router support bot.", n_epochs=2)
    build_ok(project)
    before = server.count("POST", "/chat/completions")
    assert before == 4
    write_cases(project, 5)
    build_ok(project)
    assert server.count("POST", "/chat/completions") == before + 1
    assert server.count("POST", "/fine_tuning/jobs") == 1  # the model was not retrained
