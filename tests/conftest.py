"""Fixtures shared by every test folder: the tiny randomly initialised Gemma-3 model
(built by ``ftspec.testing.tiny_model``, which the benchmarks use too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftspec.testing.tiny_model import build_tiny_model

# Shutdown dates and the end of OpenAI's new jobs (ftspec.data.shutdown) depend on "today": the
# suite stands on one fixed day, before every cutoff and outside the 90-day warning window, so it
# passes the same next year. Tests about the dates set FTSPEC_TODAY themselves.
PINNED_TODAY = "2026-06-01"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-gemma")))


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch) -> str:
    monkeypatch.setenv("FTSPEC_TODAY", PINNED_TODAY)  # subprocesses (run_cli) inherit it
    return PINNED_TODAY


OPENAPI_SUBSET = Path(__file__).parent / "graph" / "openapi" / "openai-subset.json"


@pytest.fixture(scope="session")
def openai_schema():
    """OpenAI's OpenAPI subset the tests carry, as validators (``ftspec.testing.openapi``)."""
    from ftspec.testing.openapi import SchemaBook

    return SchemaBook(OPENAPI_SUBSET)


@pytest.fixture
def cli(capsys):
    """Run ``ftspec.cli.main`` in-process: ``cli([...]) -> (exit code, stdout, stderr)``."""
    from ftspec.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(args)
        out = capsys.readouterr()
        return info.value.code, out.out, out.err

    return run
