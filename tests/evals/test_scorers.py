from __future__ import annotations

import json

import pytest
from evals_fake_provider import EvalFakeProvider
from evals_helpers import write_spec

from ftspec.errors import EvalError, Location, SpecError
from ftspec.evals.cache import EvalCache
from ftspec.evals.cases import Case
from ftspec.evals.runner import _embedder
from ftspec.evals.scorers import SCORERS, ScoreContext
from ftspec.evals.scorers.judge import parse_verdict
from ftspec.spec.loader import load_spec


def case(**data):
    data.setdefault("messages", [{"role": "user", "content": "q"}])
    return Case(id=data.get("id", "c1"), data=data, location=Location("cases.jsonl", 1), tags=data.get("tags", []))


@pytest.fixture
def ctx(project):
    (project / "evals" / "x.jsonl").write_text('{"prompt": "q", "ideal": "a"}\n', encoding="utf-8")
    spec = load_spec(write_spec(project, "- {name: x, cases: ../evals/x.jsonl, scorers: [json_valid: {}]}\n"))
    cache = EvalCache.for_project(project)
    provider = EvalFakeProvider({})
    from ftspec.evals.generate import Generator

    context = ScoreContext(spec=spec, provider=provider, project_root=project,
                           generate=Generator(cache, False).one, embed=_embedder(cache))
    yield context
    cache.close()


def score(ctx, name, options, output, the_case):
    return SCORERS.get(name)(options, ctx).score(output, the_case)


def test_registry_lists_every_scorer():
    assert SCORERS.names() == ["contains", "exact", "field_match", "json_schema", "json_valid", "judge",
                               "language", "length", "not_contains", "python", "regex", "similarity"]


def test_exact(ctx):
    assert score(ctx, "exact", {}, "  Paris ", case(ideal="Paris")).passed
    assert not score(ctx, "exact", {}, "paris", case(ideal="Paris")).passed
    assert score(ctx, "exact", {"ignore_case": True}, "paris", case(ideal=["Lyon", "Paris"])).passed
    assert score(ctx, "exact", {}, "x", case(ideal="y")).score == 0.0


def test_contains_and_not_contains(ctx):
    s = score(ctx, "contains", {}, "Use DHCP and SPI", case(must_include=["dhcp", "SPI", "PHY"]))
    assert (s.passed, round(s.score, 3), s.detail) == (False, 0.667, {"missing": ["PHY"]})
    assert score(ctx, "contains", {"values": ["SPI"]}, "SPI mode 0", case()).passed
    assert not score(ctx, "contains", {"values": ["spi"], "ignore_case": False}, "SPI", case()).passed
    bad = score(ctx, "not_contains", {}, "I am not sure, sorry", case(must_not_include=["sorry", "W6100"]))
    assert (bad.passed, bad.score, bad.detail) == (False, 0.5, {"found": ["sorry"]})
    assert score(ctx, "not_contains", {"values": ["sorry"]}, "Reset the PHY.", case()).passed


def test_regex(ctx):
    assert score(ctx, "regex", {"pattern": r"\b8 sockets?\b"}, "It has 8 sockets.", case()).passed
    assert not score(ctx, "regex", {"pattern": r"^\d+$"}, "eight", case()).passed
    assert score(ctx, "regex", {}, "MAC 00:08:DC:01:02:03", case(regex=r"00:08:DC(:[0-9A-F]{2}){3}")).passed
    broken = score(ctx, "regex", {}, "x", case(regex="("))
    assert broken.error.startswith("invalid regular expression in case 'c1':")


def test_json_valid_and_schema(ctx):
    assert score(ctx, "json_valid", {}, '{"a": 1}', case()).passed
    assert score(ctx, "json_valid", {}, 'Sure:\n```json\n{"a": 1}\n```', case()).passed
    bad = score(ctx, "json_valid", {}, "{a: 1}", case())
    assert not bad.passed and bad.detail["reason"].startswith("not JSON: Expecting property name")
    schema = {"type": "object", "required": ["chip", "sockets"],
              "properties": {"chip": {"type": "string"}, "sockets": {"type": "integer"}}}
    assert score(ctx, "json_schema", {"schema": schema}, '{"chip": "W5500", "sockets": 8}', case()).passed
    wrong = score(ctx, "json_schema", {"schema": schema}, '{"chip": "W5500", "sockets": "8"}', case())
    assert (wrong.passed, wrong.detail) == (False, {"reason": "sockets: '8' is not of type 'integer'"})
    missing = score(ctx, "json_schema", {}, '{"chip": "W5500"}', case(json_schema=schema))
    assert missing.detail == {"reason": "'sockets' is a required property"}


