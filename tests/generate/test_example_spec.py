"""The repository's example ``specs/extract.yaml`` end to end, offline: its raw Korean and
English transcripts are extracted by the loopback OpenAI server (scripted to answer like a
careful model would), reviewed, trained and evaluated — the whole transcript -> Q/A -> review ->
training -> evals path. The loopback server trains too (the spec's own local training is what
``tests/local`` covers; here it would only add minutes)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from generate_helpers import KEY_ENV

REPO = Path(__file__).resolve().parents[2]
QUESTION = re.compile(r"^(고객|Customer): (.*)$")
ANSWER = re.compile(r"^(엔지니어|Engineer): (.*)$")
TECHNICAL = re.compile(r"[A-Z]{2,}|\d")  # a part name, register or number: not small talk


def careful_extractor(last: str) -> str:
    """What a careful model answers: each customer question the engineer answered, in the
    engineer's words; nothing for small talk."""
    chunk = last.split("):\n", 1)[1]
    out, question, answer = [], None, []
    for line in chunk.splitlines() + ["Customer: (end)"]:
        if (m := QUESTION.match(line)):
            if question and answer and TECHNICAL.search(question):
                out.append({"messages": [{"role": "user", "content": question},
                                         {"role": "assistant", "content": " ".join(answer)}]})
            question, answer = m.group(2), []
        elif (m := ANSWER.match(line)):
            answer.append(m.group(2))
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in out)


def _copy_example(project: Path, url: str) -> Path:
    (project / ".git").mkdir()
    for folder in ("data/extract", "prompts/extract", "evals/extract", "specs"):
        (project / folder).mkdir(parents=True, exist_ok=True)
    for folder in ("data/extract", "prompts/extract", "evals/extract"):
        for path in (REPO / folder).iterdir():
            shutil.copy(path, project / folder / path.name)
    text = (REPO / "specs" / "extract.yaml").read_text(encoding="utf-8")
    text = text.replace("provider: local\nbase_model: gemma-3-270m", "provider: openai\nbase_model: gpt-4o-mini-2024-07-18")
    text = text.replace("  openai: {max_retries: 5}", f"  openai: {{base_url: \"{url}\", api_key_env: {KEY_ENV}, "
                                                      "max_retries: 2, timeout: 10, poll_interval: 0.02}")
    text = text.replace("  local: {lora_r: 8, max_seq_len: 256, seed: 7}\n", "")
    assert url in text and "gpt-4o-mini" in text
    spec = project / "specs" / "extract.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def test_example_extract_spec_end_to_end(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server.chat_rules = [("Conversation (", careful_extractor)]
    spec = _copy_example(tmp_path, server.url)

    code, out, err = cli(["plan", str(spec), "--json"])
    assert code == 0, err
    assert json.loads(out)["model_calls"][0]["to_make"] == 12

    code, _out, err = cli(["build", str(spec)])
    assert code == 1 and "not reviewed yet (examples a model made need review" in err
    assert server.count("POST", "/chat/completions") == 12
    code, _out, err = cli(["review", str(spec)])
    assert code == 0, err
    page = (tmp_path / "reviews" / "extract.html").read_text(encoding="utf-8")
    assert "W5500은 하드웨어 소켓이 8개로 고정이라 늘릴 수 없습니다." in page and 'class="pair"' in page
    decisions = tmp_path / "reviews" / "extract.yaml"
    decisions.write_text(decisions.read_text(encoding="utf-8").replace("decision: pending", "decision: keep"),
                         encoding="utf-8")

    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    extractions = [last for _model, last in server.chat_answered if "Conversation (" in last]
    assert len(extractions) == 12  # the reviewed answers came from the cache
    manifest = json.loads((tmp_path / ".ftspec" / "datasets" / "extract" / "manifest.json").read_text("utf-8"))
    books = manifest["generated"]["transforms[0].extract"]
    assert books["errors"] == {"empty_answer": 2}  # the two small-talk conversations
    assert {r["file"] for r in books["error_rows"]} == {"data/extract/calls_en.txt", "data/extract/calls_ko.txt"}
    assert manifest["counts"]["train"] == books["examples"] >= 10
    assert manifest["generated"]["transforms[3].moderate"]["screened"] == books["examples"]
    assert manifest["accounting"]["balanced"] is True
    assert (tmp_path / "specs" / "extract.lock").is_file()
    report = json.loads((tmp_path / "reports" / "extract" / "smoke.json").read_text(encoding="utf-8"))
    assert report["summary"]["cases"] == 3
