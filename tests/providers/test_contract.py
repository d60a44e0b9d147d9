"""The provider contract (``ftspec.testing.provider_contract``) run for the built-in providers:
OpenAI on the real SDK against the schema-checked loopback fake, local on the tiny model with a
real detached worker per job, Together on the together SDK and Fireworks on the fireworks-ai SDK,
each against its loopback fake checked against the SDK's own types."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ftspec.providers import get_provider
from ftspec.providers.base import JobRequest, Provider
from ftspec.testing.provider_contract import ProviderContract

sys.path.insert(0, str(Path(__file__).parents[1] / "graph"))

from fake_openai import FakeOpenAI  # noqa: E402
from graph_helpers import API_KEY, KEY_ENV  # noqa: E402

ROWS = [{"messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"},
                      {"role": "assistant", "content": f"Settings, then Account, then Reset on device {i}."}]}
        for i in range(64)]


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class OpenAIHarness:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server

    def provider(self) -> Provider:
        return get_provider("openai", {"base_url": self.server.url, "api_key_env": KEY_ENV, "max_retries": 2,
                                       "timeout": 5, "poll_interval": 0.01})

    def training_file(self, folder: Path, name: str) -> Path:
        return _write(folder, name, ROWS[:10])

    def job_request(self, file_id: str, key: str, *, long: bool = False) -> JobRequest:
        if long:
            self.server.hold_next_job = "running"  # stays active until cancelled
        return JobRequest(model="gpt-4o-mini-2024-07-18", training_file=file_id, idempotency_key=key,
                          hyperparameters={"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1.0})

    def failing_job_request(self, provider: Provider, folder: Path, key: str) -> JobRequest:
        file = provider.upload(self.training_file(folder, "fail.jsonl"), idempotency_key=f"{key}-file")
        self.server.fail_next_job = {"code": "invalid_training_file", "message": "line 3 has no assistant",
                                     "param": "training_file"}
        return self.job_request(file.id, key)


class TestOpenAIContract(ProviderContract):
    @pytest.fixture
    def harness(self, monkeypatch):
        monkeypatch.setenv(KEY_ENV, API_KEY)
        server = FakeOpenAI(api_key=API_KEY).start()
        yield OpenAIHarness(server)
        server.stop()
        assert server.violations == [], "requests/responses that break OpenAI's schema:\n" + "\n".join(server.violations)


class LocalHarness:
    def __init__(self, base_model: str) -> None:
        self.base_model = base_model

    def provider(self) -> Provider:
        return get_provider("local", {})

    def training_file(self, folder: Path, name: str) -> Path:
        return _write(folder, name, ROWS[:12])

    def job_request(self, file_id: str, key: str, *, long: bool = False) -> JobRequest:
        return JobRequest(model=self.base_model, training_file=file_id, idempotency_key=key,
                          hyperparameters={"n_epochs": 50 if long else 1, "batch_size": 1 if long else 4,
                                           "learning_rate_multiplier": 1.0},
                          extras={"lora_r": 4, "target_modules": ["q_proj", "v_proj"], "seed": 3})

    def failing_job_request(self, provider: Provider, folder: Path, key: str) -> JobRequest:
        bad = folder / "bad.jsonl"
        bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")  # the worker refuses line 2
        file = provider.upload(bad, idempotency_key=f"{key}-file")
        return self.job_request(file.id, key)


class TestLocalContract(ProviderContract):
    @pytest.fixture
    def harness(self, tmp_path, monkeypatch, tiny_model):
        monkeypatch.setenv("FTSPEC_LOCAL_STORE", str(tmp_path / "store"))
        return LocalHarness(tiny_model)


class FireworksHarness:
    def __init__(self, server) -> None:
        self.server = server

    def provider(self) -> Provider:
        from .conftest import fireworks_settings

        return get_provider("fireworks", fireworks_settings(self.server))

    def training_file(self, folder: Path, name: str) -> Path:
        return _write(folder, name, ROWS[:10])

    def job_request(self, file_id: str, key: str, *, long: bool = False) -> JobRequest:
        self.server.hold_jobs = long  # held RUNNING until cancelled
        return JobRequest(model="accounts/fireworks/models/qwen3-8b", training_file=file_id, idempotency_key=key,
                          hyperparameters={"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 1.0},
                          extras={"hyperparameters": {"lora_rank": 8}})

    def failing_job_request(self, provider: Provider, folder: Path, key: str) -> JobRequest:
        file = provider.upload(self.training_file(folder, "fail.jsonl"), idempotency_key=f"{key}-file")
        self.server.fail_jobs = True
        return self.job_request(file.id, key)


class TestFireworksContract(ProviderContract):
    """Fireworks on the real fireworks-ai SDK against the loopback fake checked against the
    SDK's types (the SIGKILL matrix for it is ``test_fireworks.py::test_sigkill_then_rebuild_pays_once``)."""

    @pytest.fixture
    def harness(self, fireworks_server, fireworks_env):
        return FireworksHarness(fireworks_server)


class TogetherHarness:
    def __init__(self, server) -> None:
        self.server = server

    def provider(self) -> Provider:
        from .conftest import TOGETHER_KEY_ENV

        return get_provider("together", {"base_url": self.server.url, "api_key_env": TOGETHER_KEY_ENV,
                                         "max_retries": 0, "timeout": 5, "poll_interval": 0.02})

    def training_file(self, folder: Path, name: str) -> Path:
        return _write(folder, name, ROWS[:10])

    def job_request(self, file_id: str, key: str, *, long: bool = False) -> JobRequest:
        self.server.hold_jobs = long  # held RUNNING until cancelled
        return JobRequest(model="Qwen/Qwen3-0.6B", training_file=file_id, idempotency_key=key,
                          hyperparameters={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 1.0})

    def failing_job_request(self, provider: Provider, folder: Path, key: str) -> JobRequest:
        file = provider.upload(self.training_file(folder, "fail.jsonl"), idempotency_key=f"{key}-file")
        self.server.fail_jobs = True
        return self.job_request(file.id, key)


class TestTogetherContract(ProviderContract):
    """Together on the real together SDK against the loopback fake checked against the SDK's
    types (its SIGKILL matrix is ``test_together.py``)."""

    @pytest.fixture
    def harness(self, together_server, together_key):
        return TogetherHarness(together_server)
