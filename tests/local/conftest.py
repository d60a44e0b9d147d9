"""Fixtures for the local provider: a store in tmp_path (the tiny model is in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("FTSPEC_LOCAL_STORE", str(root))
    return root


def support_records(n: int = 12) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"messages": [
            {"role": "system", "content": "You are Acme support."},
            {"role": "user", "content": f"How do I reset my password on device {i}?"},
            {"role": "assistant", "content": f"Go to Settings, then Account, then Reset password on device {i}."},
        ]})
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def ray_cluster():
    """One real Ray head (2 CPUs, loopback, free ports) shared by every Ray test, stopped at the end."""
    pytest.importorskip("ray", reason="the Ray tests need the ray extra: pip install 'ftspec[ray]'")
    from ftspec.testing.ray_cluster import ray_head

    with ray_head(num_cpus=2) as head:
        yield head
