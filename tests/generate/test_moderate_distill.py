"""``moderate`` (OpenAI's /v1/moderations, schema-checked) and ``distill`` (a teacher's answers)
against the loopback server: flags counted, thresholds that rescreen from the cache, review of
flagged and taught examples, and teacher answers replacing or adding to the assistant turns."""

from __future__ import annotations

import json
from pathlib import Path

from generate_helpers import KEY_ENV, MODEL, needle, script_answers, write_project

NOT_REQUIRED = "review: {path: ../reviews/extract.yaml, required: false}\n"


def _manifest(project: Path, name: str = "extract") -> dict:
    return json.loads((project / ".ftspec" / "datasets" / name / "manifest.json").read_text(encoding="utf-8"))


def _train(project: Path, name: str = "extract") -> list[dict]:
    path = project / ".ftspec" / "datasets" / name / "train.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_moderation_flags_counted_and_thresholds_rescreen_from_cache(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script_answers(server, 14)
    server.moderation_rules = {"socket 3?": {"violence": 0.9}, "socket 5?": {"harassment": 0.6, "violence": 0.7}}
    moderate = "  - moderate: {thresholds: {violence: 0.65}, action: drop}\n"
    spec = write_project(tmp_path, server.url, n=14, review=NOT_REQUIRED, transforms_after=moderate)

    code, out, err = cli(["plan", str(spec), "--json"])
    assert code == 0, err
    plan = json.loads(out)
    assert plan["moderation"] == "openai:omni-moderation-latest, action drop"
    extract, moderation = plan["model_calls"]
    assert (extract["step"], extract["to_make"]) == ("transforms[0].extract", 14)
    # moderation screens what extraction makes (none yet), and is free on OpenAI
    assert (moderation["step"], moderation["to_make"], moderation["estimated_cost_usd"]) == \
        ("transforms[1].moderate", 0, 0.0)

    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    manifest = _manifest(tmp_path)
    assert manifest["counters"]["moderation"] == {"violence": 2}
    assert manifest["removed"]["moderate"] == {"flagged by moderation: violence": 2}
    books = manifest["generated"]["transforms[1].moderate"]
    assert (books["screened"], books["flagged"], books["calls"]) == (14, 2, 14)
    assert len(server.moderated) == 28  # every text of every example (user and assistant)
    assert manifest["accounting"]["balanced"] is True
    assert len(_train(tmp_path)) == 12

    # a threshold change rescreens from the cache: no chat and no moderation request
    chats, screened = server.count("POST", "/chat/completions"), len(server.moderated)
    spec.write_text(spec.read_text(encoding="utf-8").replace("violence: 0.65", "violence: 0.8, harassment: 0.5"),
                    encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    assert (server.count("POST", "/chat/completions"), len(server.moderated)) == (chats, screened)
    assert _manifest(tmp_path)["counters"]["moderation"] == {"harassment": 1, "violence": 1}

    # action: review sends the flagged ones to a human instead
    spec.write_text(spec.read_text(encoding="utf-8").replace("action: drop", "action: review"), encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 1
    assert "2 example(s) not reviewed yet" in err
    code, _out, err = cli(["review", str(spec)])
    assert code == 0, err
    md = (tmp_path / "reviews" / "extract.md").read_text(encoding="utf-8")
    assert md.count("_flagged by moderation: ") == 2  # the reviewer sees why
    report_code, _o, report_err = cli(["dataset", str(spec), "--report"])
    assert report_code == 1 and "not reviewed yet" in report_err


def test_no_moderation_is_said_plainly(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script_answers(server, 12)
    spec = write_project(tmp_path, server.url, review=NOT_REQUIRED)
    code, out, err = cli(["plan", str(spec), "--json"])
    assert code == 0, err
    assert json.loads(out)["moderation"] == "not configured: examples are not screened (add a `moderate` transform)"
    assert cli(["build", str(spec)])[0] == 0
    code, _out, err = cli(["dataset", str(spec), "--report"])
    assert code == 0, err
    page = (tmp_path / ".ftspec" / "datasets" / "extract" / "data_report.html").read_text(encoding="utf-8")
    assert '<p id="moderation"><b>not configured</b>: no example was screened' in page
    assert "Examples made by a model" in page


def _distill_project(tmp_path: Path, url: str, mode: str) -> Path:
    (tmp_path / ".git").mkdir(parents=True, exist_ok=True)
    data = tmp_path / "data" / "faq.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": needle(i)}, {"role": "assistant", "content": f"old {i}"}]}
            for i in range(10)]
    rows.append({"messages": [{"role": "user", "content": needle(10)}]})  # no answer yet: the teacher's is added
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = tmp_path / "specs" / "distill.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: distill
provider: openai
base_model: gpt-4o-mini-2024-07-18
providers:
  openai: {{base_url: "{url}", api_key_env: {KEY_ENV}, poll_interval: 0.02, max_retries: 2, timeout: 10}}
sources:
  - {{name: faq, path: ../data/faq.jsonl, format: chat_jsonl}}
transforms:
  - distill: {{model: {MODEL}, mode: {mode}, sampling: {{max_tokens: 64}}}}
template: {{type: chat}}
""", encoding="utf-8")
    return spec


def test_distill_replaces_assistant_turns_and_needs_review(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server.chat_rules = [(needle(i), f"teacher says {i}") for i in range(11)]
    spec = _distill_project(tmp_path, server.url, "replace")
    code, _out, err = cli(["build", str(spec)])
    assert code == 1 and "11 example(s) not reviewed yet (examples a model made need review" in err
    assert server.count("POST", "/chat/completions") == 11
    code, _out, err = cli(["review", str(spec)])
    assert code == 0, err
    decisions = tmp_path / "reviews" / "distill.yaml"
    decisions.write_text(decisions.read_text(encoding="utf-8").replace("decision: pending", "decision: keep"),
                         encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    assert server.count("POST", "/chat/completions") == 11  # cached
    answers = sorted(r["messages"][-1]["content"] for r in _train(tmp_path, "distill"))
    assert answers == sorted(f"teacher says {i}" for i in range(11))
    books = _manifest(tmp_path, "distill")["generated"]["transforms[0].distill"]
    assert (books["consumed"], books["examples"], books["cached"]) == (11, 11, 11)
    # the teacher saw the conversation up to the user turn, not the old answer
    asked = [last for _m, last in server.chat_answered]
    assert all(a.startswith("question number") for a in asked)


def test_distill_add_keeps_the_originals(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server.chat_rules = [(needle(i), f"teacher says {i}") for i in range(11)]
    spec = _distill_project(tmp_path, server.url, "add")
    spec.write_text(spec.read_text(encoding="utf-8") + "review: {path: ../reviews/distill.yaml, required: false}\n",
                    encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 1  # the original that ends on a user turn has no assistant message
    assert "data/faq.jsonl:11: example_missing_assistant_message" in err
    rows = (tmp_path / "data" / "faq.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "data" / "faq.jsonl").write_text("\n".join(rows[:10]) + "\n", encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    contents = sorted(r["messages"][-1]["content"] for r in _train(tmp_path, "distill"))
    assert contents == sorted([f"old {i}" for i in range(10)] + [f"teacher says {i}" for i in range(10)])
    assert _manifest(tmp_path, "distill")["accounting"]["balanced"] is True
