"""``ftspec gc`` on the local provider: a change that orphans the old model lists it, --yes deletes it.

Real CLI subprocesses, a real git repo, the tiny model trained for real (one epoch, twice).
The store is the local provider's own folder; gc reaches it only through the Provider
protocol (``list_files``/``owns_file``, ``list_models``/``owns_model``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ftspec.testing.tiny_model import write_local_spec


def _spec(project: Path, tiny_model: str, system: str) -> Path:
    spec = write_local_spec(project / "support.yaml", tiny_model, name="support", data="data/support.jsonl",
                            system=system, validation=0.2, batch_size=4)
    return spec


def _ftspec(project: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FTSPEC_LOCAL_STORE": str(store), "FTSPEC_RAISE_ERRORS": ""}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def _lock(project: Path) -> dict:
    return json.loads((project / "support.lock").read_text(encoding="utf-8"))


def test_gc_lists_and_deletes_the_local_model_and_files_a_change_orphaned(tmp_path, tiny_model, store):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"},
                          {"role": "assistant", "content": f"Settings, then Account, then Reset on device {i}."}]}
            for i in range(12)]
    (project / "data" / "support.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True, timeout=60)

    _spec(project, tiny_model, "You are Acme support.")
    first = _ftspec(project, store, "build", "support.yaml")
    assert first.returncode == 0, first.stderr
    old = _lock(project)

    nothing = _ftspec(project, store, "gc", "--json")
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout) == [{"provider": "local", "files": [], "models": [], "deleted": False}]

    _spec(project, tiny_model, "You are Acme support. Be brief.")  # new dataset -> new files, new job, new model
    second = _ftspec(project, store, "build", "support.yaml")
    assert second.returncode == 0, second.stderr
    new = _lock(project)
    assert new["model"] != old["model"]

    listed = _ftspec(project, store, "gc", "--json")
    assert listed.returncode == 0, listed.stderr
    [garbage] = json.loads(listed.stdout)
    assert garbage["provider"] == "local" and garbage["deleted"] is False
    assert garbage["models"] == [old["model"]]
    assert {f["id"] for f in garbage["files"]} == set(old["files"].values()) - set(new["files"].values())
    assert garbage["files"], "the old dataset's uploads are orphaned too"

    text = _ftspec(project, store, "gc")
    assert f"local: unreferenced model {old['model']}" in text.stdout
    assert "run again with --yes" in text.stderr

    deleted = _ftspec(project, store, "gc", "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    [done] = json.loads(deleted.stdout)
    assert done["deleted"] is True and done["models"] == [old["model"]]

    after = _ftspec(project, store, "gc", "--json")
    assert json.loads(after.stdout) == [{"provider": "local", "files": [], "models": [], "deleted": False}]
    models = _ftspec(project, store, "models", "--json")
    assert [r["status"] for r in json.loads(models.stdout)] == ["available"]  # the current model survives
