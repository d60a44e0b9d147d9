"""Fixtures for lineage tests: a git project with the tiny model's parent spec, and a CLI runner
(a real ``ftspec`` subprocess; the local provider's store in tmp_path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ftspec.testing.tiny_model import write_local_spec


def rows(n: int, topic: str) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"How do I {topic} on device {i}?"},
                          {"role": "assistant", "content": f"Settings, then {topic} on device {i}."}]}
            for i in range(n)]


def write_rows(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def project(tmp_path, tiny_model) -> Path:
    """``parent.yaml`` (12 rows) trained on the tiny model, in a git repository."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_rows(project / "data" / "parent.jsonl", rows(12, "reset my password"))
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True, timeout=60)
    write_local_spec(project / "parent.yaml", tiny_model, name="parent", data="data/parent.jsonl",
                     system="You are Acme support.", validation=0.2, batch_size=4)
    return project


@pytest.fixture
def ftspec(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``ftspec(cwd, *args, env={...})``: the CLI as a subprocess with the store in tmp_path."""
    store = tmp_path / "store"

    def run(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        full = {**os.environ, "FTSPEC_LOCAL_STORE": str(store), "FTSPEC_RAISE_ERRORS": "",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
        return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=full,
                              capture_output=True, text=True, timeout=timeout)

    return run


# ---- a real MLflow tracking server on 127.0.0.1 (``ftspec.testing.mlflow_server``) ---------


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow", reason="the tracking tests need mlflow (pip install '.[test]')")
    from ftspec.testing.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture
def doomed_mlflow_server(tmp_path):
    """A second server, for a test that kills it mid-build."""
    pytest.importorskip("mlflow", reason="the tracking tests need mlflow (pip install '.[test]')")
    from ftspec.testing.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path / "mlflow-doomed")
    yield server
    server.stop()
