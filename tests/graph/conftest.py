"""Fixtures: a schema-checked fake OpenAI server on loopback and small specs in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAI  # noqa: E402
from graph_helpers import API_KEY, KEY_ENV, REPO, write_dpo_spec, write_examples, write_spec  # noqa: E402,F401


@pytest.fixture
def server():
    srv = FakeOpenAI(api_key=API_KEY).start()
    yield srv
    srv.stop()
    assert srv.violations == [], "requests/responses that break OpenAI's schema:\n" + "\n".join(srv.violations)


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


def run_cli(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, KEY_ENV: API_KEY, "FTSPEC_RAISE_ERRORS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
