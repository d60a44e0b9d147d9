"""``ftspec init`` then ``ftspec build``: the scaffold trains and evaluates offline (issue 20)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def ftspec(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)  # the default scaffold must need no key
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_init_then_build_trains_and_evaluates_offline(tmp_path, tiny_model):
    done = ftspec(tmp_path, "init", "demo", "--base-model", tiny_model)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "demo"
    spec = yaml.safe_load((root / "specs" / "demo.yaml").read_text(encoding="utf-8"))
    assert spec["provider"] == "local" and spec["base_model"] == tiny_model

    built = ftspec(root, "build", "--json", "specs/demo.yaml")
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    assert "demo" in result["specs"] and result["specs"]["demo"]["model"]
    lock = yaml.safe_load((root / "specs" / "demo.lock").read_text(encoding="utf-8"))
    assert "smoke" in lock["evals"]  # the scaffold's eval set ran against the trained model
    report = json.loads((root / lock["evals"]["smoke"]["report"]).read_text(encoding="utf-8"))
    assert len(report["cases"]) == 3

    assert lock["serve"] == {"command": "ftspec serve specs/demo.yaml", "exports": {}}

    exported = ftspec(root, "export", "specs/demo.yaml", "--format", "peft")  # recorded in the lock's serve entry
    assert exported.returncode == 0, exported.stderr
    record = json.loads((root / "exports" / "demo-peft" / "export.json").read_text(encoding="utf-8"))
    lock = yaml.safe_load((root / "specs" / "demo.lock").read_text(encoding="utf-8"))
    assert lock["serve"]["exports"] == {"peft": record["artifact_sha256"]}

    again = ftspec(root, "build", "--json", "specs/demo.yaml")  # incremental: nothing to redo
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == []
    assert yaml.safe_load((root / "specs" / "demo.lock").read_text(encoding="utf-8"))["serve"] == lock["serve"]
