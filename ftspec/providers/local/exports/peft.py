"""``peft``: the LoRA adapter folder transformers + peft and vLLM load as-is.

``adapter_config.json`` + ``adapter_model.safetensors`` (peft's own names, which vLLM reads),
the tokenizer with the training chat template (``chat_template.jinja``, which transformers'
``apply_chat_template`` and vLLM's chat endpoint use) and ``generation_config.json`` whose
end tokens include the turn end (``<end_of_turn>``, ``<|im_end|>`` for ChatML bases).
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from ftspec.providers.local.exports import (
    EXPORTS,
    ExportContext,
    ExportFormat,
    base_reference,
    training_summary,
)
from ftspec.util import atomic_write_json, atomic_write_text


def save_tokenizer(ctx: ExportContext) -> None:
    """The base tokenizer with the training chat template and a generation config that stops
    where training's turns end."""
    from ftspec.providers.local import models

    tokenizer = models.load_tokenizer(ctx.manifest["base_model"])
    chat = ctx.chat_format
    tokenizer.save_pretrained(ctx.work)  # the cached tokenizer itself is left unchanged
    atomic_write_text(ctx.work / "chat_template.jinja", chat.jinja)
    ends = [tokenizer.eos_token_id] + [tokenizer.convert_tokens_to_ids(s) for s in chat.stops]
    ends = [i for i in dict.fromkeys(ends) if isinstance(i, int) and i != tokenizer.unk_token_id]
    generation = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": ends,
                  "pad_token_id": tokenizer.pad_token_id, "do_sample": False}
    atomic_write_json(ctx.work / "generation_config.json", {k: v for k, v in generation.items() if v is not None})


README = """# {model}

LoRA adapter (peft) fine-tuned by ftspec's local provider from `{base}`
(base sha256 `{base_sha}`). Training: {hp}. Final metrics: {metrics}.
The tokenizer carries the chat template the model was trained with (`chat_template.jinja`),
and `generation_config.json` stops at `{end}`.

## Serve with vLLM (OpenAI-compatible)

```
{serve}
```

The base is the Hugging Face folder ftspec trained on: it holds exactly the weights the adapter was
trained against (`{base_ref}` from the Hub is close but not identical). Call it with
`model="{name}"`; the chat template and stop tokens come from this folder.

## transformers + peft

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base_ref}")
model = PeftModel.from_pretrained(base, "{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
```

`export.json` records the base, the adapter's sha256, the chat template and the stop strings;
`manifest.json` the dataset sha256, hyperparameters and metrics.
"""


@EXPORTS.register("peft")
class PeftExport(ExportFormat):
    name = "peft"
    runtime = "transformers"

    def write(self, ctx: ExportContext) -> dict[str, Any]:
        for item in ctx.adapter_dir.iterdir():
            if item.is_file():
                shutil.copy2(item, ctx.work / item.name)
        config_path = ctx.work / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_reference(ctx.manifest)  # not this machine's cache path
        atomic_write_json(config_path, config)
        save_tokenizer(ctx)
        out = ctx.out.resolve()
        serve = (f"vllm serve {serve_base(ctx)} --enable-lora --max-lora-rank {_vllm_rank(int(config.get('r', 8)))} "
                 f"--lora-modules {ctx.name}={out} --chat-template {out / 'chat_template.jinja'} "
                 f"--generation-config {out}")
        return {"artifact": "adapter_model.safetensors", "serve": serve,
                "lora": {"r": config.get("r"), "alpha": config.get("lora_alpha"),
                         "target_modules": config.get("target_modules")}}

    def readme(self, ctx: ExportContext, info: dict[str, Any]) -> str:
        manifest = ctx.manifest
        hp, metrics = training_summary(manifest)
        return README.format(model=ctx.model_id, base=manifest["base_model"], base_sha=info["base"]["sha256"],
                             end=ctx.chat_format.end,
                             hp=hp, metrics=metrics, serve=info["serve"], base_ref=base_reference(manifest),
                             name=ctx.name, out=ctx.out.resolve())


def serve_base(ctx: ExportContext) -> str:
    """The Hugging Face folder of the exact base weights training used (GGUF bases are converted
    once per machine; the Hub id for a Hub base)."""
    from ftspec.providers.local import models

    return str(models.model_dir(models.resolve_base(ctx.manifest["base_model"])))


def _vllm_rank(r: int) -> int:
    """vLLM's ``--max-lora-rank`` takes one of a fixed set of values: the smallest that fits."""
    for allowed in (1, 8, 16, 32, 64, 128, 256, 320, 512):
        if r <= allowed:
            return allowed
    return r
