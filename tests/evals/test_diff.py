"""``ftspec diff`` in a real temporary git repository: spec, dataset, model and eval changes."""

from __future__ import annotations

import json
import subprocess

import pytest
from evals_fake_provider import EvalFakeProvider

from ftspec.cli import main
from ftspec.evals.runner import run_eval_set
from ftspec.lockfile import write_lock
from ftspec.spec.loader import load_spec
from ftspec.util import sha256_file

SPEC = """\
ftspec: 1
name: bot
provider: local
base_model: gemma-3-270m
sources:
  - {{path: ../data/train.jsonl, format: chat_jsonl}}
template:
  type: chat
  system: "{system}"
hyperparameters: {{n_epochs: {epochs}}}
evals:
  - name: smoke
    cases: ../evals/smoke.jsonl
    scorers:
      - contains: {{field: must_include}}
      - similarity: {{threshold: 0.6}}
"""

CASES = [
    {"id": "sockets", "messages": [{"role": "user", "content": "How many sockets?"}],
     "ideal": "The W5500 has 8 sockets.", "must_include": ["8"]},
    {"id": "dhcp", "messages": [{"role": "user", "content": "DHCP 설정은?"}],
     "ideal": "DHCP 클라이언트를 켜고 IP를 받습니다.", "must_include": ["DHCP"]},
]
GOOD = {"How many sockets?": "The W5500 has 8 sockets.", "DHCP 설정은?": "DHCP 클라이언트를 켜고 IP를 받습니다."}
WORSE = {**GOOD, "DHCP 설정은?": "모르겠습니다."}
TRAIN = ['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n',
         '{"messages": [{"role": "user", "content": "SPI mode?"}, {"role": "assistant", "content": "Mode 0 or 3."}]}\n']


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def build(root, *, system, epochs, answers, model, train_lines, baseline=False):
    """What ``ftspec build`` leaves to commit: spec, data, reports and the lockfile."""
    (root / "data" / "train.jsonl").write_text("".join(train_lines), encoding="utf-8")
    spec_path = root / "specs" / "bot.yaml"
    text = SPEC.format(system=system, epochs=epochs)
    if baseline:
        text = text.replace("    scorers:", "    baseline: true\n    scorers:")
    spec_path.write_text(text, encoding="utf-8")
    spec = load_spec(spec_path)
    summary = run_eval_set(spec, spec.evals[0], model, EvalFakeProvider({"answers": answers}), project_root=root)
    write_lock(root / "specs" / "bot.lock", {
        "lock_version": 1, "spec_sha256": spec.sha256, "provider": "local", "base_model": spec.base_model,
        "dataset": {"sha256": sha256_file(root / "data" / "train.jsonl"), "counts": {"train": len(train_lines)},
                    "tokens": {"train": {"total": 10 * len(train_lines)}}},
        "files": {}, "job": {"id": f"job-{model}", "hyperparameters": {"n_epochs": epochs}},
        "model": model, "evals": {"smoke": summary},
    })


