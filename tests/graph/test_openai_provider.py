"""The OpenAI provider, on the real openai SDK, against the schema-checked loopback server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from fake_openai import Fault

from ftspec.errors import JobFailedError, NeedsKeyError, ProviderError
from ftspec.graph.wait import wait_for_job
from ftspec.providers import get_provider
from ftspec.providers.base import ChatRequest, JobRequest
from ftspec.providers.openai import AzureOpenAIProvider, OpenAIProvider, upload_filename

from .conftest import API_KEY, KEY_ENV


@pytest.fixture
def provider(server, api_key):
    p = get_provider("openai", {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 3,
                                "timeout": 2, "poll_interval": 0.01})
    yield p
    p.close()


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n')
    return path


def _request(file_id: str, key: str = "k1", **kw) -> JobRequest:
    return JobRequest(model="gpt-4o-mini-2024-07-18", training_file=file_id, idempotency_key=key,
                      hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}, **kw)


def test_registered_through_entry_points():
    from ftspec.providers import provider_class

    assert provider_class("openai") is OpenAIProvider
    assert provider_class("azure") is AzureOpenAIProvider


def test_missing_key_names_the_variable(server, monkeypatch):
    monkeypatch.delenv("MY_MISSING_KEY", raising=False)
    p = get_provider("openai", {"base_url": server.url, "api_key_env": "MY_MISSING_KEY"})
    with pytest.raises(NeedsKeyError) as err:
        p.list_files()
    assert err.value.message == "provider 'openai' needs an API key: set the environment variable MY_MISSING_KEY"


def test_wrong_key_is_a_clean_error_without_the_key(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-123")
    p = get_provider("openai", {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 0})
    with pytest.raises(ProviderError) as err:
        p.list_files()
    assert err.value.message == "openai: list files failed: HTTP 401: Incorrect API key provided"
    assert "sk-wrong" not in err.value.message


def test_upload_find_list_delete(provider, server, train_file):
    uploaded = provider.upload(train_file, idempotency_key="abc123")
    assert uploaded.filename == upload_filename("abc123") == "ftspec-abc123.jsonl"
    assert server.contents[uploaded.id] == train_file.read_bytes()
    assert provider.find_file("abc123").id == uploaded.id
    assert provider.find_file("other") is None
    assert [f.id for f in provider.list_files()] == [uploaded.id]
    provider.delete_file(uploaded.id)
    assert provider.find_file("abc123") is None


def test_create_job_sends_method_form_metadata_and_options(provider, server, train_file):
    fid = provider.upload(train_file, idempotency_key="t").id
    vid = provider.upload(train_file, idempotency_key="v").id
    job = provider.create_job(_request(fid, validation_file=vid, suffix="support", seed=7,
                                       metadata={"team": "ml"},
                                       integrations=[{"type": "wandb", "wandb": {"project": "p"}}]))
    obj = server.jobs[job.id].obj
    assert obj["method"]["type"] == "supervised"
    assert obj["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2, "batch_size": 4,
                                                              "learning_rate_multiplier": 0.5}
    assert obj["metadata"] == {"team": "ml", "ftspec_key": "k1"}
    assert (obj["seed"], obj["validation_file"], obj["integrations"][0]["wandb"]["project"]) == (7, vid, "p")
    assert job.status == "validating_files"


def test_dpo_method_carries_beta(provider, server, tmp_path):
    # a DPO job trains on preference lines (the fake server checks them against OpenAI's schema)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"input":{"messages":[{"role":"user","content":"hi"}]},'
                     '"preferred_output":[{"role":"assistant","content":"Hello!"}],'
                     '"non_preferred_output":[{"role":"assistant","content":"yo"}]}\n')
    fid = provider.upload(pairs, idempotency_key="t").id
    req = _request(fid, method="dpo")
    req.hyperparameters["beta"] = 0.2
    job = provider.create_job(req)
    assert server.jobs[job.id].obj["method"]["type"] == "dpo"


def test_auto_hyperparameters_are_left_to_the_provider(provider, server, train_file):
    fid = provider.upload(train_file, idempotency_key="t").id
    job = provider.create_job(_request(fid, requested_hyperparameters={"batch_size": "auto"}))
    assert server.requests.count(("POST", "/fine_tuning/jobs")) == 1
    assert job.hyperparameters["batch_size"] == 1  # the fake server's choice for "auto"


def test_find_job_by_metadata_key_reuses_running_or_succeeded_only(provider, server, train_file):
    fid = provider.upload(train_file, idempotency_key="t").id
    assert provider.find_job("k1") is None
    first = provider.create_job(_request(fid))
    assert provider.find_job("k1").id == first.id
    provider.cancel_job(first.id)
    assert provider.find_job("k1") is None  # a cancelled job is not reused
    assert provider.find_job("other") is None


def test_wait_reports_progress_and_returns_the_model(provider, server, train_file, tmp_path):
    fid = provider.upload(train_file, idempotency_key="t").id
    job = provider.create_job(_request(fid, suffix="s"))
    lines: list[str] = []
    log = tmp_path / "events.jsonl"
    done = wait_for_job(provider, job.id, spec_label="demo", events_log=log, echo=lines.append)
    assert done.status == "succeeded" and done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:fake-org:s:")
    assert any("step 4/4" in line and "train loss 0.2500" in line for line in lines)
    assert lines[-1].startswith("demo: status succeeded")
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(e["type"] == "metrics" for e in events)
    ckpts = provider.list_checkpoints(job.id)
    assert ckpts[0]["fine_tuned_model_checkpoint"].endswith(":ckpt-step-4")


def test_wait_shows_unknown_status_paused(provider, server, train_file):
    server.hold_next_job = "paused"
    fid = provider.upload(train_file, idempotency_key="t").id
    job = provider.create_job(_request(fid))
    lines: list[str] = []
    polls = []

    def sleep(_):
        polls.append(1)
        if len(polls) == 3:
            server.release(job.id)

    done = wait_for_job(provider, job.id, spec_label="demo", echo=lines.append, sleep=sleep, poll_interval=0)
    assert "demo: status paused" in lines
    assert done.status == "succeeded"


def test_failed_job_raises_with_code_message_and_events(provider, server, train_file):
    server.fail_next_job = {"code": "invalid_training_file", "message": "line 3 has no assistant", "param": "training_file"}
    fid = provider.upload(train_file, idempotency_key="t").id
    job = provider.create_job(_request(fid))
    with pytest.raises(JobFailedError) as err:
        wait_for_job(provider, job.id, spec_label="demo", echo=lambda _: None, poll_interval=0.01)
    lines = err.value.message.splitlines()
    assert lines[0] == (f"demo: job {job.id} failed: invalid_training_file: line 3 has no assistant "
                        "(param training_file)")
    assert lines[-1] == "  event [error] Job failed: line 3 has no assistant"


def test_models_list_status_delete(provider, server, train_file):
    fid = provider.upload(train_file, idempotency_key="t").id
    job = wait_for_job(provider, provider.create_job(_request(fid)).id, spec_label="d", echo=lambda _: None,
                       poll_interval=0.01)
    assert provider.list_models() == [job.fine_tuned_model]
    assert provider.model_status(job.fine_tuned_model) == {"exists": True, "shutdown_date": "2027-01-14"}
    provider.delete_model(job.fine_tuned_model)
    assert provider.list_models() == []
    assert provider.model_status(job.fine_tuned_model)["exists"] is False


def test_chat_completions_and_embeddings(provider):
    res = provider.chat(ChatRequest(model="gpt-4o-mini-2024-07-18", messages=[{"role": "user", "content": "ping"}],
                                    n=2, temperature=0.2, top_p=0.9, frequency_penalty=0.1, presence_penalty=0.1,
                                    max_tokens=16, stop=["\n"], seed=1))
    assert res.choices == ["echo: ping", "echo: ping"] and res.finish_reasons == ["stop", "stop"]
    assert (res.prompt_tokens, res.completion_tokens) == (5, 6)
    legacy = provider.chat(ChatRequest(model="babbage-002", prompt="Q: hi\n\n###\n\n", stop=[" END"]))
    assert legacy.choices == [" done"]
    vectors = provider.embed(["a", "b"])
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]


@pytest.mark.parametrize("kind", ["429", "500", "drop"])
def test_transient_faults_are_retried(provider, server, train_file, kind):
    server.faults.append(Fault(kind=kind, method="POST", path_prefix="/files", count=2))
    uploaded = provider.upload(train_file, idempotency_key="retry")
    assert server.count("POST", "/files") == 3
    assert server.uploads_named(uploaded.filename) == 1


def test_slow_response_times_out_then_retries(server, api_key, train_file):
    p = get_provider("openai", {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 2, "timeout": 0.3})
    server.faults.append(Fault(kind="slow", method="GET", path_prefix="/files", count=1, delay=1.0))
    assert p.list_files() == []
    assert server.count("GET", "/files") == 2


def test_faults_beyond_retries_become_one_line_errors(server, api_key):
    p = get_provider("openai", {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 1})
    server.faults.append(Fault(kind="500", count=5))
    with pytest.raises(ProviderError) as err:
        p.list_models()
    assert err.value.message == "openai: list models failed: HTTP 500: server error"


def test_azure_provider_uses_endpoint_and_api_version(server, api_key, train_file):
    p = get_provider("azure", {"endpoint": server.url.removesuffix("/v1"), "api_version": "2025-04-01-preview",
                               "api_key_env": KEY_ENV})
    uploaded = p.upload(train_file, idempotency_key="az")
    assert p.find_file("az").id == uploaded.id
    assert p.chat(ChatRequest(model="gpt-4o-mini-2024-07-18", messages=[{"role": "user", "content": "x"}])).choices == ["echo: x"]


def test_azure_without_endpoint_is_a_clear_error(api_key):
    with pytest.raises(ProviderError) as err:
        get_provider("azure", {"api_key_env": KEY_ENV}).list_files()
    assert err.value.message == "provider 'azure' needs providers.azure.endpoint in the spec"


def test_server_rejects_requests_that_break_the_schema(server):
    req = urllib.request.Request(f"{server.url}/fine_tuning/jobs", method="POST",
                                 data=json.dumps({"model": "gpt-4o-mini-2024-07-18"}).encode(),
                                 headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    assert server.violations == ["request POST /fine_tuning/jobs: <root>: 'training_file' is a required property"]
    server.violations.clear()  # this test provoked it on purpose


def test_gc_candidates_come_from_the_provider_not_a_file_prefix(provider, server, train_file):
    uploaded = provider.upload(train_file, idempotency_key="gc")
    assert provider.owns_file(uploaded)
    assert not provider.owns_model("gpt-4o-mini-2024-07-18") and provider.owns_model("ft:gpt-4o-mini:org::x")


def test_status_errors_carry_status_and_retryable(server, api_key):
    p = get_provider("openai", {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 0})
    server.faults.append(Fault(kind="429", count=1))
    with pytest.raises(ProviderError) as err:
        p.list_models()
    assert (err.value.status, err.value.retryable, err.value.retry_after) == (429, True, 0.01)
    assert server.count("GET", "/models") == 1  # the SDK does not retry behind ftspec's back


def test_continued_training_sends_the_fine_tuned_model_as_model(provider, server, train_file):
    fid = provider.upload(train_file, idempotency_key="t").id
    first = provider.create_job(_request(fid, suffix="parent"))
    parent = wait_for_job(provider, first.id, spec_label="parent", echo=lambda _: None).fine_tuned_model
    job = provider.create_job(_request(fid, key="k-child", continue_from=parent))
    assert server.jobs[job.id].obj["model"] == parent  # OpenAI trains a fine-tuned model again
    done = wait_for_job(provider, job.id, spec_label="child", echo=lambda _: None)
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:fake-org:")
