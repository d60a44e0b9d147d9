"""Fixtures: a Together AI server on loopback, checked against the together SDK's own types."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("together")  # the ``together`` extra (also in ``test``)

from fake_together import FakeTogether  # noqa: E402

TOGETHER_KEY = "tg-test-SECRET-5d1e0b7c2a9f4e11"
TOGETHER_KEY_ENV = "FTSPEC_TEST_TOGETHER_KEY"


@pytest.fixture
def together_server():
    srv = FakeTogether(api_key=TOGETHER_KEY).start()
    yield srv
    srv.stop()
    assert srv.violations == [], "requests/responses the together SDK's types reject:\n" + "\n".join(srv.violations)


@pytest.fixture
def together_key(monkeypatch):
    monkeypatch.setenv(TOGETHER_KEY_ENV, TOGETHER_KEY)
    return TOGETHER_KEY
