"""``ftspec.spec.edit.set_value``: one value changed in the YAML text, every other byte kept."""

from __future__ import annotations

import pytest
import yaml

from ftspec.spec.edit import EditError, set_value

BLOCK = """\
ftspec: 1
name: bot  # the name
hyperparameters:
  n_epochs: 3   # three passes
  # the learning rate, tuned by a sweep
  learning_rate_multiplier: auto
evals:
  - name: smoke
"""


def _others_kept(before: str, after: str, changed: str) -> None:
    kept = [line for line in before.splitlines() if changed not in line]
    assert all(line in after.splitlines() for line in kept)


def test_replace_keeps_comments_and_round_trips():
    out = set_value(BLOCK, ("hyperparameters", "learning_rate_multiplier"), 5)
    assert out == BLOCK.replace("learning_rate_multiplier: auto", "learning_rate_multiplier: 5")
    assert yaml.safe_load(out)["hyperparameters"] == {"n_epochs": 3, "learning_rate_multiplier": 5}
    back = set_value(out, ("hyperparameters", "learning_rate_multiplier"), "auto")
    assert back == BLOCK  # round trip: byte-identical


def test_insert_into_block_mapping_and_nested():
    out = set_value(BLOCK, ("hyperparameters", "batch_size"), 8)
    assert "  learning_rate_multiplier: auto\n  batch_size: 8\nevals:" in out
    _others_kept(BLOCK, out, "batch_size")
    out = set_value(BLOCK, ("hyperparameters", "local", "lora_r"), 16)
    assert yaml.safe_load(out)["hyperparameters"]["local"] == {"lora_r": 16}
    assert "  local:\n    lora_r: 16\n" in out


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nhyperparameters: {n_epochs: 3}  # flow\n", "hyperparameters: {n_epochs: 3, learning_rate_multiplier: 0.5}  # flow\n"),
    ("name: x\nhyperparameters: {}\n", "hyperparameters: {learning_rate_multiplier: 0.5}\n"),
    ("name: x\nevals: []", "evals: []\nhyperparameters:\n  learning_rate_multiplier: 0.5\n"),
])
def test_insert_into_flow_mapping_or_missing_parent(text, expected):
    out = set_value(text, ("hyperparameters", "learning_rate_multiplier"), 0.5)
    assert out.endswith(expected)
    assert yaml.safe_load(out)["hyperparameters"]["learning_rate_multiplier"] == 0.5


def test_a_list_in_the_way_is_a_located_error():
    with pytest.raises(EditError, match=r"^specs/bot.yaml:8: evals is not a mapping"):
        set_value(BLOCK, ("evals", "x"), 1, file="specs/bot.yaml")