def test_length(ctx):
    assert score(ctx, "length", {"max": 10}, "short", case()).passed
    s = score(ctx, "length", {"min": 3, "unit": "words"}, "two words", case())
    assert (s.passed, s.detail) == (False, {"length": 2, "unit": "words"})


def test_similarity_uses_embeddings_and_threshold(ctx):
    good = score(ctx, "similarity", {"threshold": 0.8}, "The W5500 has 8 sockets.", case(ideal="The W5500 has 8 sockets"))
    far = score(ctx, "similarity", {"threshold": 0.8}, "Bananas are yellow.", case(ideal="The W5500 has 8 sockets"))
    assert good.passed and good.score > 0.9
    assert not far.passed and far.score < 0.5
    best = score(ctx, "similarity", {"threshold": 0.8}, "8 sockets", case(ideal=["yellow fruit", "8 sockets"]))
    assert best.score == pytest.approx(1.0)


def test_similarity_embeddings_are_cached(ctx, fake_provider):
    scorer = SCORERS.get("similarity")({"threshold": 0.5}, ctx)
    scorer.score("hello there", case(ideal="hello"))
    sent = len(fake_provider.EMBED_LOG)
    scorer.score("hello there", case(ideal="hello"))
    assert sent == 2 and len(fake_provider.EMBED_LOG) == 2


def test_judge_keeps_rubric_and_reasoning(ctx):
    rubric = "Correct socket count"
    good = score(ctx, "judge", {"rubric": rubric}, "It has 8 sockets.", case(ideal="8 sockets"))
    assert good.passed and good.score == 0.9
    assert good.detail == {"rubric": rubric, "reasoning": "matches the reference", "judge": "base-1"}
    bad = score(ctx, "judge", {"rubric": rubric, "threshold": 0.5}, "No idea.", case(ideal="8 sockets"))
    assert not bad.passed and bad.detail["reasoning"] == "misses the reference"


def test_judge_verdict_parsing():
    assert parse_verdict('{"reasoning": "ok", "score": 0.7}') == (0.7, "ok")
    assert parse_verdict("score: 1") == (1.0, "score: 1")
    assert parse_verdict("I cannot grade this") == (None, "I cannot grade this")


def test_python_scorer(ctx, project):
    (project / "specs" / "scorers.py").write_text(
        "def ratio(output, case):\n    return len(output) / 10\n"
        "def has_id(output, case):\n    return case['id'] in output\n"
        "def boom(output, case):\n    raise ValueError('no socket count in ' + output)\n"
        "def weird(output, case):\n    return 'yes'\n", encoding="utf-8")
    assert score(ctx, "python", {"function": "scorers.py:has_id"}, "c1 ok", case()).passed
    half = score(ctx, "python", {"function": "scorers.py:ratio", "threshold": 0.6}, "12345", case())
    assert (half.score, half.passed) == (0.5, False)
    boom = score(ctx, "python", {"function": "scorers.py:boom"}, "hi", case())
    assert boom.error == "scorers.py:boom raised ValueError: no socket count in hi"
    weird = score(ctx, "python", {"function": "scorers.py:weird"}, "hi", case())
    assert weird.error == "scorers.py:weird returned str, not a float or bool"
    with pytest.raises(EvalError, match=r"python scorer 'scorers.py:nope': cannot load: AttributeError"):
        score(ctx, "python", {"function": "scorers.py:nope"}, "hi", case())


# ---- bad input through the spec ----------------------------------------------------------------

