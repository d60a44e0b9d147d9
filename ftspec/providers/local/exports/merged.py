"""``merged``: full weights (LoRA merged into the base, safetensors, float32) in a plain Hugging
Face folder that transformers and vLLM load directly and llama.cpp's ``convert_hf_to_gguf.py``
converts; the tokenizer carries the training chat template."""

from __future__ import annotations

from typing import Any

from ftspec.providers.local.exports import EXPORTS, ExportContext, ExportFormat, training_summary
from ftspec.providers.local.exports.peft import save_tokenizer

README = """# {model}

Full weights (LoRA merged into `{base}`, safetensors, float32) from ftspec's local provider.
Training: {hp}. Final metrics: {metrics}. The tokenizer carries the chat template the model
was trained with (`chat_template.jinja`); `generation_config.json` stops at `<end_of_turn>`.

## Serve with vLLM (OpenAI-compatible)

```
{serve}
```

## transformers

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
```

## llama.cpp (GGUF)

`python convert_hf_to_gguf.py {out} --outfile {name}.gguf --outtype f16`
(then e.g. `llama-quantize {name}.gguf {name}-q4_k_m.gguf Q4_K_M`), or use `--format gguf-lora`,
which keeps the exact base GGUF.

`export.json` records the base, the weights' sha256, the chat template and the stop strings;
`manifest.json` the dataset sha256, hyperparameters and metrics.
"""


@EXPORTS.register("merged")
class MergedExport(ExportFormat):
    name = "merged"
    runtime = "transformers"

    def write(self, ctx: ExportContext) -> dict[str, Any]:
        import torch
        from peft import PeftModel

        from ftspec.providers.local import models

        base = models.load_base_model(ctx.manifest["base_model"], "cpu", dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, ctx.adapter_dir).merge_and_unload()
        merged.save_pretrained(ctx.work, safe_serialization=True)
        save_tokenizer(ctx)  # after the model: its generation_config.json stops at <end_of_turn>
        out = ctx.out.resolve()
        return {"artifact": "model.safetensors", "dtype": "float32",
                "serve": f"vllm serve {out} --served-model-name {ctx.name} --chat-template {out / 'chat_template.jinja'}"}

    def readme(self, ctx: ExportContext, info: dict[str, Any]) -> str:
        manifest = ctx.manifest
        hp, metrics = training_summary(manifest)
        return README.format(model=ctx.model_id, base=manifest["base_model"], hp=hp, metrics=metrics,
                             serve=info["serve"], out=ctx.out.resolve(), name=ctx.name)
