"""Validation: every check of OpenAI's chat data-prep notebook and the legacy completion checks,
each located by source file:line and output line."""

from __future__ import annotations

import json

import pytest

from ftspec.data import base_models
from ftspec.data.pipeline import build_dataset
from ftspec.errors import DataError
from ftspec.spec.loader import load_spec


def errors(spec_path) -> list[str]:
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(spec_path), None)
    return [str(p) for p in info.value.problems if p.location.file.startswith("data/")]


@pytest.mark.parametrize(("fixture", "expected"), [
    ("bad_message_missing_key.jsonl", "message_missing_key: message 1 has no 'role'"),
    ("bad_unrecognized_key.jsonl", "message_unrecognized_key: message 1 (user) has an unrecognized key 'mood'"),
    ("bad_unrecognized_role.jsonl", "unrecognized_role: message 1 (customer) has an unrecognized role 'customer' "
                                    "(use system, user, assistant or tool, or map it with `template.roles`)"),
    ("bad_missing_content.jsonl", "missing_content: message 2 (assistant) has no content"),
    ("bad_no_assistant.jsonl", "example_missing_assistant_message: example has no assistant message"),
    ("bad_weight.jsonl", "invalid_weight: message 2 (assistant): 'weight' must be 0 or 1, on assistant messages only"),
])
def test_notebook_checks_are_located(project, fixture, expected):
    assert errors(project.chat(fixture)) == [f"data/{fixture}:1: {expected} (train split)"]


def test_an_error_names_the_split_not_an_unwritten_output_line(project):
    project.data("good_chat.jsonl", "bad_no_assistant.jsonl")
    path = project.spec("  - path: data/good_chat.jsonl\n    format: chat_jsonl\n"
                        "  - path: data/bad_no_assistant.jsonl\n    format: chat_jsonl\n    split: validation\n")
    assert errors(path) == ["data/bad_no_assistant.jsonl:1: example_missing_assistant_message: "
                            "example has no assistant message (validation split)"]


def test_role_mapping_fixes_unrecognized_role(project):
    path = project.chat("bad_unrecognized_role.jsonl", template="  type: chat\n  roles: {customer: user}")
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(path), None)
    assert [str(p) for p in info.value.problems] == ["spec.yaml:5:1: only 1 training examples; fine-tuning needs at least 10"]


def test_skip_turns_validation_errors_into_counted_rows(project):
    project.data("good_chat.jsonl")
    path = project.chat("bad_missing_content.jsonl", source_extra="    on_error: skip\n")
    text = path.read_text() .replace("sources:\n", "sources:\n  - path: data/good_chat.jsonl\n    format: chat_jsonl\n")
    path.write_text(text)
    result = build_dataset(load_spec(path), None)
    assert result.counts["train"] == 12
    assert result.manifest["sources"]["bad_missing_content"]["skipped"] == {"missing_content": 1}


def test_missing_system_and_user_warnings(project):
    result = build_dataset(load_spec(project.chat("good_chat.jsonl")), None)
    assert "12 examples have no system message (first: data/good_chat.jsonl:1)" in result.warnings
    assert "12 training examples; at least 100 (ideally a few hundred) usually train better" in result.warnings


def test_over_limit_is_an_error(project, tmp_path):
    long = " ".join(["word"] * 5000)
    (tmp_path / "data").mkdir()
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": long if i == 3 else "a"}]})
             for i in range(12)]
    (tmp_path / "data" / "long.jsonl").write_text("\n".join(lines) + "\n")
    path = project.spec("  - path: data/long.jsonl\n    format: chat_jsonl\n", base_model="gpt-3.5-turbo-0613")
    assert errors(path) == [
        "data/long.jsonl:4: over_limit: example has 5013 tokens, over the 4096-token per-example limit of "
        "gpt-3.5-turbo-0613 (it would be truncated); shorten it or add the transform `max_tokens: {action: drop}` (train split)"
    ]
    path = project.spec("  - path: data/long.jsonl\n    format: chat_jsonl\n", base_model="gpt-3.5-turbo-0613",
                        extra="transforms:\n  - max_tokens: {action: drop}\n")
    result = build_dataset(load_spec(path), None)
    assert result.counts["train"] == 11
    assert result.manifest["removed"] == {"max_tokens": {"over 4096 tokens": 1}}


def test_fewer_than_ten_is_an_error(project):
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(project.chat("tools.jsonl")), None)
    assert [str(p) for p in info.value.problems] == ["spec.yaml:5:1: only 1 training examples; fine-tuning needs at least 10"]


def completion_spec(project, fixture="good_completion.jsonl", template="  type: completion"):
    project.data(fixture)
    return project.spec(f"  - path: data/{fixture}\n    format: completion_jsonl\n", base_model="babbage-002", template=template)


def test_completion_format_is_valid_and_warns(project):
    result = build_dataset(load_spec(completion_spec(project)), None)
    assert result.counts["train"] == 12
    assert "12 training examples; at least 100 (ideally a few hundred) usually train better" in result.warnings
    assert "all prompts start with the same 11 characters 'Classify: i'; consider removing the shared prefix" not in result.warnings
    assert any(w.startswith("all prompts start with the same 15 characters") for w in result.warnings)


def test_completion_duplicates_and_identical(project, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dup.jsonl").write_text('{"prompt": "same", "completion": "same"}\n' * 12)
    project.spec("  - path: data/dup.jsonl\n    format: completion_jsonl\n", base_model="davinci-002", template="  type: completion")
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(tmp_path / "spec.yaml"), None)
    assert [str(p) for p in info.value.problems] == [
        "spec.yaml:5:1: all 12 prompts are identical; the model cannot learn what to answer",
        "spec.yaml:5:1: all 12 completions are identical; this is not a useful fine-tune",
    ]


def test_separator_inside_prompt_is_refused(project, tmp_path):
    (tmp_path / "data").mkdir()
    # inside the prompt (a prompt that only ends with it was prepared for the legacy tool: kept)
    rows = [json.dumps({"prompt": f"p{i}" + ("\n\n###\n\nmore" if i == 2 else ""), "completion": f"c{i}"}) for i in range(12)]
    (tmp_path / "data" / "sep.jsonl").write_text("\n".join(rows) + "\n")
    project.spec("  - path: data/sep.jsonl\n    format: completion_jsonl\n", base_model="davinci-002", template="  type: completion")
    assert errors(tmp_path / "spec.yaml") == [
        "data/sep.jsonl:3: prompt contains the separator '\\n\\n###\\n\\n'; choose another `template.separator`"]


def test_completion_output_shape(project, tmp_path):
    build_dataset(load_spec(completion_spec(project)), tmp_path / "out")
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert first["prompt"].endswith("\n\n###\n\n") and first["completion"].startswith(" ") and first["completion"].endswith(" END")


def test_base_model_lookup_never_prefix_matches():
    assert base_models.lookup("ft:gpt-4.1-2025-04-14:org:x:1").encoding == "o200k_base"
    assert base_models.lookup("gpt-4.1-2025-04-14-preview") is None
    assert base_models.lookup("gpt-4") is None
    assert base_models.lookup("gpt-4.1-2025-04-14").context_limit is None
