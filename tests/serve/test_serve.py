"""``ftspec serve`` driven by the official ``openai`` client; every answer is schema-checked."""

from __future__ import annotations

import signal
import threading

import httpx
import openai
import pytest

from ftspec.providers.local.chat_format import chat_prompt
from ftspec.providers.local.models import load_tokenizer

from .conftest import Server, eval_sampling


def model_id(project, spec: str = "demo") -> str:
    return project.lock(spec)["model"]


def system_prompt(project) -> str:
    return "You are demo's friendly support assistant. Answer in the user's language."


def ask(client, project, content: str, **kw):
    sampling = {**eval_sampling(project, "demo"), **kw}
    return client.chat.completions.create(model=model_id(project), messages=[{"role": "user", "content": content}],
                                          **sampling)


def test_models_lists_the_locked_model(chat_client, project):
    listed = chat_client.models.list()
    assert [m.id for m in listed.data] == [model_id(project)]
    assert listed.data[0].owned_by == "ftspec" and listed.data[0].object == "model"
    assert chat_client.models.retrieve(model_id(project)).id == model_id(project)


def test_chat_answers_what_ftspec_eval_recorded_with_exact_usage(chat_client, project, tiny_model):
    report = project.report("demo")
    tokenizer = load_tokenizer(tiny_model)
    for case in report["cases"]:
        row = case["results"][0]
        answer = ask(chat_client, project, case["input"][0]["content"])
        choice = answer.choices[0]
        assert choice.message.content.strip() == row["outputs"][0], case["id"]
        assert choice.message.role == "assistant" and choice.message.refusal is None
        assert choice.finish_reason in {"stop", "length"}
        # usage: the model's own tokenizer over the spec's chat template (its system prompt included)
        messages = [{"role": "system", "content": system_prompt(project)}] + case["input"]
        expected_prompt = len(tokenizer(chat_prompt(messages), add_special_tokens=True)["input_ids"])
        assert answer.usage.prompt_tokens == expected_prompt == row["tokens"]["prompt"]
        assert answer.usage.completion_tokens == row["tokens"]["completion"]
        assert answer.usage.total_tokens == expected_prompt + row["tokens"]["completion"]
    # the spec's name is accepted as the model too
    by_name = chat_client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}],
                                                  temperature=0, max_tokens=8)
    assert by_name.model == model_id(project)


