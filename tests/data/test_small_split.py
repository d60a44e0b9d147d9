"""Small datasets and the hash split: no validation examples is never silent (issue 20)."""

from __future__ import annotations

import json

import pytest

from ftspec.cli import main
from ftspec.data.split import empty_validation_warning


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def split_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: split.validation:")]


def test_fraction_that_gives_no_validation_example_warns_why(project, capsys):
    project.chat("good_chat.jsonl", extra="split:\n  validation: 0.01\n")
    code, out, err = run(capsys, "validate", "spec.yaml")
    assert code == 0 and "(train 12, validation 0)" in out
    assert split_warnings(err) == [
        "warning: split.validation: 0.01 gave 0 of 12 examples to validation (expected about "
        "0.1; each example's side comes from a hash of its content, so a small dataset can get none); no "
        "validation loss will be reported: add a source with `split: validation`, add examples, or set "
        "split.validation: 0 to say you want none"
    ]
    # the same message in the machine-readable output and in the dataset build
    code, out, _ = run(capsys, "validate", "--json", "spec.yaml")
    assert code == 0 and any(w.startswith("split.validation: 0.01 gave 0 of 12") for w in json.loads(out)[0]["warnings"])
    code, out, err = run(capsys, "dataset", "spec.yaml")
    assert code == 0 and len(split_warnings(err)) == 1


@pytest.mark.parametrize("fraction", ["0", "0.3"])
def test_no_warning_when_none_asked_for_or_some_given(tmp_path, monkeypatch, capsys, fraction):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init", "demo")[0] == 0
    spec = tmp_path / "demo" / "specs" / "demo.yaml"
    spec.write_text(spec.read_text().replace("validation: 0.1", f"validation: {fraction}"), encoding="utf-8")
    code, out, err = run(capsys, "validate", "--json", str(spec))
    row = json.loads(out)[0]
    assert code == 0 and split_warnings(err) == []
    assert row["counts"]["train"] + row["counts"]["validation"] == 20
    assert (row["counts"]["validation"] > 0) == (fraction == "0.3")


def test_no_warning_when_every_source_is_forced_to_train(project, capsys):
    project.chat("good_chat.jsonl", extra="split:\n  validation: 0.01\n", source_extra="    split: train\n")
    code, _, err = run(capsys, "validate", "spec.yaml")
    assert code == 0 and split_warnings(err) == []


def test_rule_is_pure_over_counts():
    assert empty_validation_warning(0.1, {"train": 20, "validation": 0}, True).startswith(
        "split.validation: 0.1 gave 0 of 20 examples to validation (expected about 2.0;")
    assert empty_validation_warning(0.1, {"train": 18, "validation": 2}, True) is None
    assert empty_validation_warning(0.0, {"train": 20, "validation": 0}, True) is None
    assert empty_validation_warning(0.1, {"train": 0, "validation": 0}, True) is None
    assert empty_validation_warning(0.1, {"train": 20, "validation": 0}, False) is None
