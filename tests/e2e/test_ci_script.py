"""examples/ci/pr-check.sh, the script docs/ci.md's GitHub Actions recipe runs, in a temporary git
repository: a main branch with a built spec, and pull-request branches that regress an eval case
(exit 1, the markdown comment names it, JUnit shows the failed case) or only improve (exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from e2e_helpers import API_KEY, KEY_ENV, git, git_repo, write_cases, write_data, write_spec
from fake_openai import FakeOpenAI

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "ci" / "pr-check.sh"


def pr_check(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: API_KEY, "FTSPEC": f"{sys.executable} -m ftspec", "FTSPEC_CI_OUT": "ci-out"}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)


def junit_counts(project: Path) -> tuple[str | None, str | None]:
    root = ET.parse(project / "ci-out" / "junit.xml").getroot()
    return root.get("tests"), root.get("failures")


def test_pr_check_script(tmp_path: Path, server: FakeOpenAI) -> None:
    project = git_repo(tmp_path / "repo")
    (project / ".gitignore").write_text(".ftspec/\nci-out/\n")
    (project / "README.md").write_text("support bot\n")
    git(project, "checkout", "-qb", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "start")

    # the pull request that adds the spec: nothing to compare with yet
    git(project, "checkout", "-qb", "pr-add")
    write_data(project)
    write_cases(project, 5)
    write_spec(project, server.url, system="You are the router support bot.", n_epochs=2)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a spec")
    new = pr_check(project, "specs/support.yaml", "main")
    assert new.returncode == 0, new.stderr
    assert "A new spec: nothing to compare with on main." in (project / "ci-out" / "comment.md").read_text()
    assert junit_counts(project) == ("5", "0")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first model and its lockfile")
    git(project, "checkout", "-q", "main")
    git(project, "merge", "-q", "--ff-only", "pr-add")

    # a pull request that teaches a wrong answer for question 1: the check fails
    git(project, "checkout", "-qb", "pr-regress")
    write_data(project, answers={1: "Unplug it and wait."})
    git(project, "commit", "-qam", "new answers")
    regress = pr_check(project, "specs/support.yaml", "main")
    assert regress.returncode == 1, regress.stdout + regress.stderr
    assert "pr-check: eval cases regressed against main" in regress.stderr
    comment = (project / "ci-out" / "comment.md").read_text(encoding="utf-8")
    assert comment.startswith("#") and "**1 regressed, 0 improved**" in comment
    assert "reset-1" in comment and "Unplug it and wait." in comment
    assert junit_counts(project) == ("5", "1")

    # a pull request that only rewords the system prompt: nothing regresses, the check passes
    git(project, "checkout", "-qf", "main")
    git(project, "checkout", "-qb", "pr-reword")
    write_spec(project, server.url, system="You are the friendly router support bot.", n_epochs=2)
    git(project, "commit", "-qam", "reword")
    ok = pr_check(project, "specs/support.yaml", "main")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    comment = (project / "ci-out" / "comment.md").read_text(encoding="utf-8")
    assert "**0 regressed, 0 improved**" in comment and "template.system" in comment
    assert junit_counts(project) == ("5", "0")
