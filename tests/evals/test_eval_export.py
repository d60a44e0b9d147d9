"""``ftspec evals export``: what the promptfoo config says for a hosted provider (the template's
system prompt in the messages, the provider's endpoint and key variable), what is listed as not
exported, and the located errors. promptfoo itself runs the export in tests/serve/."""

from __future__ import annotations

import pytest
import yaml

from ftspec.cli import main

SPEC = """\
ftspec: 1
name: bot
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {base_url: "http://127.0.0.1:9/v1", api_key_env: BOT_KEY}
sources:
  - {path: ../data/train.jsonl, format: chat_jsonl}
template: {type: chat, system: "You are the W5500 bot."}
evals:
  - name: smoke
    min_pass_rate: 0.5
    sampling: {temperature: 0, max_tokens: 16, stop: ["\\n\\n"]}
    matrix: {temperature: [0, 0.7]}
    cases:
      - {id: a, prompt: "What is W5500?", ideal: "An Ethernet chip.", must_include: [SPI], tags: [en]}
    scorers:
      - exact: {}
      - contains: {ignore_case: false}
      - json_schema: {schema: {type: object, required: [ok]}}
      - length: {min: 2, max: 9, unit: words}
      - similarity: {threshold: 0.8}
      - python: {function: "checks.py:score"}
"""


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def spec(project):
    (project / "checks.py").write_text("def score(output, case):\n    return 1.0\n", encoding="utf-8")
    (project / "specs" / "bot.yaml").write_text(SPEC.replace("checks.py", "../checks.py"), encoding="utf-8")
    return project


def test_hosted_provider_export(spec, capsys):
    code, out, err = run(capsys, "evals", "export", "specs/bot.yaml", "--model", "ft:gpt-4o-mini:bot:1")
    assert code == 0, err
    assert out == "bot/smoke: promptfoo/bot/smoke.yaml\n"
    assert err.splitlines() == [
        "not exported: smoke: scorer 'similarity' not exported: promptfoo's `similar` embeds with its own "
        "provider, so its scores are not ftspec's",
        "not exported: smoke: scorer 'python' not exported: ftspec's python scorers take (output, case), "
        "promptfoo's python assertions get_assert(output, context)",
        "not exported: smoke: matrix not exported: only the eval set's own sampling is",
        "not exported: smoke: min_pass_rate not exported: promptfoo has no pass-rate gate per config",
    ]
    text = (spec / "promptfoo" / "bot" / "smoke.yaml").read_text(encoding="utf-8")
    assert text.startswith("# promptfoo config for the eval set 'smoke' of spec 'bot'")
    config = yaml.safe_load(text)
    assert config["prompts"] == ["{{ messages | dump }}"]
    assert config["providers"] == [{"id": "openai:chat:ft:gpt-4o-mini:bot:1", "label": "bot", "config": {
        "apiBaseUrl": "http://127.0.0.1:9/v1", "apiKeyEnvar": "BOT_KEY", "temperature": 0, "max_tokens": 16,
        "stop": ["\n\n"]}}]
    test, = config["tests"]
    assert test["description"] == "a" and test["metadata"] == {"ftspec_case": "a", "tags": ["en"]}
    # a hosted model gets the template applied, as ftspec eval sends it
    assert test["vars"]["messages"] == [{"role": "system", "content": "You are the W5500 bot."},
                                        {"role": "user", "content": "What is W5500?"}]
    assert test["assert"] == [
        {"type": "equals", "value": "An Ethernet chip.", "transform": "output.trim()", "metric": "exact"},
        {"type": "contains-all", "value": ["SPI"], "metric": "contains"},
        {"type": "is-json", "value": {"type": "object", "required": ["ok"]}, "transform": "output.trim()",
         "metric": "json_schema"},
        {"type": "word-count", "value": {"min": 2, "max": 9}, "metric": "length"},
    ]


def test_export_needs_a_model_and_a_known_format(spec, capsys):
    code, _, err = run(capsys, "evals", "export", "specs/bot.yaml")
    assert code == 1 and err.startswith("error: bot.yaml: no model to export for (the lockfile names none)")
    code, _, err = run(capsys, "evals", "export", "specs/bot.yaml", "--format", "promptfu", "--model", "m")
    assert code == 1 and err == ("error: unknown eval export format 'promptfu' (did you mean 'promptfoo'?); "
                                 "known: promptfoo\n")
    code, _, err = run(capsys, "evals", "export", "specs/bot.yaml", "--eval", "smok", "--model", "m")
    assert code == 1 and "no eval named 'smok'" in err
