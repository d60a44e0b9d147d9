"""scrub_pii: per-kind precision and recall on a labelled Korean/English fixture; the transform."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conv_helpers import FIXTURES

from ftspec.data.context import BuildContext
from ftspec.data.pii import KINDS, scrub
from ftspec.data.records import Example, Origin


def _scores() -> dict[str, tuple[float, float, int]]:
    tp, fp, fn = Counter(), Counter(), Counter()
    lines = (FIXTURES / "pii_labelled.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 200
    for line in lines:
        item = json.loads(line)
        expected = Counter((kind, value) for kind, value in item["pii"])
        found = Counter((f.kind, f.text) for f in scrub(item["text"])[1])
        for key in expected | found:
            hit = min(expected[key], found[key])
            tp[key[0]] += hit
            fp[key[0]] += found[key] - hit
            fn[key[0]] += expected[key] - hit
    return {k: (tp[k] / max(1, tp[k] + fp[k]), tp[k] / max(1, tp[k] + fn[k]), tp[k] + fn[k]) for k in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_precision_and_recall_per_kind(kind):
    precision, recall, labelled = _scores()[kind]
    assert labelled >= 20, f"fixture has only {labelled} {kind} labels"
    assert precision >= 0.95, f"{kind} precision {precision:.3f}"
    assert recall >= 0.95, f"{kind} recall {recall:.3f}"


def test_placeholders_replace_spans():
    text, findings = scrub("연락처 010-2345-6789, mail minsu@example.com, ip 192.168.0.7, v1.2.3.4 is a version")
    assert text == "연락처 <PHONE>, mail <EMAIL>, ip <IP>, v1.2.3.4 is a version"
    assert sorted(f.kind for f in findings) == ["email", "ip", "phone"]


def _run(options, records):
    from ftspec.data.transforms import TRANSFORMS

    ctx = BuildContext()
    transform = TRANSFORMS.get("scrub_pii")("scrub_pii", options, None, ctx, 0)
    examples = [Example(record=r, origin=Origin("s", "f.jsonl", i + 1)) for i, r in enumerate(records)]
    return list(transform.apply(iter(examples))), ctx


RECORDS = [
    {"messages": [{"role": "user", "content": "내 번호 010-2345-6789 로 전화줘"},
                  {"role": "assistant", "content": "ok, and mail a@example.com"}]},
    {"prompt": "clean prompt", "completion": "nothing here 2022-12-17"},
]


def test_transform_replaces_and_counts_per_kind():
    out, ctx = _run({}, RECORDS)
    assert out[0].record["messages"][0]["content"] == "내 번호 <PHONE> 로 전화줘"
    assert out[0].record["messages"][1]["content"] == "ok, and mail <EMAIL>"
    assert out[1].record == RECORDS[1]
    assert dict(ctx.counters["pii"]) == {"phone": 1, "email": 1}


def test_transform_drop_action_removes_and_lists_example():
    out, ctx = _run({"action": "drop", "kinds": ["phone"]}, RECORDS)
    assert [e.record for e in out] == [RECORDS[1]]
    assert dict(ctx.removed["scrub_pii"]) == {"contains pii: phone": 1}
    assert ctx.removed_examples["scrub_pii"][0]["origin"] == "f.jsonl:1"
