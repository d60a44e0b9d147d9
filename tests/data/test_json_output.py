"""``--json`` on every reporting command: strict JSON on stdout, errors one line on stderr, exit 1.

Driven through the real entry point (``ftspec.cli.main``) on a project that ``ftspec init`` made.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from ftspec.cli import main
from ftspec.cli.output import dumps


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def strict(text: str):
    """Parse as strict JSON: NaN/Infinity are rejected, as other languages' parsers do."""
    def reject(token: str):
        raise ValueError(f"non-strict JSON constant {token}")
    return json.loads(text, parse_constant=reject)


@pytest.fixture
def scaffold(tmp_path, monkeypatch, capsys) -> Path:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "init", "demo")
    assert code == 0, err
    root = tmp_path / "demo"
    monkeypatch.chdir(root)
    subprocess.run(["git", "init", "-q", "."], cwd=root, check=True)
    return root


def test_every_reporting_command_prints_strict_json(scaffold, capsys):
    spec = "specs/demo.yaml"
    other = scaffold / "specs" / "other.yaml"
    other.write_text((scaffold / spec).read_text().replace("name: demo", "name: other"), encoding="utf-8")

    code, out, _ = run(capsys, "validate", "--json", spec, "specs/other.yaml")
    rows = strict(out)
    assert code == 0 and [r["spec"] for r in rows] == [spec, "specs/other.yaml"]
    assert all(r["ok"] for r in rows) and rows[0]["examples"] == 20
    assert rows[0]["counts"]["train"] + rows[0]["counts"]["validation"] == 20

    code, out, _ = run(capsys, "dataset", "--json", spec)
    data = strict(out)
    assert code == 0 and data["spec"] == "demo" and len(data["dataset_sha256"]) == 64
    train = data["splits"]["train"]
    written = (scaffold / train["path"]).read_text(encoding="utf-8").splitlines()
    assert train["examples"] == len(written) and (scaffold / data["manifest"]).is_file()

    code, out, _ = run(capsys, "review", "--json", spec)
    data = strict(out)
    assert code == 0 and data["total"] == 20 and data["new"] == 20
    assert sum(data["counts"].values()) == 20 and (scaffold / data["decisions"]).is_file()

    code, out, _ = run(capsys, "plan", "--json", spec)
    assert code == 0 and strict(out)["dataset_sha256"]

    code, out, _ = run(capsys, "status", "--json", spec)
    assert code == 0 and strict(out)[0]["spec"] == "demo"

    code, out, _ = run(capsys, "models", "--json")
    assert code == 0 and strict(out) == []


def test_json_stdout_is_only_json_warnings_go_to_stderr(scaffold, capsys):
    code, out, err = run(capsys, "validate", "--json", "specs/demo.yaml")
    assert code == 0 and out.lstrip().startswith("[") and strict(out)
    assert "warning:" not in out and "ok:" not in out
    assert all(line.startswith("warning: ") for line in err.splitlines())


def test_validate_json_reports_failures_as_rows_and_exits_1(scaffold, capsys):
    code, out, err = run(capsys, "validate", "--json", "specs/demo.yaml", "missing.yaml")
    rows = strict(out)
    assert code == 1
    assert [r["ok"] for r in rows] == [True, False]
    assert rows[1] == {"spec": "missing.yaml", "ok": False, "errors": ["missing.yaml: spec file not found"]}
    assert err.splitlines()[-1] == "error: missing.yaml: spec file not found"


@pytest.mark.parametrize("command", ["dataset", "review", "plan"])
def test_bad_spec_with_json_is_one_line_error_exit_1(scaffold, capsys, command):
    (scaffold / "bad.yaml").write_text("ftspec: 1\nname: [unclosed\n", encoding="utf-8")
    code, out, err = run(capsys, command, "--json", "bad.yaml")
    assert code == 1 and out == ""
    assert err.splitlines() == ["error: bad.yaml:3:1: invalid YAML: expected ',' or ']', but got '<stream end>'"]


def test_diff_in_a_repository_with_no_commits_says_what_to_do(scaffold, capsys):
    code, out, err = run(capsys, "diff", "specs/demo.yaml")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: cannot compare with 'HEAD': this git repository has no commits yet",
        "hint: commit the spec and its lockfile first (git add specs/demo.yaml && git commit), "
        "or compare two spec files: ftspec diff A.yaml B.yaml",
    ]


def test_shared_encoder_is_strict_and_plain():
    text = dumps({"b": math.nan, "a": Path("x") / "y.jsonl", "c": (1, math.inf), "é": "ü"})
    assert strict(text) == {"a": "x/y.jsonl", "b": None, "c": [1, None], "é": "ü"}
    assert text.index('"a"') < text.index('"b"')  # sorted keys: stable output to diff


def test_init_provider_choice_makes_its_lines_live_and_comments_the_rest(tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.chdir(tmp_path)
    for provider in ("local", "openai", "azure"):
        code, _, err = run(capsys, "init", provider, "--provider", provider)
        assert code == 0, err
        text = (tmp_path / provider / "specs" / f"{provider}.yaml").read_text(encoding="utf-8")
        assert yaml.safe_load(text)["provider"] == provider
        others = [p for p in ("local", "openai", "azure") if p != provider]
        assert all(f"# provider: {p}" in text for p in others)
    code, _, err = run(capsys, "init", "x", "--provider", "nope")
    assert code == 2 and "Invalid value for '--provider'" in err and "Traceback" not in err
