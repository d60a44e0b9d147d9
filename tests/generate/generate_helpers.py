"""A project with raw transcripts, a prompt, few-shot examples and a spec that extracts Q/A
from them against the loopback server; shared by the tests and ``benchmarks/bench_extract.py``."""

from __future__ import annotations

import json
from pathlib import Path

API_KEY = "sk-test-SECRET-5d1e0b7a2c9f4e11"
KEY_ENV = "FTSPEC_TEST_OPENAI_KEY"
MODEL = "gpt-4.1-mini-2025-04-14"

PROMPT = """Turn the support conversation below into Q/A chat examples, one JSON object per line:
{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}

Conversation ({{ file }}, lines {{ first_line }}-{{ last_line }}):
{{ chunk }}
"""

FEW_SHOT = [{"input": "Customer: Does the W5500 do DHCP?\nEngineer: Yes, with the ioLibrary DHCP client.",
             "output": [{"messages": [{"role": "user", "content": "Does the W5500 do DHCP?"},
                                      {"role": "assistant", "content": "Yes, with the ioLibrary DHCP client."}]}]}]


def chunk_text(i: int) -> str:
    return f"Customer: question number {i} about socket {i}?\nEngineer: answer number {i}, use socket {i}."


def needle(i: int) -> str:
    """Text only chunk ``i`` holds (what the loopback server's rules look for)."""
    return f"question number {i} about socket {i}?"


def answer_for(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"question number {i} about socket {i}?"},
                                    {"role": "assistant", "content": f"answer number {i}, use socket {i}."}]})


def write_transcripts(project: Path, n: int, name: str = "calls.txt") -> Path:
    path = project / "data" / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(chunk_text(i) for i in range(n)) + "\n", encoding="utf-8")
    return path


def script_answers(server, n: int) -> None:
    """The loopback server answers chunk ``i`` with its Q/A pair (found by its text)."""
    server.chat_rules.extend((needle(i), answer_for(i)) for i in range(n))


def write_project(project: Path, url: str, *, n: int = 12, extract: str = "", review: str = "",
                  transforms_after: str = "", name: str = "extract", sources_extra: str = "") -> Path:
    (project / ".git").mkdir(parents=True, exist_ok=True)
    write_transcripts(project, n)
    prompts = project / "prompts"
    prompts.mkdir(exist_ok=True)
    (prompts / "extract.txt").write_text(PROMPT, encoding="utf-8")
    (prompts / "few_shot.jsonl").write_text("\n".join(json.dumps(s) for s in FEW_SHOT) + "\n", encoding="utf-8")
    spec = project / "specs" / f"{name}.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: {name}
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai:
    base_url: {url}
    api_key_env: {KEY_ENV}
    poll_interval: 0.02
    max_retries: 2
    timeout: 10
sources:
  - {{name: calls, path: ../data/raw/calls.txt, format: transcript}}
{sources_extra}transforms:
  - extract:
      model: {MODEL}
      prompt: ../prompts/extract.txt
      few_shot: ../prompts/few_shot.jsonl
      sampling: {{max_tokens: 400}}
{extract}{transforms_after}template:
  type: chat
  system: "You are the support engineer."
{review}""", encoding="utf-8")
    return spec
