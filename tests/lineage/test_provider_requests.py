"""Continued training per hosted provider: what ``JobRequest.continue_from`` becomes, checked
against the official SDKs' own create signatures (the OpenAI form is checked against the
schema-validated fake server in tests/graph/test_openai_provider.py)."""

from __future__ import annotations

import inspect

from ftspec.providers.base import JobRequest

KEY = "0123456789abcdef" * 2


def test_together_sends_from_checkpoint_instead_of_model():
    from together.resources.fine_tuning import FineTuningResource

    from ftspec.providers.together import job_parameters

    request = JobRequest(model="meta-llama/Llama-3.2-1B-Instruct", training_file="file-1", idempotency_key=KEY,
                         continue_from="acct/Llama-3.2-1B-Instruct-support-0123")
    params = job_parameters(request)
    assert params["from_checkpoint"] == "acct/Llama-3.2-1B-Instruct-support-0123" and "model" not in params
    assert set(params) <= set(inspect.signature(FineTuningResource.create).parameters)  # the SDK takes each one


def test_fireworks_sends_warm_start_from_instead_of_base_model():
    from fireworks.resources.supervised_fine_tuning_jobs import SupervisedFineTuningJobsResource

    from ftspec.providers.fireworks import job_parameters

    request = JobRequest(model="accounts/fireworks/models/qwen3-4b", training_file="accounts/a/datasets/d",
                         idempotency_key=KEY, continue_from="accounts/a/models/ftspec-parent")
    params = job_parameters(request, "a", "ftspec-child")
    assert params["warm_start_from"] == "accounts/a/models/ftspec-parent" and "base_model" not in params
    assert set(params) <= set(inspect.signature(SupervisedFineTuningJobsResource.create).parameters)
