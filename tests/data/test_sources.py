"""Sources: every bad row is located (file:LINE: reason); encodings; on_error skip counting."""

from __future__ import annotations

import json

import pytest

from ftspec.data.pipeline import build_dataset
from ftspec.errors import DataError, SpecError
from ftspec.spec.loader import load_spec


def errors_of(spec_path) -> list[str]:
    """The located data errors (the dataset-size error of tiny fixtures is tested elsewhere)."""
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(spec_path), None)
    return [str(p) for p in info.value.problems if p.location.file.startswith("data/")]


def test_invalid_json_is_located(project):
    path = project.chat("bad_json.jsonl")
    assert errors_of(path) == ["data/bad_json.jsonl:3: invalid JSON: Expecting value (column 15)"]


def test_data_type(project):
    path = project.chat("bad_data_type.jsonl")
    assert errors_of(path) == ["data/bad_data_type.jsonl:2: data_type: expected a JSON object, got array"]


def test_missing_messages_list(project):
    path = project.chat("bad_missing_messages.jsonl")
    assert errors_of(path) == [
        "data/bad_missing_messages.jsonl:2: missing_messages_list: no 'messages' list",
        "data/bad_missing_messages.jsonl:3: missing_messages_list: 'messages' is empty",
    ]


def test_explicit_encoding_bad_row(project):
    path = project.chat("bad_utf8.jsonl", source_extra="    encoding: utf-8\n")
    assert errors_of(path) == [
        "data/bad_utf8.jsonl:2: cannot decode as utf-8-sig (invalid start byte); set `encoding:` on the source"
    ]


@pytest.mark.parametrize(("encoding", "message"), [
    ("klingon", "unknown encoding 'klingon'; use auto, utf-8, utf-16, cp949, euc-kr, shift_jis, latin-1, ..."),
    *((name, f"'{name}' is not a text encoding (it transforms bytes or text); use auto, utf-8, cp949, ...")
      for name in ("rot13", "base64", "zlib", "punycode", "hex")),
])
def test_unknown_or_non_text_encoding_points_at_the_encoding_key(project, encoding, message):
    path = project.chat("good_chat.jsonl", source_extra=f"    encoding: {encoding}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.lines() == [f"spec.yaml:8:15: sources[0].encoding: {message}"]


@pytest.mark.parametrize("fixture", ["korean_cp949.jsonl", "korean_bom.jsonl"])
def test_korean_encodings(project, fixture):
    result = build_dataset(load_spec(project.chat(fixture)), None)
    assert result.counts["train"] == 12
    assert result.manifest["tokens"]["train"]["total"] > 0


def test_cp949_detected_content(project, tmp_path):
    project.chat("korean_cp949.jsonl")
    build_dataset(load_spec(tmp_path / "spec.yaml"), tmp_path / "out")
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["messages"][0]["content"].startswith("질문")


def test_skip_counts_reasons_in_manifest(project):
    path = project.chat("bad_missing_messages.jsonl", source_extra="    on_error: skip\n")
    with pytest.raises(DataError) as info:  # one good example left: below OpenAI's minimum
        build_dataset(load_spec(path), None)
    assert [str(p) for p in info.value.problems] == [
        "spec.yaml:5:1: only 1 training examples (2 rows skipped: 2 missing_messages_list); fine-tuning needs at least 10"]
    project.data("good_chat.jsonl")
    path = project.spec("  - path: data/bad_missing_messages.jsonl\n    format: chat_jsonl\n    on_error: skip\n"
                        "  - path: data/good_chat.jsonl\n    format: chat_jsonl\n")
    manifest = build_dataset(load_spec(path), None).manifest
    stats = manifest["sources"]["bad_missing_messages"]
    assert stats["skipped"] == {"missing_messages_list": 2}
    assert stats["skipped_rows"] == [
        {"file": "data/bad_missing_messages.jsonl", "line": 2, "reason": "missing_messages_list: no 'messages' list"},
        {"file": "data/bad_missing_messages.jsonl", "line": 3, "reason": "missing_messages_list: 'messages' is empty"},
    ]


def test_tools_and_weights_are_kept(project, tmp_path):
    project.data("tools.jsonl", "good_chat.jsonl")
    path = project.spec("  - path: data/*.jsonl\n    format: chat_jsonl\n")
    build_dataset(load_spec(path), tmp_path / "out")
    lines = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    record = next(json.loads(line) for line in lines if "tools" in line)
    original = json.loads((tmp_path / "data" / "tools.jsonl").read_text())
    assert record == original


def test_completion_jsonl_bad_rows(project):
    project.data("bad_completion.jsonl")
    path = project.spec("  - path: data/bad_completion.jsonl\n    format: completion_jsonl\n",
                        base_model="babbage-002", template="  type: completion")
    assert errors_of(path)[:3] == [
        "data/bad_completion.jsonl:2: missing_key: no 'completion'",
        "data/bad_completion.jsonl:3: data_type: 'prompt' must be a string, got number",
        "data/bad_completion.jsonl:4: unrecognized_key: 'extra' (a completion example has only prompt and completion)",
    ]


def test_json_array(project):
    project.data("good_array.json")
    path = project.spec("  - path: data/good_array.json\n    format: json\n")
    result = build_dataset(load_spec(path), None)
    assert result.counts["train"] == 11


def test_json_array_bad_items_located(project):
    project.data("bad_array.json")
    path = project.spec("  - path: data/bad_array.json\n    format: json\n")
    assert errors_of(path)[:2] == [
        "data/bad_array.json:3: data_type: expected a JSON object, got string",
        "data/bad_array.json:4: missing_key: no 'completion'",
    ]


@pytest.mark.parametrize("fixture", ["chats.csv", "chats_cp949.csv"])
def test_csv_conversations(project, fixture):
    project.data(fixture)
    path = project.spec(f"  - path: data/{fixture}\n    format: csv\n"
                        "    columns: {conversation: conv, role: speaker, content: text}\n"
                        "    system: 상담원입니다\n")
    result = build_dataset(load_spec(path), None)
    assert result.counts["train"] == 12
    assert result.manifest["sources"][fixture.rsplit(".", 1)[0]]["rows_read"] == 24


def test_csv_pairs(project, tmp_path):
    project.data("pairs.csv")
    path = project.spec("  - path: data/pairs.csv\n    format: csv\n    columns: {prompt: question, completion: answer}\n")
    build_dataset(load_spec(path), tmp_path / "out")
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][1]["content"].startswith("a") and ", with comma" in first["messages"][1]["content"]


def test_csv_missing_column(project):
    project.data("bad_columns.csv")
    path = project.spec("  - path: data/bad_columns.csv\n    format: csv\n    columns: {prompt: question, completion: answer}\n")
    assert errors_of(path) == [
        "data/bad_columns.csv:1: column 'answer' (columns.completion) not in the header (did you mean 'answr'?); header: question, answr"
    ]


def test_csv_unsorted_conversation(project):
    project.data("bad_unsorted.csv")
    path = project.spec("  - path: data/bad_unsorted.csv\n    format: csv\n    columns: {conversation: conv, role: speaker, content: text}\n")
    assert errors_of(path)[0] == (
        "data/bad_unsorted.csv:6: conversation 'c1' continues after other rows; sort the file by the conversation column")


def test_unknown_source_option(project):
    project.data("chats.csv")
    path = project.spec("  - path: data/chats.csv\n    format: chat_jsonl\n    columns: {role: speaker}\n")
    from ftspec.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value.problems[0]) == "spec.yaml:8:14: sources[0].columns: format 'chat_jsonl' has no option 'columns'"
