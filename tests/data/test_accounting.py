"""The row-accounting invariant, for every source format, on messy files (issue 13):
records read = kept + refused (one primary reason and a location each) + dropped by name, per
source; and every example a source made is written, skipped later, or removed by a transform."""

from __future__ import annotations

import re

import pytest

from ftspec.testing.messy import SAMPLES, books, write_project

# sample -> (rows_read, kept, refused, dropped, lines of the refused rows)
EXPECTED = {
    "chat_jsonl": (19, 12, 6, 1, [14, 15, 16, 17, 18, 19]),
    "completion_jsonl": (16, 12, 3, 1, [13, 15, 16]),
    "json": (17, 13, 4, 0, [14, 15, 16, 17]),
    "csv": (15, 13, 1, 1, [15]),
    "kakaotalk": (30, 25, 3, 2, [29, 30, 31]),
    "kakaotalk_csv": (28, 24, 3, 1, [27, 28, 29]),
    "messages_csv": (29, 24, 3, 2, [27, 28, 29]),
    "qa_text": (15, 13, 2, 0, [37, 39]),
}


def test_every_sample_has_expected_books():
    assert sorted(EXPECTED) == sorted(SAMPLES)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_records_read_equal_kept_refused_and_dropped(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = books(write_project(tmp_path, sample))
    read, kept, refused, dropped, lines = EXPECTED[sample]
    src = result["sources"]["src"]
    assert (src["rows_read"], src["rows_kept"], src["rows_refused"], src["rows_dropped"]) == (read, kept, refused, dropped)
    assert src["balanced"] and result["balanced"]
    assert result["examples"] == result["examples_written"] + result["examples_skipped"] + result["examples_removed"]
    skipped = result["skipped_rows"]["src"]
    assert [row["line"] for row in skipped] == lines  # one entry (one primary reason) per refused row
    assert all(row["file"] == SAMPLES[sample][0] and row["reason"] for row in skipped)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_fail_mode_reports_every_refused_row_located(sample, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, sample, on_error="fail")
    code, _, err = cli(["validate", "spec.yaml"])
    assert code == 1
    name = re.escape(SAMPLES[sample][0])
    located = [int(m.group(1)) for m in (re.match(rf"error: {name}:(\d+): ", line) for line in err.splitlines()) if m]
    assert located[: len(EXPECTED[sample][4])] == EXPECTED[sample][4]
    assert "Traceback" not in err and "internal error" not in err


def test_a_row_failing_two_checks_is_skipped_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [SAMPLES["chat_jsonl"][1].splitlines()[0]] * 12
    rows.append(b'{"messages": [{"role": "wizard"}, {"role": "user", "content": "q"}]}')
    write_project(tmp_path, "chat_jsonl", b"\n".join(rows) + b"\n")
    result = books(tmp_path / "spec.yaml")
    skipped = result["skipped_rows"]["src"]
    assert len(skipped) == 1 and skipped[0]["line"] == 13 and skipped[0]["also"]
    assert result["examples_skipped"] == 1 and result["balanced"]
