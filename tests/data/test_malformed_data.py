"""The malformed-data corpus: one folder per class of messy or hostile data (a spec and its data
files), each with the exact console output of ``ftspec validate spec.yaml`` in expected.json:
located at the bad byte's line and column, dataset-level errors after the rows behind them and
saying what was skipped, OpenAI's checks worded and counted as its notebook does, and the
completion template's own changes reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftspec.data.pipeline import build_dataset
from ftspec.spec.loader import load_spec

CORPUS = Path(__file__).parent / "malformed" / "data"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_every_corpus_folder_has_an_expected_output():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_prints_exactly_the_expected_lines(name, tmp_path, monkeypatch, cli):
    shutil.copytree(CORPUS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / name)
    code, _, err = cli(["validate", "spec.yaml"])
    assert (code, err.splitlines()) == (EXPECTED[name]["exit"], EXPECTED[name]["stderr"])


def _build(name: str, tmp_path: Path, monkeypatch):
    shutil.copytree(CORPUS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / name)
    return build_dataset(load_spec("spec.yaml"), tmp_path / "out")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepared_legacy_completions_are_written_as_they_are(tmp_path, monkeypatch):
    result = _build("legacy_prepared_completions", tmp_path, monkeypatch)
    given = _records(CORPUS / "legacy_prepared_completions" / "prepared.jsonl")
    assert _records(result.files["train"]) == given  # no second separator, no second stop or space
    assert result.manifest["template_changes"] == {}


def test_every_automatic_template_change_is_counted_in_the_manifest(tmp_path, monkeypatch):
    result = _build("completion_template_changes", tmp_path, monkeypatch)
    assert result.manifest["template_changes"] == {
        "leading space added": 12, "separator appended": 12, "stop appended": 12}
    first = _records(result.files["train"])[0]
    assert first == {"prompt": "Ticket 0: printer 0 jams\n\n###\n\n", "completion": " Clear tray 0. END"}


def test_a_message_without_content_counts_under_both_notebook_checks(tmp_path, monkeypatch):
    result = _build("message_without_content_key", tmp_path, monkeypatch)
    source = result.manifest["sources"]["rows"]
    assert source["skipped"] == {"message_missing_key": 1}  # one row skipped, under one reason
    assert source["skipped_checks"] == {"message_missing_key": 1, "missing_content": 1}
    assert source["skipped_rows"][0]["also"] == ["missing_content: message 2 (assistant) has no content"]
    assert result.manifest["accounting"]["balanced"]


def test_a_bad_byte_past_the_first_read_is_located_with_crlf_lines(tmp_path):
    # beyond the first 1 MiB read, CR LF line ends (one split across the read boundary)
    from ftspec.data.encoding import locate_decode_error

    line = b"x" * 1023 + b"\r\n"  # 1025 bytes
    data = bytearray(line * 1024)
    data[(1 << 20) - 1: (1 << 20) + 1] = b"\r\n"  # a CR LF across the read boundary
    data += b"abc\xffdef\r\n"
    path = tmp_path / "big.txt"
    path.write_bytes(bytes(data))
    text = bytes(data[: data.index(b"\xff")]).decode()
    want_line = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
    problem = locate_decode_error(path, "utf-8", "big.txt")
    assert problem is not None and str(problem.location) == f"big.txt:{want_line}:4"


@pytest.mark.parametrize("where", ["decisions", "cases"])
def test_a_review_or_eval_file_that_is_not_utf8_points_at_the_byte(where, tmp_path):
    from ftspec.errors import FtspecError

    path = tmp_path / ("review.yaml" if where == "decisions" else "cases.jsonl")
    path.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(FtspecError) as info:
        if where == "decisions":
            from ftspec.data.review.decisions import load_decisions

            load_decisions(path)
        else:
            from ftspec.evals.cases import read_case_file

            read_case_file(path, "cases.jsonl")
    assert info.value.lines()[0].endswith(":2:11: not UTF-8 text (invalid continuation byte, byte 0xe9)")