def test_streaming_joins_to_the_non_streamed_answer(chat_client, project, schema_check):
    plain = ask(chat_client, project, "Where is my refund?").choices[0]
    chunks = list(ask(chat_client, project, "Where is my refund?", stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    content = [c for c in chunks if c.choices]
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    assert content[-1].choices[0].finish_reason == plain.finish_reason
    assert "".join(c.choices[0].delta.content or "" for c in content) == plain.message.content
    assert len([c for c in content if c.choices[0].delta.content]) > 1  # streamed in pieces, not at the end
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage.completion_tokens > 0
    assert schema_check.streams == 1


def test_n_choices_with_a_seed_are_reproducible(chat_client, project):
    first = ask(chat_client, project, "How do I reset my password?", n=3, temperature=1.0, seed=11)
    again = ask(chat_client, project, "How do I reset my password?", n=3, temperature=1.0, seed=11)
    assert [c.index for c in first.choices] == [0, 1, 2]
    texts = [c.message.content for c in first.choices]
    assert texts == [c.message.content for c in again.choices]
    assert len(set(texts)) > 1  # sampled, not three copies
    assert first.usage.completion_tokens == again.usage.completion_tokens
    streamed = list(ask(chat_client, project, "How do I reset my password?", n=3, temperature=1.0, seed=11,
                        stream=True))
    joined = ["".join(c.choices[0].delta.content or "" for c in streamed if c.choices and c.choices[0].index == i)
              for i in range(3)]
    assert joined == texts


def test_stop_sequence_cuts_the_answer_and_is_not_returned(chat_client, project):
    full = ask(chat_client, project, "What is your return window?").choices[0].message.content
    assert len(full) > 8
    stop = full[5:8]
    cut = full[: full.find(stop)]
    answer = ask(chat_client, project, "What is your return window?", stop=[stop, "never-appears"]).choices[0]
    assert answer.message.content == cut and answer.finish_reason == "stop"
    streamed = list(ask(chat_client, project, "What is your return window?", stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == cut
    assert streamed[-1].choices[0].finish_reason == "stop"


def test_penalties_and_top_p_reach_generation(chat_client, project):
    plain = ask(chat_client, project, "Where is my refund?", max_tokens=24).choices[0].message.content
    penalised = ask(chat_client, project, "Where is my refund?", max_tokens=24, frequency_penalty=2.0,
                    presence_penalty=2.0).choices[0].message.content
    assert penalised != plain
    a = ask(chat_client, project, "hi", temperature=1.0, top_p=0.5, seed=3).choices[0].message.content
    b = ask(chat_client, project, "hi", temperature=1.0, top_p=0.5, seed=3).choices[0].message.content
    assert a == b


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"temperature": 5}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 0}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"frequency_penalty": -3}, "frequency_penalty"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"logprobs": True}, "logprobs"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": []}, "messages"),
])
def test_bad_parameters_are_400_naming_the_parameter(chat_client, project, kwargs, param):
    request = {"model": model_id(project), "messages": [{"role": "user", "content": "hi"}], **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        chat_client.chat.completions.create(**request)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == param and param.split("[")[0] in caught.value.body["message"]


def test_unknown_model_context_length_and_route_errors(chat_client, chat_server, project, schema_check):
    with pytest.raises(openai.NotFoundError) as caught:
        chat_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "model_not_found" and "gpt-4o" in caught.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        chat_client.models.retrieve("gpt-4o")

    with pytest.raises(openai.BadRequestError) as caught:
        chat_client.chat.completions.create(model=model_id(project), max_tokens=600,
                                            messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert body["code"] == "context_length_exceeded"
    prompt_tokens = chat_client.chat.completions.create(
        model=model_id(project), max_tokens=1, messages=[{"role": "user", "content": "hi"}]).usage.prompt_tokens
    assert "maximum context length is 512 tokens" in body["message"]
    assert f"you requested {prompt_tokens + 600} tokens ({prompt_tokens} in the messages, 600" in body["message"]

    with pytest.raises(openai.NotFoundError) as caught:  # a chat model on /v1/completions, as OpenAI answers
        chat_client.completions.create(model=model_id(project), prompt="hi")
    assert "/v1/chat/completions" in caught.value.body["message"]

    with httpx.Client(transport=_transport(schema_check), base_url=chat_server.url, timeout=30) as raw:
        for method, path, content, status in [("POST", "/chat/completions", b"{not json", 400),
                                              ("POST", "/chat/completions", b"[1, 2]", 400),
                                              ("GET", "/nowhere", None, 404),
                                              ("GET", "/chat/completions", None, 405)]:
            answer = raw.request(method, chat_server.url + path, content=content,
                                 headers={"content-type": "application/json"})
            assert answer.status_code == status, answer.text
            assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def _transport(schema_check):
    from .conftest import CheckingTransport

    return CheckingTransport(schema_check)


def test_sixteen_concurrent_clients_are_batched_and_complete(chat_client, chat_server, project):
    questions = [f"Question {i}: how do I reset my password on device {i}?" for i in range(16)]
    expected = {q: ask(chat_client, project, q).choices[0].message.content for q in questions}
    before = chat_server.health()
    answers: dict[str, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(questions))

    def client(i: int, question: str) -> None:
        try:
            barrier.wait(timeout=30)
            if i % 4 == 0:  # a quarter of them stream
                parts = [c.choices[0].delta.content or "" for c in ask(chat_client, project, question, stream=True)
                         if c.choices]
                answers[question] = "".join(parts)
            else:
                answers[question] = ask(chat_client, project, question).choices[0].message.content
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i, q)) for i, q in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert answers == expected  # every client got its own complete answer
    after = chat_server.health()
    assert after["requests"] - before["requests"] == 16
    assert after["batches"] - before["batches"] < 16  # shared batches, not one at a time


