"""The real CLI in a subprocess and git, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KEY_ENV = "FTSPEC_E2E_OPENAI_KEY"
API_KEY = "sk-e2e-SECRET-0c1d2e3f4a5b6c7d"


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout


def git_repo(project: Path) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    git(project, "init", "-q")
    git(project, "config", "user.email", "t@example.com")
    git(project, "config", "user.name", "t")
    (project / ".gitignore").write_text(".ftspec/\n")
    return project


def ftspec(project: Path, *args: str, env_extra: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: API_KEY, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---- the support-bot project the build/diff and CI tests share ----------------------------

QUESTIONS = [f"How do I reset router {i}?" for i in range(12)]


def write_data(project: Path, answers: dict[int, str] | None = None) -> None:
    answers = answers or {}
    lines = [json.dumps({"messages": [{"role": "user", "content": q},
                                      {"role": "assistant", "content": answers.get(i, f"Hold the button {i} s.")}]})
             for i, q in enumerate(QUESTIONS)]
    (project / "data").mkdir(exist_ok=True)
    (project / "data" / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_cases(project: Path, count: int) -> None:
    cases = [{"id": f"reset-{i}", "messages": [{"role": "user", "content": QUESTIONS[i]}],
              "ideal": f"Hold the button {i} s.", "must_include": [f"button {i}"]} for i in range(count)]
    (project / "evals").mkdir(exist_ok=True)
    (project / "evals" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")


def write_spec(project: Path, url: str, *, system: str, n_epochs: int) -> Path:
    spec = project / "specs" / "support.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: support
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {{base_url: "{url}", api_key_env: {KEY_ENV}, poll_interval: 0.02, max_retries: 2, timeout: 5}}
sources:
  - {{name: faq, path: ../data/train.jsonl, format: chat_jsonl}}
template: {{type: chat, system: "{system}"}}
hyperparameters: {{n_epochs: {n_epochs}}}
evals:
  - name: smoke
    cases: ../evals/smoke.jsonl
    sampling: {{temperature: 0, max_tokens: 32}}
    scorers:
      - exact: {{}}
      - contains: {{field: must_include}}
""", encoding="utf-8")
    return spec


def build_ok(project: Path) -> None:
    result = ftspec(project, "build", "specs/support.yaml")
    assert result.returncode == 0, result.stderr