@pytest.fixture
def repo(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    for folder in ("data", "specs", "evals"):
        (tmp_path / folder).mkdir()
    (tmp_path / "evals" / "smoke.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES), encoding="utf-8")
    (tmp_path / ".gitignore").write_text(".ftspec/\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    build(tmp_path, system="Answer briefly.", epochs=3, answers=GOOD, model="ft:bot:v1", train_lines=TRAIN[:1])
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v1")
    build(tmp_path, system="Answer in one word.", epochs=5, answers=WORSE, model="ft:bot:v2", train_lines=TRAIN)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v2")
    return tmp_path


def ftspec(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_diff_json_names_spec_keys_model_metrics_and_regressions(repo, capsys):
    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD~1", "HEAD", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    keys = {c["key"]: c for c in result["spec_changes"]}
    assert set(keys) == {"template.system", "hyperparameters.n_epochs"}
    assert (keys["template.system"]["old"], keys["template.system"]["new"]) == ("Answer briefly.", "Answer in one word.")
    assert result["model"] == {"old": "ft:bot:v1", "new": "ft:bot:v2", "changed": True}
    assert result["job"]["new"] == "job-ft:bot:v2"
    smoke = result["evals"]["smoke"]
    assert smoke["metrics"]["pass_rate"] == {"old": 1.0, "new": 0.5, "changed": True, "delta": -0.5}
    assert smoke["metrics"]["scores"]["contains"]["delta"] == -0.5
    assert [r["id"] for r in smoke["regressed"]] == ["dhcp"]
    regressed = smoke["regressed"][0]
    assert regressed["reason"] == "passed -> failed"
    assert regressed["old"]["outputs"] == ["DHCP 클라이언트를 켜고 IP를 받습니다."]
    assert regressed["new"]["outputs"] == ["모르겠습니다."]
    assert smoke["improved"] == []
    assert result["regressions"] == 1
    examples = result["dataset"]["examples"]
    assert [e["at"] for e in examples["added"]] == ["train.jsonl:2"] and examples["removed"] == []
    assert result["dataset"]["tokens"] == {"old": 10, "new": 20, "changed": True, "delta": 10}


def test_fail_on_regression_exit_codes(repo, capsys):
    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD~1", "HEAD", "--fail-on-regression")
    assert code == 1 and err == "error: 1 eval case regressed (--fail-on-regression)\n"
    assert "dhcp: passed -> failed" in out and "1 regressed, 0 improved" in out
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD", "HEAD~1", "--fail-on-regression")
    assert code == 0 and "0 regressed, 1 improved" in out
    # default: HEAD against the (clean) working tree
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "--fail-on-regression")
    assert code == 0 and "spec: unchanged" in out and "model: unchanged (ft:bot:v2)" in out


def test_diff_shows_base_vs_fine_tuned_when_the_set_has_a_baseline(repo, capsys):
    base_answers = {"How many sockets?": "I do not know.", "DHCP 설정은?": "DHCP 클라이언트를 켜고 IP를 받습니다."}
    build(repo, system="Answer in one word.", epochs=5, model="ft:bot:v3", train_lines=TRAIN, baseline=True,
          answers={"gemma-3-270m": base_answers, "ft:bot:v3": WORSE})
    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD", "--format", "json")
    assert code == 0, err
    vs = json.loads(out)["evals"]["smoke"]["base_vs_tuned"]
    assert list(vs) == ["working tree"]  # HEAD's set ran no baseline
    side = vs["working tree"]
    assert (side["base"]["pass_rate"], side["tuned"]["pass_rate"], side["lift_points"]) == (0.5, 0.5, 0.0)
    assert side["better"] == ["sockets"] and side["worse"] == ["dhcp"]
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD")
    assert "base vs fine-tuned at working tree: 50.0% -> 50.0% (+0.0 points)" in out
    assert "better than base: sockets; worse than base: dhcp" in out


def test_markdown_format(repo, capsys):
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD~1", "HEAD", "--format", "markdown")
    assert code == 0
    assert "| `template.system` | Answer briefly. | Answer in one word. |" in out
    assert "| pass_rate | 1 | 0.5 | -0.5 |" in out
    assert "| `dhcp` | passed -> failed |" in out


def test_working_tree_change_is_seen(repo, capsys):
    spec = repo / "specs" / "bot.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("n_epochs: 5", "n_epochs: 6"), encoding="utf-8")
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "--format", "json")
    result = json.loads(out)
    assert [c["key"] for c in result["spec_changes"]] == ["hyperparameters.n_epochs"]
    assert result["old"] == "HEAD" and result["new"] == "working tree"


def test_two_specs_on_their_shared_eval(repo, capsys):
    other = repo / "specs" / "bot2.yaml"
    other.write_text(SPEC.format(system="Other.", epochs=1).replace("name: bot", "name: bot2"), encoding="utf-8")
    spec = load_spec(other)
    summary = run_eval_set(spec, spec.evals[0], "ft:other", EvalFakeProvider({"answers": GOOD}), project_root=repo)
    lock = json.loads((repo / "specs" / "bot.lock").read_text(encoding="utf-8"))
    write_lock(repo / "specs" / "bot2.lock", {**lock, "model": "ft:other", "evals": {"smoke": summary}})
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "specs/bot2.yaml", "--format", "json")
    result = json.loads(out)
    assert code == 0
    assert result["model"]["new"] == "ft:other"
    assert [r["id"] for r in result["evals"]["smoke"]["improved"]] == ["dhcp"]


def test_unknown_revision_and_missing_lockfile_are_one_line(repo, capsys):
    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "nope")
    assert code == 1 and err == "error: unknown revision 'nope' (git cannot resolve it)\n"
    git(repo, "rm", "-q", "specs/bot.lock")
    git(repo, "commit", "-qm", "drop lock")
    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "HEAD")
    assert code == 1
    assert err == ("error: HEAD has no lockfile for specs/bot.yaml (specs/bot.lock); "
                   "build the spec and commit its lockfile first\n")


