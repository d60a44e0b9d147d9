"""Continued training: ``base_model: {spec: ./parent.yaml}`` trains the parent's model further.

Real CLI subprocesses on the tiny model: building the child builds the parent first; a change to
the parent's data makes ``ftspec status`` say the child is stale because of its parent; the
rebuild trains both, parent first. Bad lineage is a located one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lineage.conftest import rows, write_rows

CHILD = """\
ftspec: 1
name: child
provider: local
base_model: {spec: ./parent.yaml}
sources:
  - {name: faq, path: data/child.jsonl, format: chat_jsonl}
template: {type: chat, system: "You are Acme support."}
split: {validation: 0.2}
hyperparameters:
  n_epochs: 1
  batch_size: 4
  local: {lora_r: 4, seed: 3, target_modules: [q_proj, v_proj]}
"""


def _child(project: Path) -> Path:
    write_rows(project / "data" / "child.jsonl", rows(8, "pair a speaker"))
    path = project / "child.yaml"
    path.write_text(CHILD, encoding="utf-8")
    return path


def _jobs(ran: list[str]) -> list[str]:
    return [t for t in ran if t.endswith(".job")]


def _lock(project: Path, name: str) -> dict:
    return json.loads((project / f"{name}.lock").read_text(encoding="utf-8"))


def test_child_builds_parent_first_and_stales_when_the_parent_retrains(project, ftspec, tmp_path):
    _child(project)
    first = ftspec(project, "build", "child.yaml", "--json")
    assert first.returncode == 0, first.stderr
    assert _jobs(json.loads(first.stdout)["ran"]) == ["parent.job", "child.job"]  # parent first
    parent, child = _lock(project, "parent"), _lock(project, "child")
    assert child["parent"] == {"spec": "parent.yaml", "model": parent["model"]}
    assert child["base_model"] == parent["base_model"] and child["model"] != parent["model"]
    job_id = child["model"].rsplit(":", 1)[1]
    manifest = json.loads((tmp_path / "store" / "models" / job_id / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parent_model"] == parent["model"]  # trained from the parent's adapter
    assert manifest["base_model"] == parent["base_model"]  # one adapter on the original base

    again = ftspec(project, "build", "child.yaml", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == []

    write_rows(project / "data" / "parent.jsonl", rows(14, "reset my password"))
    status = ftspec(project, "status", "child.yaml", "--json")
    assert status.returncode == 0, status.stderr
    (report,) = json.loads(status.stdout)
    job = next(t for t in report["tasks"] if t["task"] == "child.job")
    assert not job["uptodate"] and job["reasons"][0].startswith("parent model changes (parent 'parent': ")
    assert report["summary"].startswith("parent 'parent' stale")
    assert next(t for t in report["tasks"] if t["task"] == "child.dataset")["uptodate"]  # its own data did not change
    text = ftspec(project, "status", "child.yaml")
    assert "parent model changes" in text.stdout

    rebuilt = ftspec(project, "build", "child.yaml", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _jobs(json.loads(rebuilt.stdout)["ran"]) == ["parent.job", "child.job"]
    new_parent, new_child = _lock(project, "parent"), _lock(project, "child")
    assert new_parent["model"] != parent["model"] and new_child["parent"]["model"] == new_parent["model"]
    assert new_child["model"] != child["model"]
    assert json.loads(ftspec(project, "status", "child.yaml", "--json").stdout)[0]["summary"] == "up to date"

    write_rows(project / "data" / "parent.jsonl", rows(13, "reset my password"))  # the parent alone retrains
    assert ftspec(project, "build", "parent.yaml").returncode == 0
    (report,) = json.loads(ftspec(project, "status", "child.yaml", "--json").stdout)
    job = next(t for t in report["tasks"] if t["task"] == "child.job")
    assert f"parent model changed {new_parent['model']!r} -> {_lock(project, 'parent')['model']!r}" in job["reasons"]
    assert report["summary"].startswith("parent model changed")


def test_bad_lineage_is_a_located_error(project, ftspec):
    path = _child(project)
    path.write_text(CHILD.replace("./parent.yaml", "./missing.yaml"), encoding="utf-8")
    done = ftspec(project, "validate", "child.yaml")
    assert done.returncode == 1 and "child.yaml:4:" in done.stderr and "parent spec not found: missing.yaml" in done.stderr
    assert "Traceback" not in done.stderr

    path.write_text(CHILD, encoding="utf-8")  # parent -> child -> parent
    parent = project / "parent.yaml"
    text = parent.read_text(encoding="utf-8")
    base = next(line for line in text.splitlines() if line.startswith("base_model:"))
    parent.write_text(text.replace(base, "base_model: {spec: ./child.yaml}"), encoding="utf-8")
    done = ftspec(project, "validate", "child.yaml")
    assert done.returncode == 1 and "continued-training cycle: child.yaml -> parent.yaml -> child.yaml" in done.stderr
    assert "Traceback" not in done.stderr

    parent.write_text(text.replace("provider: local", "provider: openai"), encoding="utf-8")
    done = ftspec(project, "validate", "child.yaml")
    assert done.returncode == 1 and "child.yaml:4:" in done.stderr
    assert "the parent spec trains on provider 'openai'" in done.stderr


DPO_CHILD = """\
ftspec: 1
name: polite
provider: local
base_model: {spec: ./parent.yaml}
job: {method: dpo}
sources:
  - {name: pairs, path: data/pairs.jsonl, format: preference_jsonl}
template: {type: chat, system: "You are Acme support."}
hyperparameters:
  n_epochs: 1
  batch_size: 4
  beta: 0.2
  local: {seed: 3}
"""


def test_supervised_then_dpo_trains_the_parents_model_against_the_parent(project, ftspec, tmp_path):
    """The common recipe as two specs: DPO on top of the supervised parent. The DPO run starts
    from the parent's adapter and its reference is the parent itself: at step 1 the policy is
    the reference, so the DPO loss is log 2 exactly (against the bare base it would not be)."""
    from ftspec.data.preference import preference_record

    pairs = [preference_record([{"role": "user", "content": f"How do I reset my password on device {i}?"}],
                               f"Thanks for asking! Settings, then reset on device {i}.", f"Settings on device {i}.")
             for i in range(8)]
    write_rows(project / "data" / "pairs.jsonl", pairs)
    (project / "polite.yaml").write_text(DPO_CHILD, encoding="utf-8")
    built = ftspec(project, "build", "polite.yaml", "--json")
    assert built.returncode == 0, built.stderr
    assert _jobs(json.loads(built.stdout)["ran"]) == ["parent.job", "polite.job"]
    parent, child = _lock(project, "parent"), _lock(project, "polite")
    assert child["parent"]["model"] == parent["model"]
    job_id = child["model"].rsplit(":", 1)[1]
    manifest = json.loads((tmp_path / "store" / "models" / job_id / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"] == "dpo" and manifest["parent_model"] == parent["model"]
    assert manifest["metrics"]["first_train_loss"] == pytest.approx(0.6931, abs=1e-3)
    events = (tmp_path / "store" / "jobs" / job_id / "events.jsonl").read_text(encoding="utf-8")
    assert f"continuing from {parent['model']}'s adapter" in events
    assert events.count("reference log-probs of ") == 1  # computed once, before step 1
