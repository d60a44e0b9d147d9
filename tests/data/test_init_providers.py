"""``ftspec init --provider``: the chosen provider's lines are live, every other one is a commented
alternative that becomes a valid spec when uncommented (the local default is built in
tests/local/test_init_build.py)."""

from __future__ import annotations

import re

import pytest
import yaml

from ftspec.cli import main
from ftspec.cli.init_cmd import DEFAULT_BASE_MODEL, PROVIDERS
from ftspec.providers import provider_names


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_init_provider_chooses_the_live_lines(tmp_path, capsys, monkeypatch, provider):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "init", "shop", "--provider", provider)
    assert code == 0, err
    text = (tmp_path / "shop/specs/shop.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    assert spec["provider"] == provider and spec["base_model"] == DEFAULT_BASE_MODEL[provider]
    commented = re.findall(r"^# provider: (\w+)", text, flags=re.M)
    assert sorted(commented) == sorted(set(PROVIDERS) - {provider})  # every alternative, once
    for other in commented:  # uncommenting an alternative in place of the live block gives that spec
        lines = [line for line in text.splitlines() if not re.match(r"^(provider|base_model|providers):", line)]
        block = [f"# {line}" for line in PROVIDERS[other]]
        swapped = "\n".join(line[2:] if any(line.startswith(b.split("{")[0]) for b in block) else line
                            for line in lines)
        assert yaml.safe_load(swapped)["provider"] == other
    if provider != "local" and provider in provider_names():  # local: tokenizer download; see test_init_build
        code, out, err = run(capsys, "validate", "shop/specs/shop.yaml")
        assert code == 0 and out.startswith("ok: shop/specs/shop.yaml: 20 examples"), err


def test_init_unknown_provider_names_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "init", "shop", "--provider", "bedrock")
    assert code == 2 and "Invalid value for '--provider'" in err and not (tmp_path / "shop").exists()
