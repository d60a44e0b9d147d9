"""Transforms: each removal is reported in the manifest; sample is deterministic."""

from __future__ import annotations

import json

import pytest

from ftspec.data.pipeline import build_dataset
from ftspec.errors import DataError
from ftspec.spec.loader import load_spec


def write_rows(tmp_path, rows) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "rows.jsonl").write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                           ensure_ascii=False) + "\n" for q, a in rows), encoding="utf-8")


def build(project, transforms: str, **kw):
    path = project.spec("  - path: data/rows.jsonl\n    format: chat_jsonl\n", extra=f"transforms:\n{transforms}\n", **kw)
    return build_dataset(load_spec(path), None)


def base_rows(n=12):
    return [(f"question {i}", f"answer {i}") for i in range(n)]


def test_dedupe_exact_and_normalized(project, tmp_path):
    write_rows(tmp_path, base_rows() + [("question 1", "answer 1"), ("  QUESTION   2 ", "Answer 2")])
    exact = build(project, "  - dedupe")
    assert exact.counts["train"] == 13
    assert exact.manifest["removed"] == {"dedupe": {"duplicate": 1}}
    assert exact.manifest["removed_examples"]["dedupe"][0]["origin"] == "data/rows.jsonl:13"
    normalized = build(project, "  - dedupe: {normalize: true}")
    assert normalized.counts["train"] == 12
    assert normalized.manifest["removed"] == {"dedupe": {"duplicate (normalized whitespace/case)": 2}}


def test_drop_empty(project, tmp_path):
    write_rows(tmp_path, base_rows() + [("q", "   "), ("", "")])
    result = build(project, "  - drop_empty")
    assert result.counts["train"] == 12
    assert result.manifest["removed"] == {"drop_empty": {"empty assistant answer": 1, "no message has text": 1}}


def test_max_tokens_fail_is_located(project, tmp_path):
    write_rows(tmp_path, base_rows() + [("long", "word " * 100)])
    with pytest.raises(DataError) as info:
        build(project, "  - max_tokens: {limit: 50}")
    assert [str(p) for p in info.value.problems] == [
        "data/rows.jsonl:13: max_tokens: example has 113 tokens > limit 50; shorten it or use `max_tokens: {action: drop}`"]


def test_max_tokens_unknown_limit(project, tmp_path):
    write_rows(tmp_path, base_rows())
    with pytest.raises(DataError) as info:
        build(project, "  - max_tokens", base_model="gpt-4.1-2025-04-14")
    assert [str(p) for p in info.value.problems] == [
        "spec.yaml:12:5: transforms[0]: max_tokens: the per-example limit of 'gpt-4.1-2025-04-14' is unknown; set `limit:`"]


def test_sample_is_deterministic_and_stable(project, tmp_path):
    write_rows(tmp_path, base_rows(200))
    first = build(project, "  - sample: {n: 50}")
    again = build(project, "  - sample: {n: 50}")
    assert first.counts["train"] == 50 and first.dataset_sha256 == again.dataset_sha256
    assert first.manifest["removed"] == {"sample": {"not sampled": 150}}
    fraction = build(project, "  - sample: {fraction: 0.25, seed: a}")
    ids = {e["id"] for e in fraction.manifest["removed_examples"]["sample"]}
    write_rows(tmp_path, base_rows(200) + [("new", "one")])
    grown = build(project, "  - sample: {fraction: 0.25, seed: a}")
    assert ids <= {e["id"] for e in grown.manifest["removed_examples"]["sample"]}
    assert 20 < fraction.counts["train"] < 80
