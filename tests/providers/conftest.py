"""Fixtures: Together AI and Fireworks AI servers on loopback, checked against each SDK's own types."""

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


FIREWORKS_KEY = "fw-test-SECRET-8c41d2e07b3a9f55"
FIREWORKS_KEY_ENV = "FTSPEC_TEST_FIREWORKS_KEY"
FIREWORKS_ACCOUNT_ENV = "FTSPEC_TEST_FIREWORKS_ACCOUNT"


@pytest.fixture
def fireworks_server():
    pytest.importorskip("fireworks")  # the ``fireworks`` extra (also in ``test``)
    from fake_fireworks import FakeFireworks

    srv = FakeFireworks(api_key=FIREWORKS_KEY).start()
    yield srv
    srv.stop()
    assert srv.violations == [], "requests/responses the fireworks SDK's types reject:\n" + "\n".join(srv.violations)


@pytest.fixture
def fireworks_env(monkeypatch, fireworks_server):
    monkeypatch.setenv(FIREWORKS_KEY_ENV, FIREWORKS_KEY)
    monkeypatch.setenv(FIREWORKS_ACCOUNT_ENV, fireworks_server.account)
    return FIREWORKS_KEY


def fireworks_settings(server, **extra) -> dict:
    return {"base_url": server.url, "api_key_env": FIREWORKS_KEY_ENV, "account_id_env": FIREWORKS_ACCOUNT_ENV,
            "max_retries": 2, "timeout": 5, "poll_interval": 0.01, **extra}
