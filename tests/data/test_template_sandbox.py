"""The system-prompt/prompt Jinja sandbox: no file access, no randomness, bounded work, and
every failure a located error (at the template key when `validate` can see it, at the row
when only real data shows it)."""

from __future__ import annotations

import json

import pytest


def _spec_with_system(project, system: str, source_extra: str = ""):
    return project.chat("good_chat.jsonl", template=f"  type: chat\n  system: {json.dumps(system)}",
                        source_extra=source_extra)


@pytest.mark.parametrize(("system", "message"), [
    ("{% include 'other.txt' %}", "on the template's line 1: {% include %} is not allowed: a spec template cannot read other files"),
    ("{% import 'm.j2' as m %}", "on the template's line 1: {% import %} is not allowed: a spec template cannot read other files"),
    ("{% extends 'base' %}", "on the template's line 1: {% extends %} is not allowed: a spec template cannot read other files"),
    ("a\n{{ range(100)|random }}", "on the template's line 2: 'random' is not allowed: it makes every build different"),
    ("{{ lipsum(1) }}", "on the template's line 1: 'lipsum' is not allowed: it makes every build different"),
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ("{{ name + 1 }}", 'TypeError: can only concatenate str (not "int") to str'),
    ("{{ range(10**9)|length }}", "OverflowError: range() of 1000000000 items is over the limit of 10000"),
    ("{{ 'x' * 10**9 }}", "OverflowError: a repeated value of 1000000000 items is over the limit"),
    ("{{ 7 ** 99999999 }}", "OverflowError: 7 ** 99999999 has about 84509803 digits, over the limit"),
    ("{{ name|center(10**9) }}", "OverflowError: filter 'center' argument 1000000000 is over the limit of 1000000"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep (a macro calling itself?)"),
    ("{{ " + "9" * 5000 + " }}", "template cannot be compiled: Exceeds the limit (4300 digits) for integer string "
     "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit"),
])
def test_validate_refuses_at_the_template_key(project, cli, system, message):
    _spec_with_system(project, system)
    code, out, err = cli(["validate", "spec.yaml"])
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: spec.yaml:11:11: template.system: {message}"]


def test_error_only_real_data_shows_is_a_located_row_error(project, cli):
    # `validate`'s dry run has no existing system message; the row with one divides by zero
    (project.root / "data").mkdir()
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(12)]
    rows[4]["messages"].insert(0, {"role": "system", "content": "be brief"})
    (project.root / "data" / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    project.spec("  - path: data/rows.jsonl\n    format: chat_jsonl\n",
                 template='  type: chat\n  system: "{% if system %}{{ 1 // 0 }}{% endif %}hello"')
    code, _, err = cli(["validate", "spec.yaml"])
    assert code == 1
    assert err.splitlines()[0] == ("error: data/rows.jsonl:5: template.system: ZeroDivisionError: "
                                   "integer division or modulo by zero")
    project.spec("  - path: data/rows.jsonl\n    format: chat_jsonl\n    on_error: skip\n",
                 template='  type: chat\n  system: "{% if system %}{{ 1 // 0 }}{% endif %}hello"')
    code, out, err = cli(["validate", "spec.yaml"])
    assert code == 0, err
    assert "11 examples" in out


def test_deterministic_features_still_work(project, cli):
    _spec_with_system(project, "{{ name|upper }} {{ range(3)|join(',') }} {{ 2 ** 10 }} {{ 7 // 2 }}")
    code, out, err = cli(["validate", "spec.yaml"])
    assert code == 0, err
