"""The example eval sets and training data of specs/support.yaml: they load with their scorers,
the triage data has the shape it teaches, the eval tickets are held out, and the scorers pass
the ideal answers and fail hand-written bad ones."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from ftspec.evals.cases import load_cases
from ftspec.evals.runner import build_scorers
from ftspec.evals.scorers import ScoreContext
from ftspec.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
TRIAGE_KEYS = ["category", "priority", "product", "language", "reply"]


def _make_triage():
    spec = importlib.util.spec_from_file_location("make_triage", REPO / "tools" / "make_triage.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def support():
    return load_spec(REPO / "specs" / "support.yaml")


def _sets(spec):
    return {ev["name"]: (i, ev) for i, ev in enumerate(spec.evals)}


def _scorers(spec, name):
    index, _ = _sets(spec)[name]
    return load_cases(spec, index), build_scorers(spec, index, ScoreContext(spec=spec))


def _verdict(scorers, output, case):
    return all(scorer.score(output, case).passed for _, scorer in scorers)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_set_runs_beside_the_base_model(support):
    sets = _sets(support)
    assert list(sets) == ["smoke", "style", "scope", "triage"]
    assert all(ev.get("baseline") is True for _, ev in sets.values())
    smoke = load_cases(support, sets["smoke"][0])
    assert len(smoke) >= 20 and {"ko", "en"} <= {t for c in smoke for t in c.tags}
    assert all(c.get("must_include") and c.ideal for c in smoke)
    # style reads the smoke questions with the same sampling, so it costs no new generation
    assert sets["style"][1]["cases"] == sets["smoke"][1]["cases"]
    assert sets["style"][1]["sampling"] == sets["smoke"][1]["sampling"]


def test_triage_files_are_what_the_generator_writes():
    assert _make_triage().main(["--check"]) == 0


def test_triage_training_rows_have_the_taught_shape():
    make = _make_triage()
    rows = _jsonl(REPO / "data" / "support" / "triage.jsonl")
    assert len(rows) >= 60
    for row in rows:
        user, assistant = row["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].startswith(make.INSTRUCTION + "\n")
        answer = json.loads(assistant["content"])
        assert list(answer) == TRIAGE_KEYS  # one key order, compact: what the model learns to write
        assert assistant["content"] == json.dumps(answer, ensure_ascii=False)
        assert answer["product"] in user["content"]
        assert answer["reply"] == make.REPLIES[answer["category"]][answer["language"]].format(p=answer["product"])
        hangul = bool(re.search("[\uac00-\ud7a3]", user["content"]))
        assert answer["language"] == ("ko" if hangul else "en")
    labels = [json.loads(r["messages"][1]["content"]) for r in rows]
    for key, values in (("category", make.CATEGORIES), ("priority", make.PRIORITIES), ("language", ["ko", "en"])):
        assert {a[key] for a in labels} == set(values), key


def _template(text: str, products: list[str]) -> str:
    for product in products:
        text = text.replace(product, "{p}")
    return text


def test_eval_tickets_are_held_out():
    make = _make_triage()
    train = [r["messages"][0]["content"] for r in _jsonl(REPO / "data" / "support" / "triage.jsonl")]
    cases = _jsonl(REPO / "evals" / "support" / "triage.jsonl")
    assert len(cases) >= 20
    held = [c["messages"][0]["content"] for c in cases]
    assert not set(held) & set(train)
    # no eval ticket is a training ticket with the product swapped ...
    assert not {_template(t, make.PRODUCTS) for t in held} & {_template(t, make.PRODUCTS) for t in train}
    # ... and none uses a problem sentence a training ticket uses
    train_templates = {_template(t, make.PRODUCTS) for t in train}
    for category in make.PROBLEMS.values():
        for problems in category.values():
            for problem in problems:
                in_train = any(problem in t for t in train_templates)
                in_eval = any(problem in _template(t, make.PRODUCTS) for t in held)
                assert not (in_train and in_eval), problem
    eval_categories = {json.loads(c["ideal"])["category"] for c in cases}
    assert eval_categories == set(make.CATEGORIES)


def test_triage_scorers_on_good_and_bad_answers(support):
    cases, scorers = _scorers(support, "triage")
    assert [label for label, _ in scorers] == ["json_schema", "field_match"]
    assert all(_verdict(scorers, c.ideal, c) for c in cases)
    case = cases[0]
    ideal = json.loads(case.ideal)
    other = next(c for c in ["network", "hardware", "firmware", "order"] if c != ideal["category"])
    wrong_category = json.dumps({**ideal, "category": other}, ensure_ascii=False)
    unknown_priority = json.dumps({**ideal, "priority": "critical"}, ensure_ascii=False)
    missing_reply = json.dumps({k: v for k, v in ideal.items() if k != "reply"}, ensure_ascii=False)
    for bad in (wrong_category, unknown_priority, missing_reply, "This is a network problem, high priority.",
                case.input_text()):
        assert not _verdict(scorers, bad, case), bad


def test_scope_and_style_scorers_on_good_and_bad_answers(support):
    cases, scorers = _scorers(support, "scope")
    assert len(cases) >= 8 and {"ko", "en"} == {t for c in cases for t in c.tags if t in ("ko", "en")}
    assert all(_verdict(scorers, c.ideal, c) for c in cases)
    en = next(c for c in cases if "en" in c.tags)
    ko = next(c for c in cases if "ko" in c.tags)
    assert not _verdict(scorers, ko.ideal, en)  # a refusal in the wrong language
    assert not _verdict(scorers, "Sure! Here is a poem about the weather in Seoul.", en)
    smoke, style = _scorers(support, "style")
    assert all(_verdict(style, c.ideal, c) for c in smoke)
    question_ko = next(c for c in smoke if "ko" in c.tags)
    question_en = next(c for c in smoke if "en" in c.tags)
    assert not _verdict(style, question_en.ideal, question_ko)  # right facts, wrong language
    assert not _verdict(style, en.ideal, question_en)  # refusing an in-scope question
    assert not _verdict(style, question_en.ideal + " " + "Also check the wiring. " * 10, question_en)  # rambling
