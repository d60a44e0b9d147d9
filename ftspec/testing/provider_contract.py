"""The provider contract: pytest checks every provider plugin runs against its own fake server.

ftspec's money-safety rests on a few promises a provider makes (see ``Provider``): what it
uploaded or created under an idempotency key it can find again, a failed or cancelled job is
never handed back for reuse, cancel stops a job, events come oldest first, ``gc`` may
collect what it owns, and a provider whose models need a deployment finds it again by model
and removes it. These checks exercise exactly those promises through the public protocol,
so a third-party provider gets the same guarantees the built-ins do by running them.

Use: subclass ``ProviderContract`` in a test module (name it ``Test...``) and give it a
``harness`` fixture returning a ``ProviderHarness`` bound to your fake server::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def harness(self, my_fake_server, tmp_path):
            return MyHarness(my_fake_server, tmp_path)

Needs pytest (a test dependency, never imported by ftspec itself).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import pytest

from ftspec.providers.base import TERMINAL_STATUSES, Job, JobRequest, Provider, usable_job

JOB_TIMEOUT_S = 240  # bounded: a fake that never finishes a job fails the check, it never hangs
POLL_S = 0.05


class ProviderHarness(Protocol):
    """What a plugin supplies: a provider bound to its fake server and requests it accepts."""

    def provider(self) -> Provider:
        """A fresh provider instance talking to the fake server (closed by the contract)."""

    def training_file(self, folder: Path, name: str) -> Path:
        """A small valid training file written under ``folder``."""

    def job_request(self, file_id: str, key: str, *, long: bool = False) -> JobRequest:
        """A request the fake accepts; ``long=True``: one that stays active long enough to cancel."""

    def failing_job_request(self, provider: Provider, folder: Path, key: str) -> JobRequest:
        """A request (uploading what it needs) for a job the fake will end as ``failed``."""


def wait_done(provider: Provider, job_id: str, timeout: float = JOB_TIMEOUT_S) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = provider.get_job(job_id)
        if job.done:
            return job
        time.sleep(POLL_S)
    raise AssertionError(f"job {job_id} did not reach a terminal status within {timeout} s")


class ProviderContract:
    """The checks; pytest collects them on a ``Test...`` subclass that defines ``harness``."""

    @pytest.fixture
    def harness(self) -> ProviderHarness:  # pragma: no cover - the subclass provides it
        raise NotImplementedError("a ProviderContract subclass must define a `harness` fixture")

    @pytest.fixture
    def provider(self, harness):
        p = harness.provider()
        yield p
        p.close()

    def test_upload_then_find_by_key(self, harness, provider, tmp_path):
        path = harness.training_file(tmp_path, "train.jsonl")
        file = provider.upload(path, idempotency_key="contract-file-1")
        found = provider.find_file("contract-file-1")
        assert found is not None and found.id == file.id
        assert provider.find_file("contract-file-never-used") is None
        listed = {f.id: f for f in provider.list_files()}
        assert file.id in listed and provider.owns_file(listed[file.id])  # gc may collect it
        other = harness.provider()  # another process, same account: still findable
        try:
            again = other.find_file("contract-file-1")
            assert again is not None and again.id == file.id
        finally:
            other.close()

    def test_create_job_then_find_by_key(self, harness, provider, tmp_path):
        file = provider.upload(harness.training_file(tmp_path, "train.jsonl"), idempotency_key="contract-job-file")
        job = provider.create_job(harness.job_request(file.id, "contract-job-1"))
        found = provider.find_job("contract-job-1")
        assert found is not None and found.id == job.id
        assert provider.find_job("contract-job-never-used") is None
        other = harness.provider()  # what a rebuild after a crash sees: a fresh instance finds it
        try:
            again = other.find_job("contract-job-1")
            assert again is not None and again.id == job.id
        finally:
            other.close()
        done = wait_done(provider, job.id)
        assert done.status == "succeeded" and done.fine_tuned_model
        reused = provider.find_job("contract-job-1")
        assert reused is not None and reused.id == job.id  # a succeeded job is reused
        assert done.fine_tuned_model in provider.list_models() and provider.owns_model(done.fine_tuned_model)
        events = provider.list_events(job.id)
        assert events, "a finished job has events"
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)  # oldest first

    def test_failed_job_is_never_reused(self, harness, provider, tmp_path):
        request = harness.failing_job_request(provider, tmp_path, "contract-fail-1")
        job = provider.create_job(request)
        failed = wait_done(provider, job.id)
        assert failed.status == "failed" and not usable_job(failed)
        assert failed.error, "a failed job says why"
        assert provider.find_job("contract-fail-1") is None

    def test_cancel(self, harness, provider, tmp_path):
        if not provider.capabilities.cancel:
            pytest.skip("provider declares no cancel capability")
        file = provider.upload(harness.training_file(tmp_path, "train.jsonl"), idempotency_key="contract-cancel-file")
        job = provider.create_job(harness.job_request(file.id, "contract-cancel-1", long=True))
        after = provider.cancel_job(job.id)
        if after.status not in TERMINAL_STATUSES:  # providers may acknowledge before the job stops
            after = wait_done(provider, job.id)
        assert after.status == "cancelled" and after.fine_tuned_model is None
        assert provider.get_job(job.id).status == "cancelled"
        assert provider.find_job("contract-cancel-1") is None  # a cancelled job is never reused
        # (cancelling a finished job again is not promised: OpenAI answers HTTP 400, so
        # ``ftspec cancel`` checks ``get_job(...).done`` first)

    def test_deployment_found_by_model_and_removed(self, harness, provider, tmp_path):
        """Providers that serve fine-tunes only on deployments (``capabilities.deployment``):
        a second ``deploy`` of the same model finds the first (no second paid endpoint), gc may
        collect it, and ``undeploy`` removes it (twice is not an error)."""
        if not provider.capabilities.deployment:
            pytest.skip("provider serves models without deployments")
        file = provider.upload(harness.training_file(tmp_path, "train.jsonl"), idempotency_key="contract-deploy-file")
        job = wait_done(provider, provider.create_job(harness.job_request(file.id, "contract-deploy-1")).id)
        assert job.status == "succeeded" and job.fine_tuned_model
        first = provider.deploy(job.fine_tuned_model)
        again = harness.provider().deploy(job.fine_tuned_model)  # a rebuild after a crash
        assert again.id == first.id and first.live
        found = provider.find_deployment(job.fine_tuned_model)
        assert found is not None and found.id == first.id and found.model == job.fine_tuned_model
        listed = {d.id: d for d in provider.list_deployments()}
        assert first.id in listed and provider.owns_deployment(listed[first.id])
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while provider.get_deployment(first.id).state != "ready":
            assert time.monotonic() < deadline, "the deployment never became ready"
            time.sleep(POLL_S)
        provider.undeploy(first.id)
        provider.undeploy(first.id)
        assert provider.find_deployment(job.fine_tuned_model) is None
        assert first.id not in {d.id for d in provider.list_deployments()}
