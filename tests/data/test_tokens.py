"""Token counting: the cookbook's accounting, base-model encodings, offline vocabulary, engines."""

from __future__ import annotations

import gzip
import hashlib
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftspec.data import tokens
from ftspec.data.tokens import TiktokenCounter, counter_for_model, load_encoding


def notebook_count(encoding, messages) -> int:
    """The cookbook's num_tokens_from_messages, written out."""
    n = 0
    for message in messages:
        n += 3
        for key, value in message.items():
            n += len(encoding.encode(value))
            if key == "name":
                n += 1
    return n + 3


MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "name": "minji", "content": "배송 언제 와요?"},
            {"role": "assistant", "content": "내일 도착합니다."}]


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-nano-2025-04-14", "o200k_base"),
    ("gpt-3.5-turbo-0125", "cl100k_base"), ("babbage-002", "cl100k_base"), ("davinci-002", "cl100k_base"),
    ("ft:gpt-4.1-2025-04-14:acme:support:abc123", "o200k_base"), ("ft:gpt-3.5-turbo-0613:acme::x", "cl100k_base"),
])
def test_encoding_per_base_model_and_cookbook_accounting(model, encoding):
    counter = counter_for_model(model)
    assert counter.name == f"tiktoken:{encoding}" and counter.exact
    assert counter.count_records([{"messages": MESSAGES}]) == [notebook_count(load_encoding(encoding), MESSAGES)]


def test_unknown_model_is_an_estimate():
    counter = counter_for_model("my-llama-3")
    assert counter.exact is False and counter.name == "estimate:tiktoken:o200k_base"


def test_completion_tools_and_weight_accounting():
    enc = load_encoding("o200k_base")
    counter = counter_for_model("gpt-4o-2024-08-06")
    assert counter.count_records([{"prompt": "Hello\n\n###\n\n", "completion": " world END"}]) == [
        len(enc.encode("Hello\n\n###\n\n")) + len(enc.encode(" world END"))]
    tools = [{"type": "function", "function": {"name": "f"}}]
    calls = [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    record = {"messages": [{"role": "assistant", "tool_calls": calls, "weight": 0}], "tools": tools}
    expected = 3 + 3 + len(enc.encode("assistant")) + len(enc.encode(tokens._json(calls))) + len(enc.encode(tokens._json(tools)))
    assert counter.count_records([record]) == [expected]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_bpe_engine_matches_tiktoken(text):
    fast = TiktokenCounter("o200k_base", engine="bpe-openai")
    slow = TiktokenCounter("o200k_base", engine="tiktoken")
    assert fast.count_texts([text, text]) == slow.count_texts([text, text])


def test_engine_totals_identical_on_a_batch():
    records = [{"messages": [{"role": "user", "content": f"질문 {i} with  spaces\n\n and emoji 😀"},
                             {"role": "assistant", "content": "ok " * (i % 7)}]} for i in range(500)]
    assert TiktokenCounter("cl100k_base", engine="bpe-openai").count_records(records) == \
        TiktokenCounter("cl100k_base", engine="tiktoken").count_records(records)


def test_offline_vocabulary_is_placed_with_verified_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.ensure_vocabulary("cl100k_base")
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    placed = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    assert hashlib.sha256(placed.read_bytes()).hexdigest() == tokens.VOCAB_SHA256["cl100k_base"]
    bundled = gzip.decompress(files("bpe_openai").joinpath("data", "cl100k_base.tiktoken.gz").read_bytes())
    assert placed.read_bytes() == bundled


def test_corrupt_cache_file_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    target = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    target.write_bytes(b"garbage")
    tokens.ensure_vocabulary("o200k_base")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == tokens.VOCAB_SHA256["o200k_base"]


def test_no_vocabulary_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokens, "_bundled_vocabulary", lambda name: None)
    monkeypatch.setattr(tokens, "_ENCODINGS", {})
    import tiktoken.load

    def offline(blobpath):
        raise OSError("network is unreachable")

    monkeypatch.setattr(tiktoken.load, "read_file", offline)
    import tiktoken.registry

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    with pytest.raises(tokens.FtspecError) as info:
        tokens.load_encoding("cl100k_base")
    assert info.value.message == ("cannot load the cl100k_base tokenizer: tiktoken could not download it and no "
                                  "verified copy was found in bpe-openai (OSError: network is unreachable)")
