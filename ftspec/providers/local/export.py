"""Export a local fine-tuned model: the LoRA adapter alone, or merged full weights.

``merged`` writes a plain Hugging Face folder (``config.json``, ``model.safetensors``,
tokenizer files) that transformers and vLLM load directly and llama.cpp's
``convert_hf_to_gguf.py`` converts; ``adapter`` writes the peft adapter plus tokenizer.
Both get a README.md saying how to use them and the model's manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ftspec.errors import ProviderError
from ftspec.providers.local import models
from ftspec.util import atomic_write_json, atomic_write_text

HUB_ID = {models.BUNDLED: "google/gemma-3-270m"}


def _base_reference(manifest: dict) -> str:
    base = manifest["base_model"]
    return HUB_ID.get(base, manifest.get("base", {}).get("location", base))


ADAPTER_README = """# {model}

LoRA adapter (peft) fine-tuned by ftspec's local provider from `{base}`
(base sha256 `{base_sha}`). Training: {hp}. Final metrics: {metrics}.

## Use with transformers + peft

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base_ref}")
model = PeftModel.from_pretrained(base, "{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
```

## Use with vLLM

`vllm serve {base_ref} --enable-lora --lora-modules {name}={out}`

Prompts use Gemma's turn format: `<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n`.
`manifest.json` records the base model, dataset sha256, hyperparameters and metrics.
"""

MERGED_README = """# {model}

Full weights (LoRA merged into `{base}`, safetensors, {dtype}) from ftspec's local provider.
Training: {hp}. Final metrics: {metrics}.

## transformers

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
```

## vLLM

`vllm serve {out}`

## llama.cpp (GGUF)

`python convert_hf_to_gguf.py {out} --outfile {name}.gguf --outtype f16`
(then e.g. `llama-quantize {name}.gguf {name}-q4_k_m.gguf Q4_K_M`).

Prompts use Gemma's turn format: `<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n`.
`manifest.json` records the base model, dataset sha256, hyperparameters and metrics.
"""


def _readme(template: str, manifest: dict, out: Path, **extra: str) -> str:
    hp = manifest.get("hyperparameters", {})
    shown = {k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate", "lora_r", "lora_alpha") if k in hp}
    metrics = {k: v for k, v in manifest.get("metrics", {}).items() if k in {"train_loss", "valid_loss", "steps"}}
    return template.format(
        model=manifest["model"], base=manifest["base_model"], base_sha=manifest.get("base", {}).get("sha256", "?"),
        base_ref=_base_reference(manifest), out=out, name=manifest["model"].split(":")[3] or "model",
        hp=json.dumps(shown), metrics=json.dumps(metrics), **extra,
    )


def export_model(provider, model_id: str, fmt: str, out: Path) -> Path:
    """Write ``model_id`` as ``fmt`` (adapter | merged) into ``out``; returns ``out``."""
    manifest = provider.manifest(model_id)
    adapter = provider.adapter_path(model_id)
    if fmt not in {"adapter", "merged"}:
        raise ProviderError(f"unknown export format '{fmt}'; use adapter or merged")
    if out.exists() and any(out.iterdir()):
        raise ProviderError(f"export folder {out} is not empty; choose another --out or empty it")
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = models.load_tokenizer(manifest["base_model"])
    if fmt == "adapter":
        for item in adapter.iterdir():
            shutil.copy2(item, out / item.name)
        config_path = out / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = _base_reference(manifest)  # not this machine's cache path
        atomic_write_json(config_path, config)
        tokenizer.save_pretrained(out)
        atomic_write_text(out / "README.md", _readme(ADAPTER_README, manifest, out))
    else:
        import torch
        from peft import PeftModel

        base = models.load_base_model(manifest["base_model"], "cpu")
        merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
        merged.to(torch.float32).save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        atomic_write_text(out / "README.md", _readme(MERGED_README, manifest, out, dtype="float32"))
    atomic_write_json(out / "manifest.json", manifest)
    return out