def _spec_error(project, cases_text, scorers, name="x.jsonl"):
    (project / "evals" / name).write_text(cases_text, encoding="utf-8")
    path = write_spec(project, f"- name: x\n  cases: ../evals/{name}\n  scorers: {scorers}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    return str(err.value)


def test_case_without_input_is_located(project):
    text = '{"prompt": "ok", "ideal": "a"}\n\n{"ideal": "no input"}\n'
    assert _spec_error(project, text, "[exact: {}]") == (
        "evals/x.jsonl:3: case has no input: give 'messages' or 'prompt'")


def test_case_bad_json_and_unknown_key(project):
    text = '{"prompt": "ok", "ideal": "a"}\n{"prompt": "x", "idael": "a"}\n{"prompt": \n'
    assert _spec_error(project, text, "[json_valid: {}]") == (
        "evals/x.jsonl:3:12: invalid JSON: Expecting value")
    text = '{"prompt": "ok", "ideal": "a"}\n{"prompt": "x", "idael": "a"}\n'
    assert _spec_error(project, text, "[json_valid: {}]") == (
        "evals/x.jsonl:2: unknown case key 'idael' (did you mean 'ideal'?)")


def test_scorer_needing_a_missing_field_names_the_case(project):
    text = '{"id": "dhcp-1", "prompt": "q", "ideal": "a", "must_include": ["DHCP"]}\n{"id": "spi-2", "prompt": "q", "ideal": "b"}\n'
    assert _spec_error(project, text, "[contains: {field: must_include}]") == (
        "evals/x.jsonl:2: case 'spi-2': scorer 'contains' needs field 'must_include', which the case lacks")


def test_yaml_and_csv_cases(project):
    (project / "evals" / "y.yaml").write_text(
        "- id: y1\n  prompt: What is DHCP?\n  ideal: Dynamic host configuration\n- id: y2\n  ideal: lost\n",
        encoding="utf-8")
    path = write_spec(project, "- {name: y, cases: ../evals/y.yaml, scorers: [exact: {}]}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == "evals/y.yaml:4:3: case has no input: give 'messages' or 'prompt'"
    (project / "evals" / "c.csv").write_text(
        "id,prompt,ideal,must_include,tags\nc1,Reset?,Toggle RSTn,RSTn|low,en|hw\n", encoding="utf-8")
    spec = load_spec(write_spec(project, "- {name: c, cases: ../evals/c.csv, scorers: [contains: {}]}\n"))
    from ftspec.evals.cases import load_cases

    (only,) = load_cases(spec, 0)
    assert only.data == {"id": "c1", "prompt": "Reset?", "ideal": "Toggle RSTn",
                         "must_include": ["RSTn", "low"], "tags": ["en", "hw"]}


def test_inline_case_without_input_is_located_in_the_spec(project):
    path = write_spec(project, "- name: inline\n  cases:\n    - {ideal: x}\n  scorers: [exact: {}]\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == "specs/bot.yaml:13:9: case has no input: give 'messages' or 'prompt'"


def test_bad_scorer_options_are_spec_errors(project):
    (project / "evals" / "x.jsonl").write_text('{"prompt": "q", "ideal": "a"}\n', encoding="utf-8")
    path = write_spec(project, "- name: x\n  cases: ../evals/x.jsonl\n  scorers:\n"
                               "    - regex: {pattern: '(unclosed'}\n    - json_schema: {path: nope.json}\n"
                               "    - python: {function: 'missing.py:score'}\n    - length: {min: 5, max: 2}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    lines = str(err.value).splitlines()
    assert lines == [
        "specs/bot.yaml:14:26: evals[0].scorers[0].regex.pattern: invalid regular expression: missing ), unterminated subpattern at position 0",
        "specs/bot.yaml:15:29: evals[0].scorers[1].json_schema.path: file not found: nope.json",
        "specs/bot.yaml:16:28: evals[0].scorers[2].python.function: file not found: missing.py",
        "specs/bot.yaml:17:23: evals[0].scorers[3].length.min: min (5) is greater than max (2)",
    ]


def test_python_scorer_raising_errors_the_case_and_the_run_continues(project):
    from ftspec.evals.runner import run_eval_set

    (project / "specs" / "sc.py").write_text(
        "def check(output, case):\n    if case['id'] == 'bad':\n        raise RuntimeError('cannot parse ' + case['id'])\n    return True\n",
        encoding="utf-8")
    (project / "evals" / "x.jsonl").write_text(
        json.dumps({"id": "ok", "prompt": "a"}) + "\n" + json.dumps({"id": "bad", "prompt": "b"}) + "\n"
        + json.dumps({"id": "ok2", "prompt": "c"}) + "\n", encoding="utf-8")
    spec = load_spec(write_spec(project, "- {name: x, cases: ../evals/x.jsonl, scorers: [python: {function: 'sc.py:check'}]}\n"))
    summary = run_eval_set(spec, spec.evals[0], "m", EvalFakeProvider({}), project_root=project)
    assert (summary["passed"], summary["failed"], summary["errored"]) == (2, 0, 1)
    report = json.loads((project / "reports/bot/x.json").read_text(encoding="utf-8"))
    bad = next(c for c in report["cases"] if c["id"] == "bad")["results"][0]
    assert bad["status"] == "errored"
    assert bad["error"] == "python: sc.py:check raised RuntimeError: cannot parse bad"
    assert "cannot parse bad" in (project / "reports/bot/x.html").read_text(encoding="utf-8")


def test_language_reads_hangul_share_and_the_case_tag(ctx):
    ko, en = case(tags=["ko", "phy"]), case(tags=["en"])
    good = score(ctx, "language", {}, "PHYCFGR의 LNK 비트가 1이면 링크가 올라온 상태입니다.", ko)
    assert good.passed and good.detail["detected"] == "ko"
    assert not score(ctx, "language", {}, "The LNK bit of PHYCFGR shows the link.", ko).passed
    assert score(ctx, "language", {}, "Write 1 to the bit in Sn_IR.", en).passed
    wrong = score(ctx, "language", {}, "Sn_IR 레지스터에 1을 쓰세요.", en)
    assert (wrong.passed, wrong.detail["expected"], wrong.detail["detected"]) == (False, "en", "ko")
    assert not score(ctx, "language", {}, "42 ... 7", en).passed  # no letters: no language
    assert score(ctx, "language", {"expect": "ko"}, "네, 됩니다.", case()).passed
    # Hangul below min_hangul counts as English
    assert score(ctx, "language", {"min_hangul": 0.9}, "W5500 칩", en).passed


def test_field_match_scores_each_field(ctx):
    ideal = '{"category": "network", "priority": "high", "product": "W5500", "language": "ko", "reply": "x"}'
    fields = {"fields": ["category", "priority", "product", "language"]}
    right = '{"category": "network", "priority": "High", "product": "W5500", "language": "ko", "reply": "다른 답"}'
    assert score(ctx, "field_match", fields, right, case(ideal=ideal)).passed  # case-blind, reply not compared
    half = score(ctx, "field_match", fields, '{"category": "order", "priority": "low", "product": "W5500", '
                                             '"language": "ko"}', case(ideal=ideal))
    assert (half.passed, half.score) == (False, 0.5)
    assert half.detail == {"wrong": {"category": {"expected": "network", "got": "order"},
                                     "priority": {"expected": "high", "got": "low"}}}
    assert score(ctx, "field_match", {**fields, "threshold": 0.5}, '{"category": "network", "product": "W5500"}',
                 case(ideal=ideal)).passed
    assert not score(ctx, "field_match", {**fields, "ignore_case": False}, right, case(ideal=ideal)).passed
    fenced = score(ctx, "field_match", fields, "```json\n" + ideal + "\n```", case(ideal=ideal))
    assert fenced.passed
    prose = score(ctx, "field_match", fields, "This is a network problem.", case(ideal=ideal))
    assert (prose.passed, prose.score, prose.detail["reason"].startswith("not JSON")) == (False, 0.0, True)
    assert score(ctx, "field_match", fields, "[1, 2]", case(ideal=ideal)).detail == {"reason": "not a JSON object"}


def test_language_and_field_match_bad_cases_are_located(project):
    text = ('{"id": "a", "prompt": "q", "ideal": "x", "tags": ["ko"]}\n'
            '{"id": "b", "prompt": "q", "ideal": "x", "tags": ["phy"]}\n')
    assert _spec_error(project, text, "[language: {}]") == (
        "evals/x.jsonl:2: case 'b': scorer 'language': needs exactly one language tag (ko or en) or the "
        "scorer option 'expect'; the case's tags are ['phy']")
    text = ('{"id": "ok", "prompt": "q", "ideal": "{\\"category\\": \\"order\\"}"}\n'
            '{"id": "prose", "prompt": "q", "ideal": "an order"}\n'
            '{"id": "lacks", "prompt": "q", "ideal": "{\\"priority\\": \\"low\\"}"}\n'
            '{"id": "list", "prompt": "q", "ideal": "[1]"}\n')
    assert _spec_error(project, text, "[field_match: {fields: [category]}]").splitlines() == [
        "evals/x.jsonl:2: case 'prose': scorer 'field_match': its expected answer is not JSON "
        "(Expecting value at column 1)",
        "evals/x.jsonl:3: case 'lacks': scorer 'field_match': its expected answer lacks the field(s) category",
        "evals/x.jsonl:4: case 'list': scorer 'field_match': its expected answer is not a JSON object"]
    assert _spec_error(project, '{"prompt": "q", "ideal": "{\\"a\\": 1}"}\n', "[field_match: {fields: [a, a]}]") == (
        "specs/bot.yaml:13:37: evals[0].scorers[0].field_match.fields: a field is named twice")
    assert "language.expect" in _spec_error(project, '{"prompt": "q", "ideal": "x"}\n', "[language: {expect: fr}]")