def test_a_client_leaving_mid_stream_does_not_break_the_others(chat_client, chat_server, project):
    expected = ask(chat_client, project, "Where is my order?", max_tokens=64).choices[0].message.content
    before = chat_server.health()
    results: dict[str, str] = {}
    started = threading.Event()

    def leaver() -> None:
        stream = ask(chat_client, project, "How do I reset my password?", max_tokens=400, stop=["never-appears"],
                     stream=True)
        for i, _ in enumerate(stream):
            if i == 2:
                started.set()
                break
        stream.close()

    def stayer(key: str, streamed: bool) -> None:
        started.wait(timeout=60)
        if streamed:
            results[key] = "".join(c.choices[0].delta.content or "" for c in
                                   ask(chat_client, project, "Where is my order?", max_tokens=64, stream=True)
                                   if c.choices)
        else:
            results[key] = ask(chat_client, project, "Where is my order?", max_tokens=64).choices[0].message.content

    threads = [threading.Thread(target=leaver)] + [
        threading.Thread(target=stayer, args=(f"c{i}", i % 2 == 0)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results == {f"c{i}": expected for i in range(4)}
    assert ask(chat_client, project, "Where is my order?", max_tokens=64).choices[0].message.content == expected
    assert chat_server.proc.poll() is None
    assert chat_server.health()["cancelled"] - before["cancelled"] == 1  # the leaver's rows were stopped


def test_completion_model_on_v1_completions(completion_server, make_client, project):
    client = make_client(completion_server)
    report = project.report("comp")
    sampling = eval_sampling(project, "comp")
    comp_id = model_id(project, "comp")
    for case in report["cases"]:
        answer = client.completions.create(model=comp_id, prompt=case["input"], **sampling)
        assert answer.choices[0].text.strip() == case["results"][0]["outputs"][0]
        assert answer.usage.prompt_tokens == case["results"][0]["tokens"]["prompt"]
    # a prompt already ending with the template's separator is the same request
    separator = "\n\n###\n\n"
    first = report["cases"][0]
    same = client.completions.create(model=comp_id, prompt=first["input"] + separator, **sampling)
    assert same.choices[0].text.strip() == first["results"][0]["outputs"][0]
    # several prompts: one choice each, in order; streamed pieces join to the same texts
    prompts = [c["input"] for c in report["cases"]]
    many = client.completions.create(model=comp_id, prompt=prompts, **sampling)
    assert [c.index for c in many.choices] == [0, 1]
    assert [c.text.strip() for c in many.choices] == [c["results"][0]["outputs"][0] for c in report["cases"]]
    streamed = list(client.completions.create(model=comp_id, prompt=prompts[0], stream=True, **sampling))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == many.choices[0].text
    # chat requests on a completion model are rendered as the dialogue prompt evals use
    chat = client.chat.completions.create(model=comp_id, messages=[{"role": "user", "content": "hi"}], **sampling)
    assert chat.choices[0].finish_reason in {"stop", "length"}


def test_api_key_is_checked_on_every_request(project, make_client):
    server = Server(project, "specs/demo.yaml", env={"FTSPEC_SERVE_API_KEY": "s3cret-key"})
    try:
        assert "API key required" in "".join(server.stderr)
        for key in ("unused", "s3cret-keyX"):
            client = make_client(server, api_key=key)
            with pytest.raises(openai.AuthenticationError) as caught:
                client.models.list()
            assert caught.value.body["code"] == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
        assert httpx.get(server.url.removesuffix("/v1") + "/health", timeout=10).status_code == 401
        good = make_client(server, api_key="s3cret-key")
        answer = good.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        # the right key is answered; whether the tiny model stops within 4 tokens is its own affair
        assert answer.choices[0].finish_reason in {"stop", "length"} and answer.usage.completion_tokens <= 4
    finally:
        code = server.stop(signal.SIGINT)
    assert code == 0 and "stopped (SIGINT)" in "".join(server.stderr)
    assert "s3cret-key" not in "".join(server.stderr)


@pytest.mark.parametrize("extra", [("--host", "0.0.0.0"), ("--host", "0.0.0.0", "--allow-remote")])
def test_remote_host_needs_the_flag_and_a_key(project, extra):
    from .conftest import ftspec

    done = ftspec(project.root, project.env, "serve", "specs/demo.yaml", *extra, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host 0.0.0.0") and "Traceback" not in done.stderr


def test_unbuilt_spec_and_busy_port_are_one_line_errors(project, chat_server, tmp_path):
    from .conftest import ftspec

    port = chat_server.url.rsplit(":", 1)[1].split("/")[0]
    busy = ftspec(project.root, project.env, "serve", "specs/demo.yaml", "--port", port, timeout=180)
    assert busy.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr.strip().splitlines()[-1]
    (project.root / "specs" / "fresh.yaml").write_text(
        (project.root / "specs" / "comp.yaml").read_text(encoding="utf-8").replace("name: comp", "name: fresh"),
        encoding="utf-8")
    fresh = ftspec(project.root, project.env, "serve", "specs/fresh.yaml", timeout=120)
    assert fresh.returncode == 1 and "Traceback" not in fresh.stderr
    assert "fresh.lock" in fresh.stderr.strip().splitlines()[-1]


def test_the_schema_check_itself_catches_bad_answers(openai_schema):
    from .conftest import SchemaCheck

    check = SchemaCheck(openai_schema)
    good = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null}]}'
    check.stream("/v1/chat/completions", b"data: " + good + b"\n\ndata: [DONE]\n\n", True)
    assert check.violations == [] and check.streams == 1
    bad = good.replace(b'"finish_reason":null', b'"finish_reason":"done"')
    check.stream("/v1/chat/completions", b"data: " + bad + b"\n\n", True)  # bad reason, no [DONE]
    assert any("finish_reason" in v for v in check.violations) and any("[DONE]" in v for v in check.violations)
    check.body("POST", "/v1/chat/completions", 400, b'{"error": {"message": "x"}}')
    assert any("'type' is a required property" in v for v in check.violations)
