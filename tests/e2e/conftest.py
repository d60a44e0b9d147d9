"""Fixtures for the end-to-end tests: the schema-checked fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))

from e2e_helpers import API_KEY  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402


@pytest.fixture
def server():
    srv = FakeOpenAI(api_key=API_KEY).start()
    yield srv
    srv.stop()
    assert srv.violations == [], "requests/responses that break OpenAI's schema:\n" + "\n".join(srv.violations)
