"""Explicit encodings that cannot read the file are one located error, exit 1 (issue 13)."""

from __future__ import annotations

import pytest
import yaml

from ftspec.testing.fuzz import contract_problems
from ftspec.testing.messy import SAMPLES, write_project

TEXT_STREAM_SAMPLES = ["chat_jsonl", "csv", "kakaotalk", "messages_csv", "qa_text"]


@pytest.mark.parametrize("sample", TEXT_STREAM_SAMPLES)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_or_32_without_a_bom_is_a_located_error(sample, encoding, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    spec = write_project(tmp_path, sample)
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["sources"][0]["encoding"] = encoding
    spec.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, out, err = cli(["validate", "spec.yaml"])
    assert contract_problems(code, out, err) == []
    name = SAMPLES[sample][0]
    assert err.splitlines()[0] == (f"error: {name}:1: the file does not start with a {encoding.upper()} "
                                   f"byte-order mark; set `encoding:` to {encoding}-le or {encoding}-be (or auto)")
