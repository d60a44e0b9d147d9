"""Fixtures for the model-step tests (extract, distill, moderate): the schema-checked loopback
OpenAI server (``tests/graph/fake_openai.py``) and a small project with raw transcripts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402
from generate_helpers import API_KEY, KEY_ENV  # noqa: E402


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
