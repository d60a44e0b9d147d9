"""Spec and data writers for the graph tests and benchmarks (no pytest needed)."""

from __future__ import annotations

import json
from pathlib import Path

API_KEY = "sk-test-SECRET-8f3a1c9e77d24b0b"
KEY_ENV = "FTSPEC_TEST_OPENAI_KEY"
REPO = Path(__file__).resolve().parents[2]

# one eval set the graph tests share: one case passes, one fails
SMOKE_EVALS = """evals:
  - name: smoke
    cases:
      - {messages: [{role: user, content: "ping"}], must_include: ["ping"]}
      - {messages: [{role: user, content: "pong"}], must_include: ["zzz"]}
    sampling: {temperature: 0.2, max_tokens: 16}
    scorers:
      - contains: {field: must_include}
"""



def write_examples(path: Path, n: int = 12, answer: str = "Sure") -> None:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"question {i}?"},
                                      {"role": "assistant", "content": f"{answer} {i}."}]})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_spec(project: Path, url: str, *, name: str = "support", system: str = "You are helpful.",
               n_epochs: int | str = 2, validation: float = 0.2, extra: str = "") -> Path:
    (project / ".git").mkdir(parents=True, exist_ok=True)  # the project root marker
    data = project / "data" / "train.jsonl"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_examples(data)
    spec = project / "specs" / f"{name}.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: {name}
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai:
    base_url: {url}
    api_key_env: {KEY_ENV}
    poll_interval: 0.02
    max_retries: 4
    timeout: 5
sources:
  - {{name: faq, path: ../data/train.jsonl, format: chat_jsonl}}
template:
  type: chat
  system: "{system}"
split: {{validation: {validation}}}
hyperparameters: {{n_epochs: {n_epochs}}}
{extra}""", encoding="utf-8")
    return spec


def write_preferences(path: Path, n: int = 16, *, preferred: str = "Gladly", rejected: str = "No") -> None:
    """OpenAI DPO lines (the guide's ``*_output`` names): the preferred answers share a word."""
    lines = [json.dumps({"input": {"messages": [{"role": "user", "content": f"question {i}?"}]},
                         "preferred_output": [{"role": "assistant", "content": f"{preferred} {i}."}],
                         "non_preferred_output": [{"role": "assistant", "content": f"{rejected} {i}."}]})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_dpo_spec(project: Path, url: str, *, name: str = "prefs", beta: float | str = 0.2,
                   validation: float = 0.2, extra: str = "") -> Path:
    """A ``job.method: dpo`` spec on the loopback OpenAI server, over ``data/prefs.jsonl``."""
    (project / ".git").mkdir(parents=True, exist_ok=True)
    data = project / "data" / "prefs.jsonl"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_preferences(data)
    spec = project / "specs" / f"{name}.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: {name}
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {{base_url: "{url}", api_key_env: {KEY_ENV}, poll_interval: 0.02, max_retries: 4, timeout: 5}}
job: {{method: dpo}}
sources:
  - {{name: pairs, path: ../data/prefs.jsonl, format: preference_jsonl}}
template: {{type: chat, system: "You are helpful."}}
split: {{validation: {validation}}}
hyperparameters: {{n_epochs: 2, beta: {beta}}}
{extra}""", encoding="utf-8")
    return spec
