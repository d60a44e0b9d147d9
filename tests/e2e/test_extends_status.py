"""An edit to a base spec stales the specs that extend it: the graph keys on the effective
content (built through the real CLI against the schema-checked fake OpenAI on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import KEY_ENV, ftspec, git_repo
from fake_openai import FakeOpenAI


def write_project(project: Path, url: str) -> None:
    (project / "data").mkdir()
    rows = [{"messages": [{"role": "user", "content": f"How do I reset router {i}?"},
                          {"role": "assistant", "content": f"Hold the button {i} s."}]} for i in range(12)]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (project / "specs" / "shared").mkdir(parents=True)
    (project / "specs" / "shared" / "base.yaml").write_text(f"""ftspec: 1
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {{base_url: "{url}", api_key_env: {KEY_ENV}, poll_interval: 0.02, max_retries: 2, timeout: 5}}
sources:
  - {{name: faq, path: ../../data/train.jsonl, format: chat_jsonl}}
template: {{type: chat, system: "You are the router support bot."}}
hyperparameters: {{n_epochs: 2}}
""")
    (project / "specs" / "support.yaml").write_text("extends: shared/base.yaml\nname: support\n")


def status(project: Path) -> dict:
    result = ftspec(project, "status", "specs/support.yaml", "--json")
    assert result.returncode == 0, result.stderr
    row, = json.loads(result.stdout)
    return row


def test_base_edit_stales_the_child(tmp_path: Path, server: FakeOpenAI) -> None:
    project = git_repo(tmp_path / "repo")
    write_project(project, server.url)
    built = ftspec(project, "build", "specs/support.yaml")
    assert built.returncode == 0, built.stderr
    assert status(project)["summary"] == "up to date"

    # a hyperparameter changed in the base: the child's job is stale, its dataset is not
    base = project / "specs" / "shared" / "base.yaml"
    base.write_text(base.read_text().replace("n_epochs: 2", "n_epochs: 3"))
    tasks = {t["task"]: t for t in status(project)["tasks"]}
    assert tasks["support.dataset"]["uptodate"] and tasks["support.upload"]["uptodate"]
    assert not tasks["support.job"]["uptodate"]
    assert any("n_epochs" in reason for reason in tasks["support.job"]["reasons"]), tasks["support.job"]

    # the system prompt changed in the base: the dataset is stale too; the child file never changed
    base.write_text(base.read_text().replace("router support bot", "terse router support bot"))
    tasks = {t["task"]: t for t in status(project)["tasks"]}
    assert not tasks["support.dataset"]["uptodate"], tasks["support.dataset"]
    assert (project / "specs" / "support.yaml").read_text() == "extends: shared/base.yaml\nname: support\n"

    rebuilt = ftspec(project, "build", "specs/support.yaml")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert server.count("POST", "/fine_tuning/jobs") == 2
    assert status(project)["summary"] == "up to date"
