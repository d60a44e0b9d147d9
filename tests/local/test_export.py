"""``ftspec export``: adapter and merged folders that transformers loads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ftspec.cli import main
from ftspec.providers import get_provider
from ftspec.providers.base import JobRequest

from .conftest import support_records, write_jsonl
from .test_jobs import wait_for


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    store = root / "store"
    provider = get_provider("local", {"store": str(store)})
    file = provider.upload(write_jsonl(root / "train.jsonl", support_records(4)), idempotency_key="t")
    job = provider.create_job(JobRequest(
        model=tiny_model, training_file=file.id, idempotency_key="export", suffix="exp",
        hyperparameters={"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 50.0},
        extras={"lora_r": 4}))
    job, _ = wait_for(provider, job.id, lambda j: j.done)
    assert job.status == "succeeded", job.error
    spec = root / "specs" / "tiny.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "ftspec: 1\nname: tiny\nprovider: local\n"
        f"base_model: {tiny_model}\n"
        "sources:\n  - {name: faq, path: ../train.jsonl, format: chat_jsonl}\n"
        "template: {type: chat}\n"
        f"providers:\n  local: {{store: {store}}}\n", encoding="utf-8")
    return provider, job.fine_tuned_model, spec


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def test_export_merged_matches_base_plus_adapter(trained, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    provider, model_id, spec = trained
    code, out, err = run_cli(["export", str(spec), "--format", "merged", "--out", str(tmp_path / "m"),
                              "--model", model_id], capsys)
    assert code == 0, err
    assert out.strip() == f"{model_id} -> {tmp_path / 'm'} (merged; see {tmp_path / 'm' / 'README.md'})"
    folder = tmp_path / "m"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert "convert_hf_to_gguf.py" in (folder / "README.md").read_text()
    merged = AutoModelForCausalLM.from_pretrained(folder)
    engine = provider.engine(model_id)
    ids = torch.tensor([[2, 10, 20, 30, 40]])
    with torch.no_grad():
        expected = engine.model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        base = provider.engine(manifest_base(provider, model_id)).model(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-4)
    assert not torch.allclose(base, got, atol=1e-4)  # the merge really carries the adapter


def manifest_base(provider, model_id):
    return provider.manifest(model_id)["base_model"]


def test_export_adapter_from_the_lockfile(trained, tmp_path, capsys, monkeypatch):
    provider, model_id, spec = trained
    lock = spec.with_suffix(".lock")
    lock.write_text(json.dumps({"lock_version": 1, "spec_sha256": "x", "provider": "local",
                                "base_model": "tiny", "model": model_id}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["export", str(spec)], capsys)
    assert code == 0, err
    folder = Path("exports/tiny-adapter")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and (folder / "adapter_model.safetensors").is_file()
    assert json.loads((folder / "manifest.json").read_text())["model"] == model_id
    assert "PeftModel.from_pretrained" in (folder / "README.md").read_text()
    code, _, err = run_cli(["export", str(spec)], capsys)
    assert code == 1 and err.strip() == "error: export folder exports/tiny-adapter is not empty; choose another --out or empty it"


def test_export_errors_are_one_line(trained, tmp_path, capsys):
    _, _, spec = trained
    code, _, err = run_cli(["export", str(spec), "--model", "ft:tiny:local:x:ftjob-missing", "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and err.startswith("error: local model not found: ft:tiny:local:x:ftjob-missing")
    bare = tmp_path / "bare.yaml"
    bare.write_text(spec.read_text().replace("provider: local", "provider: openai"), encoding="utf-8")
    code, _, err = run_cli(["export", str(bare), "--model", "m"], capsys)
    assert code == 1 and err.strip() == f"error: {bare}: export needs provider 'local' (this spec uses 'openai')"
