"""Deterministic output: same inputs -> same bytes and sha256; a golden file pins the bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ftspec.data.pipeline import build_dataset
from ftspec.data.records import record_line
from ftspec.data.split import assign_split
from ftspec.spec.loader import load_spec

GOLDEN = Path(__file__).parent / "fixtures" / "golden_train.jsonl"


def golden_spec(project):
    return project.chat("good_chat.jsonl", template='  type: chat\n  system: "Be kind, {{ name }}."',
                        extra="split:\n  validation: 0.25\n  salt: golden\n")


def test_two_builds_are_identical(project, tmp_path):
    spec = load_spec(golden_spec(project))
    one = build_dataset(spec, tmp_path / "one")
    two = build_dataset(spec, tmp_path / "two")
    assert one.sha256 == two.sha256 and one.dataset_sha256 == two.dataset_sha256
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    data = (tmp_path / "one" / "train.jsonl").read_bytes()
    assert one.sha256["train"] == hashlib.sha256(data).hexdigest()
    assert data == GOLDEN.read_bytes()
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["files"]["train"]["sha256"] == one.sha256["train"]
    assert manifest["counts"] == {"train": one.counts["train"], "validation": one.counts["validation"]}


def test_golden_bytes_format():
    lines = GOLDEN.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(b"\r" not in line for line in lines)
    first = lines[0].decode()
    assert first.startswith('{"messages":[{"role":"system","content":"Be kind, demo."}')


def test_validate_only_mode_matches_build(project, tmp_path):
    spec = load_spec(golden_spec(project))
    built = build_dataset(spec, tmp_path / "out")
    checked = build_dataset(spec, None)
    assert checked.sha256 == built.sha256
    assert build_dataset(spec, None, hashes=False).counts == built.counts


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": texts}),
                    min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(messages, st.one_of(st.none(), st.integers(0, 1)))
def test_jsonl_round_trip(msgs, weight):
    record = {"messages": [dict(m, weight=weight) if weight is not None and m["role"] == "assistant" else m for m in msgs]}
    line = record_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line.decode("utf-8")) == record
    assert record_line(json.loads(line)) == line


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=40, unique=True), st.text(max_size=5),
       st.floats(0.05, 0.9))
def test_split_is_stable_when_examples_are_added(ids, salt, fraction):
    before = {i: assign_split(i, fraction, salt) for i in ids[:-1]}
    after = {i: assign_split(i, fraction, salt) for i in ids}
    assert all(after[i] == side for i, side in before.items())


def test_adding_an_example_moves_no_other(project, tmp_path):
    spec_path = golden_spec(project)
    first = build_dataset(load_spec(spec_path), tmp_path / "a")
    with open(tmp_path / "data" / "good_chat.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"messages": [{"role": "user", "content": "new"}, {"role": "assistant", "content": "one"}]}) + "\n")
    second = build_dataset(load_spec(spec_path), tmp_path / "b")
    for split in ("train", "validation"):
        old = set((tmp_path / "a" / f"{split}.jsonl").read_text().splitlines())
        new = set((tmp_path / "b" / f"{split}.jsonl").read_text().splitlines())
        assert old <= new
    assert first.counts["train"] + first.counts["validation"] + 1 == second.counts["train"] + second.counts["validation"]
