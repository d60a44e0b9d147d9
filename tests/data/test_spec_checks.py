"""Spec checks owned by the layers above spec, found through ``ftspec.spec.checks``."""

from __future__ import annotations

import pytest

from ftspec.errors import SpecError
from ftspec.spec import load_spec
from ftspec.spec.checks import BUILTIN_CHECKS, registered_checks

PLUGIN = '''
def problems(spec, check_files):
    if "secret" in spec.name:
        return [spec.problem(("name",), "names a secret")]
    return []
'''


@pytest.fixture
def plugin_check(tmp_path, monkeypatch):
    """A real installed distribution (a dist-info on sys.path) registering one spec check."""
    site = tmp_path / "site"
    dist = site / "nosecret_check-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nosecret-check\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[ftspec.spec_checks]\nno_secret = nosecret_check:problems\n",
                                           encoding="utf-8")
    (site / "nosecret_check.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    registered_checks.cache_clear()
    yield
    registered_checks.cache_clear()


def test_builtin_checks_run_in_spec_order():
    assert [name for name, _ in registered_checks()][:len(BUILTIN_CHECKS)] == list(BUILTIN_CHECKS)


def test_each_layer_still_reports_its_own_problem_located(project):
    project.data("good_chat.jsonl")
    path = project.spec("  - path: data/good_chat.jsonl\n    format: chat_jsonll", provider="opnai")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    lines = err.value.lines()
    assert any(line.startswith("spec.yaml:7:13: sources[0].format: unknown format 'chat_jsonll'") for line in lines), lines
    assert any(line.startswith("spec.yaml:3:11: provider: unknown provider 'opnai'") for line in lines), lines


def test_a_plugin_registers_its_own_check(project, plugin_check):
    project.data("good_chat.jsonl")
    path = project.spec("  - path: data/good_chat.jsonl\n    format: chat_jsonl", name="secretbot")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.lines() == ["spec.yaml:2:7: name: names a secret"]
