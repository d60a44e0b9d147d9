"""Loss-mask and stop checks before a local job trains: a spec whose rendered rows never train
the stop token is a located error on its ``template`` (or ``base_model``) and no job is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftspec.providers import get_provider
from ftspec.providers.local.stopcheck import base_warnings, check_mask, mask_problems
from ftspec.spec.loader import load_spec

from .conftest import support_records, write_jsonl

LONG_SYSTEM = " ".join(["You are Acme support and you always answer politely about passwords and orders."] * 4)


def write_spec(root: Path, base_model: str, *, system: str, max_seq_len: int) -> Path:
    write_jsonl(root / "train.jsonl", support_records(6))
    spec = root / "specs" / "bad.yaml"
    spec.parent.mkdir(exist_ok=True)
    (root / ".ftspec").mkdir(exist_ok=True)
    spec.write_text(f"""ftspec: 1
name: bad
provider: local
base_model: {base_model}
sources:
  - {{name: faq, path: ../train.jsonl, format: chat_jsonl}}
template: {{type: chat, system: "{system}"}}
split: {{validation: 0}}
hyperparameters:
  n_epochs: 1
  batch_size: 2
  local: {{lora_r: 2, max_seq_len: {max_seq_len}}}
providers:
  local: {{store: {root / "store"}}}
""", encoding="utf-8")
    return spec


def test_a_template_whose_rows_lose_their_turn_end_is_a_located_error(tmp_path, tiny_model, cli):
    """The template's system prompt pushes every answer past max_seq_len: the cut would drop each
    row's <end_of_turn>, so the model would never learn to stop. The build refuses before a job."""
    spec = write_spec(tmp_path, tiny_model, system=LONG_SYSTEM, max_seq_len=48)
    code, out, err = cli(["build", str(spec)])
    assert code == 1
    line = next(ln for ln in err.splitlines() if ": template: " in ln)
    assert line.startswith("error: specs/bad.yaml:7:11: template: 6 of 6 training rows (rows 1, 2, 3, 4, 5 and 1 more) "
                           "never train the stop token '<end_of_turn>': they are longer than max_seq_len=48"), err
    assert "would ramble to max_tokens" in line and "Traceback" not in err
    assert get_provider("local", {"store": str(tmp_path / "store")}).list_jobs() == []


def test_the_same_template_with_room_for_the_answers_trains(tmp_path, tiny_model):
    spec = load_spec(write_spec(tmp_path, tiny_model, system=LONG_SYSTEM, max_seq_len=512))
    from ftspec.providers.local.models import load_tokenizer

    tok = load_tokenizer(tiny_model)
    rows = [{"messages": [{"role": "system", "content": LONG_SYSTEM}, *r["messages"][1:]]} for r in support_records(6)]
    check = check_mask(tok, rows, 512)
    assert (check.rows, check.trained_rows, check.missing) == (6, 6, [])
    assert mask_problems(spec, check, 512) == ([], [])
    # one row in six cut: a warning that names it, not an error
    rows[2]["messages"][-1]["content"] = "Go to Settings. " * 80
    problems, warnings = mask_problems(spec, check_mask(tok, rows, 512), 512)
    assert problems == [] and len(warnings) == 1
    assert warnings[0].startswith("warning: 1 of 6 training rows (rows 3) never train the stop token '<end_of_turn>'")


def test_weightless_rows_train_nothing_and_completion_rows_train_eos(tmp_path, tiny_model):
    from ftspec.providers.local.models import load_tokenizer

    spec = load_spec(write_spec(tmp_path, tiny_model, system="Hi", max_seq_len=512))
    tok = load_tokenizer(tiny_model)
    silent = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "weight": 0}]}]
    problems, _ = mask_problems(spec, check_mask(tok, silent, 512), 512)
    assert [str(p) for p in problems] == [
        "specs/bad.yaml:7:11: template: no training row has a token to train on (every assistant turn has "
        "weight 0, or no message maps to the assistant role)"]
    completion = [{"prompt": "Reset my password\n\n###\n\n", "completion": " Go to Settings END"}]
    check = check_mask(tok, completion, 512)
    assert check.missing == [] and check.stop_texts["completion"] == "<eos>"


def test_a_base_without_turn_tokens_is_an_error_on_base_model(tmp_path, tiny_model):
    """A tokenizer with neither Gemma's nor ChatML's turn tokens: the turn end would be trained as
    plain text pieces that generation never stops on."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from ftspec.testing.tiny_model import CORPUS

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                  unk_token="<unk>")
    spec = load_spec(write_spec(tmp_path, tiny_model, system="Hi", max_seq_len=512))
    problems, _ = mask_problems(spec, check_mask(tok, support_records(2), 512), 512)
    assert len(problems) == 1 and str(problems[0]).startswith(
        "specs/bad.yaml:4:13: base_model: the chat format's turn end '<end_of_turn>' is not one token of ")


def test_the_base_model_is_asked_to_end_a_training_answer(tiny_model):
    """The random tiny base never ends an answer on <end_of_turn>: a note, not an error."""
    engine = get_provider("local", {}).engine(tiny_model)
    notes = base_warnings(engine, support_records(3))
    assert len(notes) == 1 and notes[0].startswith(
        "note: the base model, greedy with this chat format, ended 0 of 2 training answers with '<end_of_turn>' "
        "within 8 tokens")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # specs/bad.yaml is shown relative to the project
