"""KakaoTalk (both exports), messages_csv and qa_text parse into the exact expected conversations."""

from __future__ import annotations

import pytest
from conv_helpers import as_golden, check_golden, read_examples, write_spec

from ftspec.errors import DataError, SpecError


def kakao(path: str, **options) -> dict:
    return {"name": "chat", "path": path, "format": "kakaotalk", "assistant": "Json", **options}


@pytest.mark.parametrize("fixture", ["kakao_pc_bom.csv", "kakao_pc_cp949.csv"])
def test_pc_csv_bom_and_cp949_parse_to_the_same_golden(in_tmp, fixture):
    spec = write_spec(in_tmp, [kakao(fixture, session_gap="30m")])
    examples, ctx = read_examples(spec)
    golden = as_golden(examples, ctx)
    for example in golden["examples"]:
        example["origin"] = example["origin"].split(":", 1)[1]  # file names differ, lines do not
    check_golden("kakao_pc_csv", golden)


def test_mobile_korean_export(in_tmp):
    spec = write_spec(in_tmp, [kakao("kakao_mobile_ko.txt", session_gap="30m")])
    check_golden("kakao_mobile_ko", as_golden(*read_examples(spec)))


def test_pc_text_export_with_three_speakers_keeps_names(in_tmp):
    spec = write_spec(in_tmp, [kakao("kakao_pc_text.txt")])
    check_golden("kakao_pc_text", as_golden(*read_examples(spec)))


def test_english_export_mixed_line_styles_with_context_window(in_tmp):
    spec = write_spec(in_tmp, [kakao("kakao_mobile_en.txt", context_turns=2, system="Talk like Json.")])
    check_golden("kakao_mobile_en", as_golden(*read_examples(spec)))


def test_qa_text_blocks(in_tmp):
    spec = write_spec(in_tmp, [{"name": "forum", "path": "forum.txt", "format": "qa_text"}])
    check_golden("qa_forum", as_golden(*read_examples(spec)))


def test_messages_csv_column_mapping_and_time_format(in_tmp):
    source = {"name": "slack", "path": "messages.csv", "format": "messages_csv", "assistant": "bob",
              "columns": {"speaker": "who", "time": "when", "text": "body"},
              "time_format": "%d/%m/%Y %H:%M", "session_gap": "1h", "context_turns": 3}
    check_golden("messages_csv", as_golden(*read_examples(write_spec(in_tmp, [source]))))


def test_multiline_message_with_quotes_commas_survives_csv(in_tmp):
    examples, _ = read_examples(write_spec(in_tmp, [kakao("kakao_pc_bom.csv", session_gap="30m")]))
    contents = [m["content"] for e in examples for m in e.record["messages"]]
    assert '그 책 제목이 "달러구트 꿈 백화점"이었나?\n아니면 다른 거?' in contents
    assert "맞아, 그거!\n두 번째 줄\n세 번째 줄" in contents  # media placeholder between: dropped


# ---- bad input ----------------------------------------------------------------------------
def test_unknown_layout_names_formats_and_first_unparseable_line(in_tmp):
    spec = write_spec(in_tmp, [kakao("bad_layout.txt")])
    with pytest.raises(DataError) as err:
        read_examples(spec)
    message = str(err.value)
    assert message.startswith("bad_layout.txt:2: unknown KakaoTalk export layout; recognised KakaoTalk exports: PC CSV")
    assert "'[이름] [오후 1:55] 메시지'" in message
    assert message.endswith("first unparseable line: 'hello there'")


def test_assistant_who_never_speaks_lists_speakers(in_tmp):
    spec = write_spec(in_tmp, [kakao("kakao_pc_bom.csv", assistant="Jason")])
    with pytest.raises(DataError) as err:
        read_examples(spec)
    assert str(err.value) == (
        "spec.yaml:9:14: sources[0].assistant: assistant 'Jason' never speaks in this source; "
        "speakers found: 'Json' (4), '민지' (3)"
    )


def test_bad_csv_rows_are_located(in_tmp):
    spec = write_spec(in_tmp, [kakao("bad_csv_row.csv")])
    with pytest.raises(DataError) as err:
        read_examples(spec)
    assert err.value.lines() == [
        "bad_csv_row.csv:3: date 'yesterday' is not YYYY-MM-DD HH:MM:SS",
        "bad_csv_row.csv:4: expected 3 fields (Date,User,Message), got 2",
    ]


def test_bad_csv_rows_skipped_are_counted(in_tmp):
    examples, ctx = read_examples(write_spec(in_tmp, [kakao("bad_csv_row.csv", on_error="skip")]))
    assert len(examples) == 1
    assert dict(ctx.sources["chat"].skipped) == {"date '...' is not YYYY-MM-DD HH:MM:SS": 1, "expected 3 fields": 1}


def test_kakaotalk_requires_assistant(in_tmp):
    source = kakao("kakao_pc_bom.csv")
    del source["assistant"]
    with pytest.raises(SpecError) as err:
        read_examples(write_spec(in_tmp, [source]))
    assert str(err.value) == "spec.yaml:6:3: sources[0]: format 'kakaotalk' needs 'assistant'"


@pytest.mark.parametrize(("fixture", "expected"), [
    ("qa_answer_without_question.txt", "qa_answer_without_question.txt:4: answer 'A)' without a question 'Q)' before it"),
    ("qa_empty_answer.txt", "qa_empty_answer.txt:2: empty answer after 'A)'"),
    ("qa_question_without_answer.txt", "qa_question_without_answer.txt:1: question 'Q)' without an answer 'A)'"),
    ("qa_text_before_question.txt", "qa_text_before_question.txt:1: block must start with 'Q)' (or 'S)' then 'Q)')"),
    ("qa_system_not_first.txt", "qa_system_not_first.txt:3: 'S)' is allowed only as the first line of a block"),
])
def test_malformed_qa_blocks_are_located_errors(in_tmp, fixture, expected):
    spec = write_spec(in_tmp, [{"name": "forum", "path": fixture, "format": "qa_text"}])
    with pytest.raises(DataError) as err:
        read_examples(spec)
    assert str(err.value) == expected


def test_messages_csv_missing_column_is_located(in_tmp):
    source = {"name": "slack", "path": "messages.csv", "format": "messages_csv", "assistant": "bob",
              "columns": {"speaker": "user", "text": "body"}}
    with pytest.raises(DataError) as err:
        read_examples(write_spec(in_tmp, [source]))
    assert str(err.value) == "messages.csv:1: column 'user' (speaker) not in the header; columns: when, who, body"


def test_export_without_messages_is_an_error(in_tmp):
    with pytest.raises(DataError) as err:
        read_examples(write_spec(in_tmp, [kakao("kakao_no_messages.txt")]))
    assert str(err.value).startswith("kakao_no_messages.txt:1: no KakaoTalk messages found; recognised KakaoTalk exports:")


def test_wrong_explicit_encoding_is_located(in_tmp):
    with pytest.raises(DataError) as err:
        read_examples(write_spec(in_tmp, [kakao("kakao_pc_cp949.csv", encoding="utf-8")]))
    assert str(err.value).startswith("kakao_pc_cp949.csv:")
    assert "cannot decode as utf-8-sig" in str(err.value)
