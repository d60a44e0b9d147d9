"""Gemma turn format, loss masks and exact token counts against the model's own tokenizer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftspec.providers import get_provider
from ftspec.providers.local import models
from ftspec.providers.local.chat_format import RecordEncoder, chat_prompt, render_record

from .conftest import support_records, write_jsonl

CHAT = {"messages": [
    {"role": "system", "content": "You are Acme support."},
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "Track it under Orders.", "weight": 0},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "Happy to help."},
]}
COMPLETION = {"prompt": "Refund policy:", "completion": " 30 days."}


def test_chat_rendering_uses_gemma_turns():
    text = render_record(CHAT, "<eos>")
    assert text == (
        "<start_of_turn>user\nYou are Acme support.\n\nWhere is my order?<end_of_turn>\n"
        "<start_of_turn>model\nTrack it under Orders.<end_of_turn>\n"
        "<start_of_turn>user\nThanks<end_of_turn>\n"
        "<start_of_turn>model\nHappy to help.<end_of_turn>\n"
    )
    assert chat_prompt([{"role": "user", "content": "Hi"}]) == (
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    )


def test_token_counts_are_exact(tiny_model):
    tok = models.load_tokenizer(tiny_model)
    counter = get_provider("local", {}).token_counter(tiny_model)
    assert counter.exact is True and tiny_model in counter.name
    expected = [len(tok(render_record(r, tok.eos_token)).input_ids) for r in (CHAT, COMPLETION)]
    assert counter.count_records([CHAT, COMPLETION]) == expected
    assert counter.count_texts(["Where is my order?", ""]) == [
        len(tok("Where is my order?", add_special_tokens=False).input_ids), 0,
    ]


def test_loss_mask_covers_only_weighted_assistant_tokens(tiny_model):
    tok = models.load_tokenizer(tiny_model)
    chat, completion = RecordEncoder(tok).encode([CHAT, COMPLETION])
    trained = tok.decode([t for t, keep in zip(chat.input_ids, chat.trainable, strict=True) if keep])
    assert trained == "Happy to help.<end_of_turn>"  # weight 0 turn and user turns excluded
    trained = tok.decode([t for t, keep in zip(completion.input_ids, completion.trainable, strict=True) if keep])
    assert trained == " 30 days.<eos>"
    assert chat.input_ids[0] == tok.bos_token_id and not chat.trainable[0]


def test_model_info_reads_context_length_from_config(tiny_model):
    info = get_provider("local", {}).model_info(tiny_model)
    assert info.context_limit == 512 and info.exact_tokens is True


@pytest.mark.parametrize(("base", "message"), [
    ("./no/such/folder", "base model folder not found: ./no/such/folder"),
    ("missing.gguf", "base model file not found: missing.gguf"),
    ("not a model", "unknown local base model 'not a model'; use 'gemma-3-270m' or 'smollm2-135m', a model folder, a .gguf file or a Hub id"),
])
def test_bad_base_model_is_one_line(base, message):
    from ftspec.errors import ProviderError

    with pytest.raises(ProviderError) as err:
        models.resolve_base(base)
    assert str(err.value) == message


def test_folder_without_config_is_rejected(tmp_path):
    from ftspec.errors import ProviderError

    with pytest.raises(ProviderError, match="has no config.json"):
        models.resolve_base(str(tmp_path))




def test_missing_extra_gives_one_line_install_hint():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'peft':\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ftspec.providers import provider_class\n"
        "from ftspec.errors import ProviderNotFoundError\n"
        "try:\n"
        "    provider_class('local')\n"
        "except ProviderNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "provider 'local' is not installed (peft); run: pip install 'ftspec[local]'"


def _local_spec(tmp_path: Path, base_model: str) -> Path:
    write_jsonl(tmp_path / "train.jsonl", support_records(4))
    spec = tmp_path / "spec.yaml"
    spec.write_text("ftspec: 1\nname: tok\nprovider: local\n"
                    f"base_model: {base_model}\n"
                    "sources:\n  - {name: faq, path: train.jsonl, format: chat_jsonl}\n"
                    "template: {type: chat}\n", encoding="utf-8")
    return spec


def _validate(spec: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftspec", "validate", str(spec)], capture_output=True,
                          text=True, timeout=300, cwd=spec.parent)


def test_validate_counts_with_the_local_models_own_tokenizer(tiny_model, tmp_path):
    out = _validate(_local_spec(tmp_path, tiny_model))
    assert out.returncode == 0, out.stderr
    assert "tokens (exact)" in out.stdout


@pytest.mark.parametrize(("tokenizer_json", "reason"), [
    (None, "has no tokenizer"),  # a model folder with only its config
    ('{"version": "1.0", "truncation', "failed to load"),  # a corrupt tokenizer.json
])
def test_tokenizer_that_fails_to_load_is_a_located_error_not_an_estimate(tiny_model, tmp_path, tokenizer_json, reason):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    shutil.copy(Path(tiny_model) / "config.json", broken / "config.json")
    if tokenizer_json is not None:
        (broken / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    out = _validate(_local_spec(tmp_path, "./broken-model"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[0]
    assert line.startswith("error: spec.yaml:4:13: base_model: tokenizer for './broken-model'"), out.stderr
    assert reason in line and len(out.stderr.strip().splitlines()) == 1
    assert "estimated" not in out.stdout


def test_chatml_jinja_renders_what_training_renders():
    """The ChatML format's Jinja (exports) against its segments (training), with a default system
    prompt that needs escaping, developer/tool roles and content parts."""
    from ftspec.providers.local.chat_format import ChatFormat, render_jinja_template

    fmt = ChatFormat("chatml", "<|im_end|>", 'You are "Smol", a helper\\.')
    conversations = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "again\nplease"}],
        [{"role": "developer", "content": "B"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}],
        [{"role": "user", "content": "tool?"}, {"role": "tool", "content": "{\"ok\": 1}"}],
    ]
    for messages in conversations:
        assert render_jinja_template(fmt.jinja, messages) == fmt.prompt(messages)
    assert fmt.prompt(conversations[0]) == (
        '<|im_start|>system\nYou are "Smol", a helper\\.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')
