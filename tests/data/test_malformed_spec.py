"""The malformed-spec corpus: one file per class of hostile or broken YAML, each refused with
exactly one located line and exit 1 (never an internal error, never a traceback)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftspec.cli import main
from ftspec.errors import SpecError
from ftspec.spec.loader import load_spec

CORPUS = Path(__file__).parent / "malformed" / "spec"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_every_corpus_file_has_an_expected_message():
    files = sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".yaml")
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_spec_is_one_located_line(name, tmp_path, monkeypatch, capsys):
    shutil.copy(CORPUS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec(name, check_files=False)
    assert info.value.lines() == [EXPECTED[name]]
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", name])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.splitlines() == [f"error: {EXPECTED[name]}"]


@pytest.mark.parametrize("command", ["plan", "validate", "status"])
def test_non_finite_number_never_reaches_json_output(command, tmp_path, monkeypatch, cli):
    shutil.copy(CORPUS / "nan.yaml", tmp_path / "nan.yaml")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli([command, "nan.yaml", "--json"])
    assert code == 1
    if command == "validate":  # validate --json reports each spec as a row on stdout
        rows = json.loads(out, parse_constant=lambda token: pytest.fail(f"non-strict {token}"))
        assert rows[0]["ok"] is False and rows[0]["errors"] == [EXPECTED["nan.yaml"]]
    else:
        assert out == ""
        assert err.splitlines() == [f"error: {EXPECTED['nan.yaml']}"]


def test_large_legitimate_spec_and_legitimate_aliases_still_load():
    # a 1 MB spec (benchmarks/bench_spec_load.py loads 10 MB) with anchors used within the cap
    from ftspec.spec.yamlpos import load_yaml_with_positions

    entry = "  - {name: s%d, path: data/p%d.jsonl, format: chat_jsonl, on_error: skip}\n"
    text = ("ftspec: 1\nname: big\nbase: &hp {n_epochs: 2}\nhyperparameters: *hp\nsources:\n"
            + "".join(entry % (i, i) for i in range(14_000)))
    assert len(text) > 1_000_000
    data, pos = load_yaml_with_positions(text, "big.yaml")
    assert len(data["sources"]) == 14_000 and data["hyperparameters"] == {"n_epochs": 2}
    assert str(pos.value(("sources", 13_999, "path"))) == f"big.yaml:{5 + 14_000}:26"
