from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import evals_fake_provider  # noqa: E402

from ftspec import providers  # noqa: E402


@pytest.fixture(autouse=True)
def fake_provider():
    """Register the in-process provider under ``evalfake`` and reset its request log."""
    providers._entry_points()["evalfake"] = "evals_fake_provider:EvalFakeProvider"
    evals_fake_provider.LOG.clear()
    evals_fake_provider.EMBED_LOG.clear()
    yield evals_fake_provider
    evals_fake_provider.LOG.clear()
    providers._entry_points().pop("evalfake", None)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a .git marker, one training file and a spec writer."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "evals").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n',
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path

