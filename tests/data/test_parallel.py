"""Parallel validation gives the serial result: same counts, tokens, bad rows and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftspec.data import parallel
from ftspec.data.pipeline import build_dataset
from ftspec.errors import DataError
from ftspec.spec import load_spec


def write_project(root: Path, *, on_error: str, transforms: str = "[drop_empty]") -> Path:
    rows = []
    for i in range(157):
        messages = [{"role": "user", "content": f"질문 {i}: how do I reset device {i}?"},
                    {"role": "assistant", "content": f"Hold the button for {i % 9 + 1} seconds."}]
        if i % 3:
            messages.insert(0, {"role": "system", "content": "You are the support bot."})
        rows.append(json.dumps({"messages": messages}, ensure_ascii=False))
    rows[10] = "{not json"
    rows[42] = json.dumps({"messages": [{"role": "user", "content": "no answer"}]})
    rows[99] = json.dumps({"messages": "nope"})
    (root / "data.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = root / "spec.yaml"
    spec.write_text(
        "ftspec: 1\nname: par\nprovider: openai\nbase_model: gpt-4o-mini-2024-07-18\n"
        f"sources:\n  - {{path: data.jsonl, format: chat_jsonl, on_error: {on_error}}}\n"
        f"transforms: {transforms}\ntemplate: {{type: chat}}\nsplit: {{validation: 0.2}}\n",
        encoding="utf-8")
    return spec


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)


def test_parallel_manifest_equals_serial(tmp_path, small_threshold):
    spec = load_spec(write_project(tmp_path, on_error="skip"))
    serial = build_dataset(spec, None, hashes=False)
    shards = parallel.validate_dataset(spec, workers=3)
    assert shards.counts == serial.counts
    assert shards.manifest == serial.manifest
    assert shards.warnings == serial.warnings
    assert shards.manifest["sources"]["data"]["skipped_total"] == 3


def test_parallel_reports_the_same_located_errors(tmp_path, small_threshold):
    spec = load_spec(write_project(tmp_path, on_error="fail"))
    with pytest.raises(DataError) as serial:
        build_dataset(spec, None, hashes=False)
    with pytest.raises(DataError) as shards:
        parallel.validate_dataset(spec, workers=2)
    # the same rows at the same source lines; shards cannot name the (unwritten) output line
    assert [(p.location, p.message.split(" (train.jsonl")[0].split(" (validation.jsonl")[0])
            for p in serial.value.problems] == [(p.location, p.message) for p in shards.value.problems]
    assert [(Path(p.location.file).name, p.location.line) for p in shards.value.problems] == [
        ("data.jsonl", 11), ("data.jsonl", 43), ("data.jsonl", 100)]


def test_dedupe_keeps_the_serial_path(tmp_path, small_threshold):
    spec = load_spec(write_project(tmp_path, on_error="skip", transforms="[dedupe]"))
    assert not parallel.shardable(spec)
    assert parallel.validate_dataset(spec, workers=2).manifest == build_dataset(spec, None, hashes=False).manifest