def _record_v1_baseline(repo) -> None:
    """The v1 model's answers frozen as ``ftspec eval --record-baseline`` writes them."""
    from ftspec.evals.baseline import dumps_baseline

    report = json.loads((repo / "reports" / "bot" / "smoke.json").read_text(encoding="utf-8"))
    (repo / "baselines").mkdir(exist_ok=True)
    (repo / "baselines" / "bot.json").write_text(dumps_baseline({
        "ftspec_baseline": 1, "spec": "bot", "provider": "local", "base_model": "gemma-3-270m",
        "model": "ft:bot:v1", "recorded_on": "2026-06-01",
        "evals": {"smoke": {"cases": report["cases"], "summary": report["summary"]}}}), encoding="utf-8")


def test_two_specs_show_parity_with_the_recorded_baseline(repo, capsys):
    """The new spec names the old model's recorded answers (``baseline:``): diff compares the
    new report with them case by case, calling no model, and gates on the cases that got worse."""
    git(repo, "checkout", "-q", "HEAD~1", "--", "specs", "data", "reports")  # v1 in the working tree
    _record_v1_baseline(repo)
    new_path = repo / "specs" / "bot-new.yaml"
    new_path.write_text(SPEC.format(system="Answer in one word.", epochs=2).replace("name: bot", "name: bot-new")
                        + "baseline: ../baselines/bot.json\n", encoding="utf-8")
    spec = load_spec(new_path)
    fake = EvalFakeProvider({"answers": WORSE})
    summary = run_eval_set(spec, spec.evals[0], "ft:bot-new", fake, project_root=repo)
    assert len(fake.requests) == 2  # only the new model was asked; the baseline is the file
    lock = json.loads((repo / "specs" / "bot.lock").read_text(encoding="utf-8"))
    write_lock(repo / "specs" / "bot-new.lock", {**lock, "model": "ft:bot-new", "evals": {"smoke": summary}})

    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "specs/bot-new.yaml", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["baseline"] == {"file": "baselines/bot.json", "model": "ft:bot:v1", "recorded_on": "2026-06-01"}
    parity = result["evals"]["smoke"]["parity"]
    assert (parity["old"]["pass_rate"], parity["new"]["pass_rate"]) == (1.0, 0.5)
    assert parity["worse"] == ["dhcp"] and parity["better"] == [] and parity["compared"] == 2
    rows = {r["id"]: r for r in parity["cases"]}
    assert rows["sockets"]["change"] == "same"
    assert rows["dhcp"]["old"]["outputs"] == ["DHCP 클라이언트를 켜고 IP를 받습니다."]
    assert rows["dhcp"]["new"]["outputs"] == ["모르겠습니다."]
    assert result["regressions"] == 1

    code, out, err = ftspec(capsys, "diff", "specs/bot.yaml", "specs/bot-new.yaml", "--fail-on-regression")
    assert code == 1 and err == "error: 1 eval case regressed (--fail-on-regression)\n"
    assert "eval smoke: parity with the recorded baseline (baselines/bot.json: ft:bot:v1, recorded 2026-06-01" in out
    assert "pass rate: 100.0% -> 50.0% (2/2 -> 1/2)" in out
    assert "cases worse: 1 (dhcp); better: 0; compared 2" in out
    assert "dhcp [regressed: passed -> failed]" in out and "sockets [same]" in out
    assert "    old: passed" in out and "    new: failed" in out
    code, out, _ = ftspec(capsys, "diff", "specs/bot.yaml", "specs/bot-new.yaml", "--format", "markdown")
    assert code == 0 and "### Eval `smoke`: parity with the recorded baseline" in out
    assert "| pass rate | 100.0% | 50.0% |" in out and "| `dhcp` | regressed: passed -> failed |" in out

    html = (repo / "reports" / "bot-new" / "smoke.html").read_text(encoding="utf-8")
    assert "<section id='parity'><h2>Parity with the recorded baseline (recorded 2026-06-01)</h2>" in html
    assert "<tr class='parity-regressed'><td><b>dhcp</b></td>" in html
    assert "cases worse</td><td></td><td class='bad'>1: dhcp</td>" in html
