"""Makes conv_helpers importable (importlib mode) and provides the cwd-in-tmp fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path so shown paths are the bare fixture names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
