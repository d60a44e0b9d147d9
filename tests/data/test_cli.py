"""CLI: click's runner and the installed ``ftspec`` script; exit codes; lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftspec.cli import cli, main

FTSPEC = Path(sys.executable).parent / "ftspec"


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_validate_ok(project, capsys):
    project.chat("good_chat.jsonl")
    code, out, err = run_main(["validate", "spec.yaml"], capsys)
    assert code == 0
    assert out == "ok: spec.yaml: 12 examples (train 12, validation 0), 204 tokens (exact)\n"
    assert "warning: 12 examples have no system message (first: data/good_chat.jsonl:1)" in err


def test_validate_prints_every_located_error(project, capsys):
    project.chat("bad_json.jsonl")
    code, out, err = run_main(["validate", "spec.yaml"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == ["error: data/bad_json.jsonl:3: invalid JSON: Expecting value (column 15)",
                                "error: spec.yaml:5:1: only 4 training examples (1 row with errors listed above); "
                                "fine-tuning needs at least 10"]


def test_validate_several_specs_reports_all(project, capsys, tmp_path):
    project.chat("bad_no_assistant.jsonl")
    (tmp_path / "empty.yaml").write_text("")
    code, _, err = run_main(["validate", "spec.yaml", "empty.yaml"], capsys)
    assert code == 1
    assert "error: empty.yaml:1:1: spec is empty" in err.splitlines()
    assert "error: data/bad_no_assistant.jsonl:1: example_missing_assistant_message: example has no assistant message (train split)" in err.splitlines()


@pytest.mark.parametrize(("text", "expected"), [
    ("ftspec: 1\nname: [unclosed\n", "error: bad.yaml:3:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("- just\n- a list\n", "error: bad.yaml:1:1: a spec is a mapping of keys (ftspec, name, ...)"),
    ("", "error: bad.yaml:1:1: spec is empty"),
    ("ftspec: 1\nname: Bad Name\nprovider: openai\nbase_model: m\nsources: [{path: x, format: chat_jsonl}]\ntemplate: {type: chat}\n",
     "error: bad.yaml:2:7: name: 'Bad Name' is not a valid name: use lowercase letters, digits, '-' and '_' (at most 64 characters, starting with a letter or digit)"),
    ("ftspec: 1\nname: x\nprovider: openai\nbase_model: m\nsources: [{path: x, format: chat_jsonl}]\ntemplate: {type: chat}\nhyperparameters: {n_epoch: 3}\n",
     "error: bad.yaml:7:19: hyperparameters.n_epoch: unknown key 'n_epoch' (did you mean 'n_epochs'?)"),
])
def test_bad_specs_are_one_located_line(project, capsys, tmp_path, text, expected):
    (tmp_path / "bad.yaml").write_text(text)
    code, _, err = run_main(["validate", "bad.yaml"], capsys)
    assert code == 1
    assert expected in err.splitlines()
    assert "Traceback" not in err


def test_schema_and_file_problems_in_one_run(project, capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "ftspec: 1\nname: x\nprovider: openai\nbase_model: m\nsources: [{path: missing.jsonl, format: chat_jsonl}]\n"
        "template: {type: chat}\nhyperparameters: {n_epoch: 3}\n")
    code, _, err = run_main(["validate", "bad.yaml"], capsys)
    assert code == 1
    assert err.splitlines() == [
        "error: bad.yaml:5:18: sources[0].path: file not found: missing.jsonl",
        "error: bad.yaml:7:19: hyperparameters.n_epoch: unknown key 'n_epoch' (did you mean 'n_epochs'?)",
    ]


def test_missing_spec_file(project, capsys):
    code, _, err = run_main(["validate", "nope.yaml"], capsys)
    assert (code, err) == (1, "error: nope.yaml: spec file not found\n")


def test_dataset_writes_files_and_prints_sha(project, capsys, tmp_path):
    project.chat("good_chat.jsonl")
    (tmp_path / ".git").mkdir()
    code, out, _ = run_main(["dataset", "spec.yaml"], capsys)
    assert code == 0
    train = tmp_path / ".ftspec" / "datasets" / "demo" / "train.jsonl"
    assert out.splitlines()[0] == f".ftspec/datasets/demo/train.jsonl  sha256:{__import__('hashlib').sha256(train.read_bytes()).hexdigest()}  (12 examples)"
    assert (train.parent / "manifest.json").is_file()


def test_plan_json_and_table(project, capsys):
    project.chat("good_chat.jsonl", extra="hyperparameters:\n  n_epochs: auto\n")
    code, out, _ = run_main(["plan", "spec.yaml", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["examples"] == {"train": 12, "validation": 0}
    assert data["epochs"] == 8 and data["billed_tokens"] == 204 * 8  # 100 // 12 epochs
    assert data["estimated_cost_usd"] == round(204 * 8 / 1e6 * 3.0, 4)
    assert data["tokens"]["train"]["p90"] == 17 and data["tokens"]["exact"] is True
    code, out, _ = run_main(["plan", "spec.yaml"], capsys)
    assert code == 0 and "billed tokens" in out and "1,632" in out


def test_plan_unknown_price_is_unknown(project, capsys):
    project.chat("good_chat.jsonl", base_model="my-model", provider="openai")
    code, out, _ = run_main(["plan", "spec.yaml", "--json"], capsys)
    data = json.loads(out)
    assert data["estimated_cost_usd"] is None and data["price_per_1m_training"] is None
    assert data["tokens"]["exact"] is False
    run_main(["plan", "spec.yaml"], capsys)
    code, out, _ = run_main(["plan", "spec.yaml"], capsys)
    assert "unknown" in out and "ESTIMATE" in out


def test_usage_error_exit_2(capsys):
    code, _, _ = run_main(["validate"], capsys)
    assert code == 2


def test_click_runner(project):
    project.chat("good_chat.jsonl")
    result = CliRunner().invoke(cli, ["validate", "spec.yaml"])
    assert result.exit_code == 0 and result.output.startswith("ok: spec.yaml: 12 examples")


def test_init_scaffold_validates_and_plans(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([str(FTSPEC), "init", "shop"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    spec = tmp_path / "shop" / "specs" / "shop.yaml"
    assert spec.read_text().startswith("# yaml-language-server: $schema=../schemas/ftspec.schema.json\n")
    assert len((tmp_path / "shop" / "data" / "shop" / "train.jsonl").read_text().splitlines()) >= 10
    done = subprocess.run([str(FTSPEC), "validate", str(spec)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok: shop/specs/shop.yaml: 20 examples"), done.stderr
    plan = subprocess.run([str(FTSPEC), "plan", str(spec), "--json"], capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0 and json.loads(plan.stdout)["examples"]["train"] >= 10
    again = subprocess.run([str(FTSPEC), "init", "shop"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1
    assert again.stderr == "error: shop/specs/shop.yaml: already exists; ftspec init never overwrites files\n"


def test_installed_script_bad_fixture(project, tmp_path):
    project.chat("bad_missing_content.jsonl")
    result = subprocess.run([str(FTSPEC), "validate", "spec.yaml"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "error: data/bad_missing_content.jsonl:1: missing_content: message 2 (assistant) has no content (train split)")
    assert "Traceback" not in result.stderr


def test_help_imports_no_heavy_modules():
    code = ("import sys; from ftspec.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'openai', 'tiktoken', 'mlflow') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip().splitlines()[-1] == "HEAVY="
    helped = subprocess.run([str(FTSPEC), "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "validate" in helped.stdout
