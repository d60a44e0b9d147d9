"""``ftspec build SPEC --sweep``: two variants trained for real on the tiny model, reused on a rerun,
compared in a table; ``ftspec sweep apply`` writes the winner back; bad sweeps are one-line errors.

Real CLI subprocesses, the local provider's store in tmp_path (conftest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftspec.testing.tiny_model import write_local_spec

EVALS = """\
evals:
  - name: smoke
    cases: data/smoke.jsonl
    baseline: true   # the untuned base model beside each variant
    sampling: {max_tokens: 8, seed: 1}
    scorers:
      - contains: {field: must_include}
"""


def _ftspec(project: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FTSPEC_LOCAL_STORE": str(store), "FTSPEC_RAISE_ERRORS": "",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def project(tmp_path, tiny_model) -> Path:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"},
                          {"role": "assistant", "content": f"Settings, then Account, then Reset on device {i}."}]}
            for i in range(12)]
    (project / "data" / "support.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cases = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"}],
              "must_include": ["Settings"]} for i in range(2)]
    (project / "data" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True, timeout=60)
    spec = write_local_spec(project / "support.yaml", tiny_model, name="support", data="data/support.jsonl",
                            system="You are Acme support.", validation=0.2, batch_size=4)
    text = spec.read_text(encoding="utf-8").replace("  n_epochs: 1\n", "  n_epochs: 1  # one pass is enough here\n")
    spec.write_text(text + EVALS, encoding="utf-8")
    return project


SWEEP = "hyperparameters.learning_rate_multiplier=1,8"


def test_sweep_trains_each_variant_once_compares_and_applies(project, store):
    first = _ftspec(project, store, "build", "support.yaml", "--sweep", SWEEP, "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    rows = {r["variant"]: r for r in result["variants"]}
    assert list(rows) == ["learning_rate_multiplier=1", "learning_rate_multiplier=8"]
    assert sorted(t for t in result["ran"] if t.endswith(".job")) == [
        "support.sweep.learning_rate_multiplier-1.job", "support.sweep.learning_rate_multiplier-8.job"]
    assert "support.dataset" in result["ran"]  # one dataset task, shared
    one, eight = rows["learning_rate_multiplier=1"], rows["learning_rate_multiplier=8"]
    assert one["job_key"] != eight["job_key"] and one["model"] != eight["model"]
    assert one["hyperparameters"]["learning_rate_multiplier"] == 1
    assert eight["hyperparameters"]["learning_rate_multiplier"] == 8
    for row in (one, eight):
        assert row["trained_tokens"] > 0 and row["train_loss"] > 0 and row["valid_loss"] > 0
        smoke = row["evals"]["smoke"]
        assert smoke["base"] is not None and smoke["compared"] == 2
        assert smoke["lift_points"] == round((smoke["tuned"]["pass_rate"] - smoke["base"]["pass_rate"]) * 100, 1)
        assert (project / row["reports"]["smoke"]).is_file()
    assert not (project / "support.lock").exists()  # a sweep never writes the spec's lockfile
    recorded = json.loads((project / "support.sweep.lock").read_text(encoding="utf-8"))
    assert set(recorded["variants"]) == set(rows)
    html = (project / "reports" / "support" / "sweep.html").read_text(encoding="utf-8")
    assert "learning_rate_multiplier=1" in html and "learning_rate_multiplier=8" in html and "lift over base" in html

    again = _ftspec(project, store, "build", "support.yaml", "--sweep", SWEEP, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["ran"] == []  # nothing trained, uploaded or generated again
    assert [r["model"] for r in json.loads(again.stdout)["variants"]] == [one["model"], eight["model"]]
    shown = _ftspec(project, store, "build", "support.yaml", "--sweep", SWEEP)
    assert shown.returncode == 0, shown.stderr
    table = shown.stdout.splitlines()
    assert table[0].split() == ["variant", "train", "loss", "valid", "loss", "tokens", "time", "eval", "smoke"]
    assert [line.split()[0] for line in table[1:]] == list(rows)
    assert f"{one['train_loss']:.4f}" in table[1] and f"{eight['train_loss']:.4f}" in table[2]

    applied = _ftspec(project, store, "sweep", "apply", "support.yaml", "learning_rate_multiplier=8")
    assert applied.returncode == 0, applied.stderr
    text = (project / "support.yaml").read_text(encoding="utf-8")
    assert "  n_epochs: 1  # one pass is enough here\n" in text and "# the untuned base model" in text
    assert "  learning_rate_multiplier: 8\n" in text
    # the spec's own build now is the variant: its job is reused from the receipts, not retrained
    built = _ftspec(project, store, "build", "support.yaml")
    assert built.returncode == 0, built.stderr
    assert f"job already created: {eight['job']}" in built.stderr
    lock = json.loads((project / "support.lock").read_text(encoding="utf-8"))
    assert lock["model"] == eight["model"]
    assert "support: eval 'smoke': base " in built.stdout and "-> fine-tuned " in built.stdout


@pytest.mark.parametrize(("sweep", "expected"), [
    ("hyperparameters.nope=1,2", "--sweep hyperparameters.nope=1,2: 1 is not valid for hyperparameters.nope: "),
    ("hyperparameters.n_epochs=1,0", "--sweep hyperparameters.n_epochs=1,0: 0 is not valid for hyperparameters.n_epochs: "),
    ("hyperparameters.n_epochs=", "--sweep hyperparameters.n_epochs=: empty value list"),
    ("template.system=a,b", "--sweep template.system=a,b: 'template.system' is not a hyperparameter path"),
])
def test_bad_sweeps_are_located_one_line_errors(project, store, sweep, expected):
    done = _ftspec(project, store, "build", "support.yaml", "--sweep", sweep)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "support.sweep.lock").exists()
