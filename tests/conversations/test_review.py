"""Review round trip: review, drop two, edit one, rebuild; a new example shows as unreviewed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conv_helpers import write_spec

BLOCKS = [f"Q) question {i}?\nA) answer {i}." for i in range(6)]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def ftspec(capsys, monkeypatch):
    """The real CLI entry point, in process (one import of the tokenizer for all calls)."""
    from ftspec.cli import main

    def run(*args: str, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return Result(int(code), out.out, out.err)

    return run


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".ftspec").mkdir()
    (tmp_path / "qa.txt").write_text("\n\n".join(BLOCKS) + "\n", encoding="utf-8")
    write_spec(tmp_path, [{"name": "qa", "path": "qa.txt", "format": "qa_text"}], review="reviews/conv.yaml")
    return tmp_path


def test_review_round_trip(project, ftspec):
    first = ftspec("review", "spec.yaml", cwd=project)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "reviews/conv.yaml: 6 examples (6 new); pending 6"
    page = (project / "reviews/conv.html").read_text(encoding="utf-8")
    assert "<script" not in page and "question 3?" in page
    decisions_file = project / "reviews/conv.yaml"
    data = yaml.safe_load(decisions_file.read_text(encoding="utf-8"))
    entries = data["examples"]
    assert [e["preview"] for e in entries][0] == "user: question 0? | assistant: answer 0."
    for entry in entries:
        assert entry["id"] in (project / "reviews/conv.md").read_text(encoding="utf-8")
        entry["decision"] = "keep"
    entries[1]["decision"] = entries[4]["decision"] = "drop"
    entries[2]["decision"] = "edit"
    entries[2]["messages"] = [{"role": "user", "content": "question 2, clarified?"},
                              {"role": "assistant", "content": "a better answer 2."}]
    decisions_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with open(project / "qa.txt", "a", encoding="utf-8") as fh:
        fh.write("\nQ) brand new?\nA) yes.\n")

    built = ftspec("dataset", "spec.yaml", "--out", "out", cwd=project)
    assert built.returncode == 0, built.stderr
    got = [[m["content"] for m in r["messages"]] for r in records(project / "out/train.jsonl")]
    assert sorted(got) == sorted([
        ["question 0?", "answer 0."], ["question 2, clarified?", "a better answer 2."],
        ["question 3?", "answer 3."], ["question 5?", "answer 5."], ["brand new?", "yes."],
    ])
    manifest = json.loads((project / "out/manifest.json").read_text(encoding="utf-8"))
    assert manifest["counters"]["review"] == {"dropped": 2, "edited": 1, "kept": 3, "unreviewed": 1}
    assert manifest["removed"]["review"] == {"dropped in review": 2}
    assert "warning: reviews/conv.yaml: 1 example(s) not reviewed yet: " in built.stderr
    assert "(qa.txt:19)" in built.stderr

    strict = ftspec("dataset", "spec.yaml", "--out", "out2", "--require-review", cwd=project)
    assert strict.returncode == 1
    assert strict.stderr.startswith("error: reviews/conv.yaml: 1 example(s) not reviewed yet: ")
    assert not (project / "out2/train.jsonl").exists()

    again = ftspec("review", "spec.yaml", cwd=project)
    assert again.stdout.splitlines()[0] == "reviews/conv.yaml: 7 examples (1 new); drop 2, edit 1, keep 3, pending 1"
    kept = yaml.safe_load(decisions_file.read_text(encoding="utf-8"))["examples"]
    assert [e["decision"] for e in kept] == ["keep", "drop", "edit", "keep", "drop", "keep", "pending"]
    assert kept[2]["messages"][1]["content"] == "a better answer 2."


def test_stale_decisions_are_reported(project, ftspec):
    assert ftspec("review", "spec.yaml", cwd=project).returncode == 0
    (project / "qa.txt").write_text("\n\n".join(BLOCKS[:5]) + "\n", encoding="utf-8")
    built = ftspec("dataset", "spec.yaml", "--out", "out", cwd=project)
    assert built.returncode == 0, built.stderr
    assert "warning: reviews/conv.yaml: 1 review decision(s) for examples that no longer exist (stale): " in built.stderr


@pytest.mark.parametrize(("content", "expected"), [
    ("examples:\n  - id: abc\n    decision: maybe\n",
     "error: reviews/conv.yaml:3:15: decision must be one of keep, drop, edit, pending, not 'maybe'"),
    ("examples:\n  - id: abc\n    decision: edit\n",
     "error: reviews/conv.yaml:2:5: 'decision: edit' needs 'messages' (or 'prompt' and 'completion')"),
    ("examples:\n  - id: abc\n    decision: keep\n  - id: abc\n    decision: drop\n",
     "error: reviews/conv.yaml:4:5: duplicate decision for id 'abc' (first on line 2)"),
    ("examples: [\n", "error: reviews/conv.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>'"),
    ("- just a list\n", "error: reviews/conv.yaml:1:1: a review file is a mapping with an 'examples:' list"),
    ("examples:\n  - id: abc\n    decision: edit\n    messages:\n      - {role: bot, content: hi}\n",
     "error: reviews/conv.yaml:5:9: each message needs a role (system, user, assistant, tool) and a text 'content'"),
])
def test_invalid_review_file_is_a_located_error(project, ftspec, content, expected):
    (project / "reviews").mkdir()
    (project / "reviews/conv.yaml").write_text(content, encoding="utf-8")
    result = ftspec("dataset", "spec.yaml", "--out", "out", cwd=project)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == expected


def test_an_edit_replaces_the_messages_and_keeps_the_tools(tmp_path, ftspec):
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    row = {"messages": [{"role": "user", "content": "where is order 7?"},
                        {"role": "assistant", "content": "shipped."}], "tools": tools}
    (tmp_path / ".ftspec").mkdir()
    (tmp_path / "chat.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    write_spec(tmp_path, [{"name": "chat", "path": "chat.jsonl", "format": "chat_jsonl"}], review="reviews/conv.yaml")
    assert ftspec("review", "spec.yaml", cwd=tmp_path).returncode == 0
    decisions_file = tmp_path / "reviews/conv.yaml"
    data = yaml.safe_load(decisions_file.read_text(encoding="utf-8"))
    data["examples"][0].update(decision="edit", messages=[{"role": "user", "content": "where is order 7?"},
                                                          {"role": "assistant", "content": "Shipped on Monday."}])
    decisions_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    built = ftspec("dataset", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [record] = records(tmp_path / "out/train.jsonl")
    assert record["messages"][-1]["content"] == "Shipped on Monday." and record["tools"] == tools
