"""Preference pairs as data: both source formats, located errors, split, hash, tokens, plan."""

from __future__ import annotations

import json

import pytest

from ftspec.data.pipeline import build_dataset
from ftspec.data.plan import plan
from ftspec.data.preference import sides
from ftspec.errors import DataError
from ftspec.spec import load_spec


def _pair(i: int, good: str = "yes", bad: str = "no") -> dict:
    return {"input": {"messages": [{"role": "user", "content": f"question {i}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"{good} {i}"}],
            "non_preferred_output": [{"role": "assistant", "content": f"{bad} {i}"}]}


def _write(project, records, *, provider="openai", base_model="gpt-4o-mini-2024-07-18", extra="job: {method: dpo}\n",
           fmt="preference_jsonl", name="pairs.jsonl"):
    (project.root / "data").mkdir(exist_ok=True)
    path = project.root / "data" / name
    if isinstance(records, str):
        path.write_text(records, encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return project.spec(f"  - path: data/{name}\n    format: {fmt}", provider=provider, base_model=base_model,
                        template='  type: chat\n  system: "Be brief."', extra=extra + "split: {validation: 0.25}\n")


def _problems(spec_path) -> list[str]:
    with pytest.raises(DataError) as info:
        build_dataset(load_spec(spec_path), None)
    return [str(p) for p in info.value.problems]


def test_jsonl_pairs_build_split_and_hash_stably(project, tmp_path):
    spec = load_spec(_write(project, [_pair(i) for i in range(40)]))
    first = build_dataset(spec, tmp_path / "a")
    again = build_dataset(spec, tmp_path / "b")
    assert first.dataset_sha256 == again.dataset_sha256
    assert first.counts["train"] + first.counts["validation"] == 40 and first.counts["validation"] > 0
    line = json.loads((tmp_path / "a" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert list(line) == ["input", "preferred_output", "non_preferred_output"]


def test_tokens_and_cost_count_both_sides(project):
    spec = load_spec(_write(project, [_pair(i) for i in range(20)]))
    result = build_dataset(spec, None)
    from ftspec.data.tokens import counter_for

    counter = counter_for(spec)
    line = json.loads(json.dumps(_pair(0)))
    line["input"]["messages"].insert(0, {"role": "system", "content": "Be brief."})
    both = sum(counter.count_records(list(sides(line))))
    assert both in result.token_values["train"].tolist() + result.token_values["validation"].tolist()
    shown = plan(spec, result=result)
    assert shown["hyperparameters"]["beta"] == 0.1  # "auto": the common DPO default, as the job is sent
    assert shown["billed_tokens"] == sum(result.token_values["train"]) * shown["epochs"]


def test_csv_mapping(project, tmp_path):
    text = "q,good,bad,sys\nWhere is my order?,It ships today.,Dunno.,Be kind.\n" + "".join(
        f"question {i}?,yes {i},no {i},\n" for i in range(19))
    extra = "job: {method: dpo}\n"
    spec_path = _write(project, text, fmt="preference_csv", name="pairs.csv", extra=extra)
    spec_path.write_text(spec_path.read_text(encoding="utf-8").replace(
        "format: preference_csv", "format: preference_csv\n    columns: {prompt: q, preferred: good, non_preferred: bad, system: sys}")
        .replace('system: "Be brief."', 'system: "{{ system or \'Be brief.\' }}"'), encoding="utf-8")
    result = build_dataset(load_spec(spec_path), tmp_path / "out")
    lines = [json.loads(x) for f in ("train", "validation") if (tmp_path / "out" / f"{f}.jsonl").exists()
             for x in (tmp_path / "out" / f"{f}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert result.counts["train"] + result.counts["validation"] == 20
    first = next(x for x in lines if x["input"]["messages"][-1]["content"] == "Where is my order?")
    assert first["input"]["messages"][0] == {"role": "system", "content": "Be kind."}
    assert first["preferred_output"] == [{"role": "assistant", "content": "It ships today."}]
    assert all(x["input"]["messages"][0]["content"] == "Be brief." for x in lines if x is not first)


def test_csv_empty_cell_is_a_located_bad_row(project):
    text = "prompt,preferred,non_preferred\n" + "".join(f"q {i}?,yes {i},no {i}\n" for i in range(20)) + "q?,,no\n"
    problems = _problems(_write(project, text, fmt="preference_csv", name="pairs.csv"))
    assert any(p.startswith("data/pairs.csv:22: missing_preferred_output:") for p in problems), problems


def test_identical_and_multi_turn_and_missing_side(project):
    same = _pair(99, "same", "same")
    same["non_preferred_output"][0]["content"] = same["preferred_output"][0]["content"]
    two = _pair(98)
    two["preferred_output"].append({"role": "assistant", "content": "more"})
    missing = _pair(97)
    del missing["non_preferred_output"]
    problems = _problems(_write(project, [_pair(i) for i in range(12)] + [same, two, missing]))
    assert any(p.startswith("data/pairs.jsonl:13: identical_outputs:") for p in problems), problems
    assert any(p.startswith("data/pairs.jsonl:14: multi_turn_output:") for p in problems), problems
    assert any(p.startswith("data/pairs.jsonl:15: missing_non_preferred_output:") for p in problems), problems


def test_multi_turn_outputs_are_fine_where_the_provider_takes_them(project, tiny_model):
    two = _pair(98)
    two["preferred_output"].append({"role": "assistant", "content": "more"})
    spec = load_spec(_write(project, [_pair(i) for i in range(12)] + [two], provider="local", base_model=tiny_model))
    assert build_dataset(spec, None).counts["train"] + build_dataset(spec, None).counts["validation"] == 13


def test_pairs_need_method_dpo_and_dpo_needs_pairs(project):
    problems = _problems(_write(project, [_pair(i) for i in range(12)], extra=""))
    assert problems[0].startswith("data/pairs.jsonl:1: preference_example: a preference pair trains only with `job.method: dpo`")
    chat = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]} for i in range(12)]
    problems = _problems(_write(project, chat, fmt="chat_jsonl"))
    assert problems[0].startswith("data/pairs.jsonl:1: not_a_preference:")
