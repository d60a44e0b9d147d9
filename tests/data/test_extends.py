"""Specs that extend specs: the effective spec (goldens for nested extends), the merge rules,
paths written in a base, and located errors in the file that holds the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftspec.errors import SpecError
from ftspec.spec.loader import load_spec

FIXTURE = Path(__file__).parent / "fixtures" / "extends"


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def errors(spec: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    return info.value.lines()


@pytest.mark.parametrize("name", ["child", "plain"])
def test_show_effective_matches_the_golden(name, tree, cli):
    golden = (tree / "specs" / f"{name}.effective.golden").read_text(encoding="utf-8")
    code, out, err = cli(["validate", "--show-effective", f"specs/{name}.yaml"])
    assert code == 0, err
    assert out.startswith(golden)
    rest = out[len(golden):].splitlines()
    assert len(rest) == 1 and rest[0].startswith(f"ok: specs/{name}.yaml: ")


def test_nested_merge_rules(tree):
    spec = load_spec("specs/child.yaml")
    assert [p.relative_to(tree).as_posix() for p in spec.bases] == ["specs/shared/support.yaml", "specs/shared/root.yaml"]
    assert "extends" not in spec.raw
    # maps merge through two levels; null removes a key
    assert spec.raw["template"] == {"type": "chat", "system": "You are the router support bot."}
    assert spec.raw["hyperparameters"] == {"n_epochs": 3}
    assert spec.raw["split"] == {"validation": 0.25}
    # a plain list replaces; `evals+` replaces same-named items in place and appends the rest
    assert spec.raw["transforms"] == ["dedupe"]
    assert [e["name"] for e in spec.evals] == ["smoke", "tone", "stores"]
    assert spec.evals[1]["scorers"] == [{"not_contains": {"values": ["sorry"]}}]
    # paths written in a base name the files next to the base
    assert [s.name for s in spec.sources] == ["faq", "stores"]
    assert [f.relative_to(tree).as_posix() for s in spec.sources for f in s.files] == [
        "data/faq.jsonl", "data/stores.jsonl"]
    assert spec.raw["evals"][0]["cases"] == "../evals/smoke.jsonl"


def test_json_output_carries_the_effective_spec(tree, cli):
    code, out, err = cli(["validate", "--show-effective", "--json", "specs/child.yaml"])
    assert code == 0, err
    row, = json.loads(out)
    assert row["extends"] == ["specs/shared/support.yaml", "specs/shared/root.yaml"]
    assert row["effective"] == load_spec("specs/child.yaml").raw


def test_base_edit_changes_the_effective_content(tree):
    before = load_spec("specs/child.yaml").sha256
    root = tree / "specs" / "shared" / "root.yaml"
    root.write_text(root.read_text().replace("salt: \"v1\"", "salt: \"v2\""))
    assert load_spec("specs/child.yaml").sha256 == before  # the child removes split.salt
    root.write_text(root.read_text().replace("n_epochs: 2", "n_epochs: 2, learning_rate_multiplier: 0.5"))
    assert load_spec("specs/child.yaml").sha256 != before


def test_bad_key_in_a_base_is_located_in_the_base(tree, cli):
    root = tree / "specs" / "shared" / "root.yaml"
    root.write_text(root.read_text().replace("batch_size: 4", "batch_sise: 4"))
    line = "specs/shared/root.yaml:10:32: hyperparameters.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?)"
    assert errors("specs/plain.yaml") == [line]
    code, _, err = cli(["validate", "specs/child.yaml"])
    assert code == 1 and err.splitlines() == [f"error: {line}"]


def test_bad_value_in_a_mid_base_is_located_there(tree):
    support = tree / "specs" / "shared" / "support.yaml"
    support.write_text(support.read_text().replace("n_epochs: 3", "n_epochs: 0"))
    assert errors("specs/child.yaml") == [
        "specs/shared/support.yaml:3:29: hyperparameters.n_epochs: expected 'auto' or integer (>= 1, <= 50), got integer 0"]


def test_missing_data_file_of_a_base_is_located_in_the_base(tree):
    (tree / "data" / "faq.jsonl").unlink()
    assert errors("specs/child.yaml") == [
        "specs/shared/root.yaml:6:23: sources[0].path: file not found: ../../data/faq.jsonl"]


def test_missing_case_file_of_a_base_is_named_as_the_base_writes_it(tree):
    (tree / "evals" / "smoke.jsonl").unlink()
    assert errors("specs/plain.yaml") == [
        "specs/shared/root.yaml:13:12: evals[0].cases: file not found: ../../evals/smoke.jsonl",
        "specs/shared/root.yaml:18:12: evals[1].cases: file not found: ../../evals/smoke.jsonl"]


def test_cycle_is_located_where_it_closes(tree):
    root = tree / "specs" / "shared" / "root.yaml"
    root.write_text(root.read_text() + "extends: support.yaml\n")
    assert errors("specs/child.yaml") == [
        "specs/shared/root.yaml:21:10: extends: cycle: specs/shared/support.yaml -> specs/shared/root.yaml "
        "-> specs/shared/support.yaml"]
    (tree / "specs" / "self.yaml").write_text("extends: self.yaml\nname: x\n")
    assert errors("specs/self.yaml") == ["specs/self.yaml:1:10: extends: cycle: specs/self.yaml -> specs/self.yaml"]


def test_missing_base_is_located_at_extends(tree):
    (tree / "specs" / "orphan.yaml").write_text("name: orphan\nextends: shared/nope.yaml\n")
    assert errors("specs/orphan.yaml") == ["specs/orphan.yaml:2:10: extends: base spec not found: shared/nope.yaml"]


@pytest.mark.parametrize(("text", "message"), [
    ("extends: [a.yaml]\n", "specs/bad.yaml:1:10: extends: expected the path of a base spec (a string, relative to this file)"),
    ("extends: shared/root.yaml\nname: bad\nsources+: {name: x}\n",
     "specs/bad.yaml:3:11: sources: 'sources+' appends a list to the base's; got a dict"),
    ("extends: shared/root.yaml\nname: bad\ntemplate+: [x]\n",
     "specs/bad.yaml:3:1: template: 'template+' appends to a list, but the base's 'template' is not a list"),
    ("extends: shared/root.yaml\nname: bad\nevals: []\nevals+: []\n",
     "specs/bad.yaml:4:1: evals: both 'evals' and 'evals+' given; use one"),
])
def test_bad_extends_usage_is_one_located_line(tree, text, message):
    (tree / "specs" / "bad.yaml").write_text(text)
    assert errors("specs/bad.yaml") == [message]


def test_syntax_error_in_a_base_is_located_in_the_base(tree):
    (tree / "specs" / "shared" / "broken.yaml").write_text("ftspec: 1\nprovider: [openai\n")
    (tree / "specs" / "bad.yaml").write_text("extends: shared/broken.yaml\nname: bad\n")
    lines = errors("specs/bad.yaml")
    assert len(lines) == 1 and lines[0].startswith("specs/shared/broken.yaml:3:1: invalid YAML")


def test_append_deep_and_onto_a_missing_key(tree):
    (tree / "specs" / "deep.yaml").write_text(
        "extends: shared/root.yaml\nname: deep\nprovider: local\nbase_model: tiny\n"
        "hyperparameters:\n  local:\n    target_modules+: [q_proj]\n"
        "evals+:\n  - {name: smoke, cases: ../evals/smoke.jsonl, scorers: [contains: {}]}\n")
    spec = load_spec("specs/deep.yaml", check_files=False)
    assert spec.raw["hyperparameters"] == {"n_epochs": 2, "batch_size": 4, "local": {"target_modules": ["q_proj"]}}
    assert [e["name"] for e in spec.evals] == ["smoke", "tone"]
    assert spec.evals[0]["scorers"] == [{"contains": {}}]
    assert str(spec.positions.value(("hyperparameters", "local", "target_modules", 0))) == "specs/deep.yaml:7:23"
    assert str(spec.positions.value(("evals", 1, "name"))).startswith("specs/shared/root.yaml:")


def test_diff_reads_the_base_at_the_compared_revision(tree):
    import subprocess

    from ftspec.evals.diff import Side, normalised_spec

    (tree / ".git").rmdir()
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "specs"]):
        subprocess.run(["git", *args], cwd=tree, check=True, capture_output=True)
    root = tree / "specs" / "shared" / "root.yaml"
    root.write_text(root.read_text().replace("n_epochs: 2", "n_epochs: 7"))  # edited, not committed
    head = Side("HEAD", "HEAD", tree, "specs/plain.yaml")
    head.spec_text = head.read("specs/plain.yaml") or ""
    work = Side("working tree", None, tree, "specs/plain.yaml")
    work.spec_text = work.read("specs/plain.yaml") or ""
    assert normalised_spec(head)["hyperparameters"]["n_epochs"] == 2
    assert normalised_spec(work)["hyperparameters"]["n_epochs"] == 7


def test_transform_files_in_a_base_are_rebased(tree):
    from ftspec.spec.extends import compose
    from ftspec.spec.loader import display_path
    from ftspec.spec.yamlpos import load_yaml_with_positions

    (tree / "specs" / "shared" / "gen.yaml").write_text(
        "transforms:\n  - dedupe\n  - extract: {prompt: prompts/qa.txt, few_shot: /abs/shots.jsonl, prompt_text: x}\n")
    child = tree / "specs" / "gen-child.yaml"
    data, pos = load_yaml_with_positions("extends: shared/gen.yaml\nname: g\n", "specs/gen-child.yaml")
    merged, _, bases = compose(data, pos, child, shown=display_path)
    assert merged["transforms"] == ["dedupe", {"extract": {
        "prompt": "shared/prompts/qa.txt", "few_shot": "/abs/shots.jsonl", "prompt_text": "x"}}]
