"""``ollama``: a self-contained folder ``ollama create`` builds a model from: the exact base GGUF
(hard-linked where possible), the LoRA as a GGUF adapter (Ollama cannot convert a Gemma 3
safetensors adapter) and a Modelfile whose TEMPLATE and ``PARAMETER stop`` render the training
chat format (the base GGUF has no chat template, so Ollama would otherwise guess)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftspec.providers.local.exports import (
    EXPORTS,
    ExportContext,
    ExportFormat,
    link_or_copy,
    training_summary,
)
from ftspec.providers.local.exports.gguf_lora import (
    ADAPTER_FILE,
    TEMPLATE_FILE,
    base_gguf,
    write_adapter_gguf,
)

BASE_FILE = "base.gguf"
MODELFILE = "Modelfile"


def modelfile(template: str, stops: list[str]) -> str:
    lines = [f"FROM ./{BASE_FILE}", f"ADAPTER ./{ADAPTER_FILE}", f'TEMPLATE """{template}"""']
    lines += [f"PARAMETER stop {_quote(s)}" for s in stops]
    lines.append("PARAMETER temperature 0")  # what ftspec's evals use unless a case sets sampling
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_modelfile(text: str) -> dict[str, Any]:
    """``{"from", "adapter", "template", "stops"}`` of a Modelfile (the commands ftspec writes)."""
    out: dict[str, Any] = {"stops": []}
    rest = text
    while rest:
        line, _, rest = rest.partition("\n")
        command, _, value = line.strip().partition(" ")
        command = command.upper()
        if command == "TEMPLATE" and value.startswith('"""'):
            body = value[3:] + ("\n" + rest if rest else "")
            out["template"], _, rest = body.partition('"""')
            rest = rest.lstrip("\n")
        elif command == "PARAMETER":
            key, _, arg = value.partition(" ")
            if key == "stop":
                arg = arg.strip()
                if arg.startswith('"') and arg.endswith('"'):
                    arg = arg[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                out["stops"].append(arg)
        elif command in {"FROM", "ADAPTER"}:
            out[command.lower()] = value.strip()
    return out


README = """# {model}

An Ollama model folder: the base GGUF training used (`{base_file}`, sha256 `{base_sha}`),
the LoRA adapter as GGUF and a Modelfile whose TEMPLATE and stop match training.
Training: {hp}. Final metrics: {metrics}.

## Create and serve

```
{serve}
```

Ollama then answers at `http://127.0.0.1:11434/v1` (OpenAI-compatible) as model `{name}`.
"""


@EXPORTS.register("ollama")
class OllamaExport(ExportFormat):
    name = "ollama"
    runtime = "llama.cpp"  # Ollama's runner is llama.cpp's server with --lora

    def problems(self, folder: Path, record: dict[str, Any]) -> list[str]:
        """The Modelfile must point at this folder's files and carry the training TEMPLATE/stops."""
        from ftspec.providers.local import models

        chat = models.chat_format(record["base_model"])
        path = folder / MODELFILE
        try:
            parsed = parse_modelfile(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [f"{path}: missing"]
        out = []
        if parsed.get("from") != f"./{BASE_FILE}" or parsed.get("adapter") != f"./{ADAPTER_FILE}":
            out.append(f"{path}: FROM/ADAPTER are {parsed.get('from')!r}/{parsed.get('adapter')!r}, "
                       f"not ./{BASE_FILE}/./{ADAPTER_FILE}")
        if parsed.get("template") != chat.ollama:
            out.append(f"{path}: TEMPLATE differs from the training chat format")
        missing = [s for s in chat.stops if s not in parsed["stops"]]
        if missing:
            out.append(f"{path}: no PARAMETER stop for {', '.join(map(repr, missing))} (the training turn end)")
        return out

    def write(self, ctx: ExportContext) -> dict[str, Any]:
        from ftspec.providers.local import models
        from ftspec.util import atomic_write_text

        chat = ctx.chat_format
        base = base_gguf(ctx).resolve()
        info = write_adapter_gguf(ctx.adapter_dir, base, ctx.work / ADAPTER_FILE)
        link_or_copy(base, ctx.work / BASE_FILE)
        atomic_write_text(ctx.work / TEMPLATE_FILE, chat.jinja)
        atomic_write_text(ctx.work / MODELFILE, modelfile(chat.ollama, list(chat.stops)))
        out = ctx.out.resolve()
        return {"artifact": ADAPTER_FILE, "serve": f"ollama create {ctx.name} -f {out / MODELFILE} && ollama serve",
                "gguf": info, "ollama_template": chat.ollama,
                "base_gguf": {"path": BASE_FILE, "source": str(base), "sha256": models.file_sha256(base)}}

    def readme(self, ctx: ExportContext, info: dict[str, Any]) -> str:
        hp, metrics = training_summary(ctx.manifest)
        return README.format(model=ctx.model_id, base_file=BASE_FILE, base_sha=info["base_gguf"]["sha256"],
                             hp=hp, metrics=metrics, serve=info["serve"], name=ctx.name)
