"""Fixtures shared by every test folder: the tiny randomly initialised Gemma-3 model
(built by ``ftspec.testing.tiny_model``, which the benchmarks use too)."""

from __future__ import annotations

import pytest

from ftspec.testing.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-gemma")))
