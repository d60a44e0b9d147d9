"""``gguf-lora``: the LoRA as a GGUF adapter that llama.cpp (``llama-server --lora``,
llama-cpp-python ``lora_path``, Ollama ``ADAPTER``) applies to the exact GGUF base training used.

Written with the ``gguf`` package (llama.cpp's own writer) the way llama.cpp's
``convert_lora_to_gguf.py`` writes it: ``general.type=adapter``, ``adapter.type=lora``,
``adapter.lora.alpha``, the base's ``general.architecture``, and per target module the pair
``<gguf base tensor>.lora_a`` (numpy ``(r, in)``) / ``.lora_b`` (``(out, r)``), float32. The base
tensor names come from gguf's own HF -> GGUF name map for the architecture. For ``llama``
(SmolLM2), ``convert_hf_to_gguf.py`` permutes the rows of ``q_proj``/``k_proj`` into llama.cpp's
rotary layout (and transformers un-permutes them when it loads the GGUF), so ``lora_b`` of those
two gets the same row permutation, as ``convert_lora_to_gguf.py`` does. Before writing,
every pair is checked against the base GGUF the way llama.cpp's loader checks it (the tensor
exists, ``base.ne[0] == a.ne[0]``, ``base.ne[1] == b.ne[1]``), because llama.cpp only logs a
mismatch and then runs without the adapter.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ftspec.errors import ProviderError
from ftspec.providers.local.exports import EXPORTS, ExportContext, ExportFormat, training_summary

ADAPTER_FILE = "adapter.gguf"
TEMPLATE_FILE = "chat_template.jinja"


def base_gguf(ctx: ExportContext) -> Path:
    """The GGUF base the model was trained from (bundled or ``.gguf`` bases), or ``--base-gguf``
    for a folder/Hub base; a GGUF that is not the training base is refused."""
    from ftspec.providers.local import models

    manifest = ctx.manifest
    ref = models.resolve_base(manifest["base_model"])
    given = ctx.options.get("base_gguf")
    if ref.kind in {"bundled", "gguf"}:
        path = models.gguf_path(ref)
        if given and models.file_sha256(Path(given)) != models.file_sha256(path):
            raise ProviderError(f"--base-gguf {given} is not the GGUF this model was trained from ({path})")
        return path
    if not given:
        raise ProviderError(
            f"gguf-lora needs the base model as GGUF, and '{manifest['base_model']}' is a {ref.kind}; "
            "pass --base-gguf FILE (llama.cpp's convert_hf_to_gguf.py makes one)")
    path = Path(given)
    if not path.is_file():
        raise ProviderError(f"--base-gguf {given}: no such file")
    return path


def read_base(path: Path) -> tuple[str, int, dict[str, tuple[int, ...]]]:
    """(architecture, block count, {tensor name: ne shape}) of a GGUF model file."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise ProviderError(f"{path}: not a readable GGUF file: {exc}") from None

    def field(key: str) -> Any:
        f = reader.get_field(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not arch:
        raise ProviderError(f"{path}: GGUF file has no general.architecture")
    if field("general.type") == "adapter":
        raise ProviderError(f"{path}: is an adapter, not a base model")
    blocks = int(field(f"{arch}.block_count") or 0)
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return str(arch), blocks, shapes


def head_counts(path: Path) -> tuple[int, int]:
    """(attention heads, key/value heads) of a GGUF model file (0 where not recorded)."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    arch_field = reader.get_field("general.architecture")
    arch = arch_field.contents() if arch_field is not None else ""

    def count(key: str) -> int:
        field = reader.get_field(f"{arch}.{key}")
        return int(field.contents()) if field is not None else 0

    heads = count("attention.head_count")
    return heads, count("attention.head_count_kv") or heads


def permute_rows(weights: Any, n_head: int) -> Any:
    """``convert_hf_to_gguf.py``'s LlamaModel.permute: HF rotary halves -> llama.cpp's interleaved pairs."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


PERMUTED_ARCHS = {"llama"}


def lora_tensors(adapter_dir: Path, arch: str, blocks: int,
                 base_shapes: dict[str, tuple[int, ...]], heads: tuple[int, int] = (0, 0)) -> list[tuple[str, Any]]:
    """``[(gguf name, float32 array)]`` for every lora_A/lora_B pair of a peft adapter."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    try:
        model_arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    except StopIteration:
        raise ProviderError(f"the gguf package does not know architecture '{arch}'") from None
    names = gguf.get_tensor_name_map(model_arch, blocks)
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in weights.items():
        for part, suffix in (("a", ".lora_A.weight"), ("b", ".lora_B.weight")):
            if key.endswith(suffix):
                hf = key.removeprefix("base_model.model.").removesuffix(suffix)
                pairs.setdefault(hf, {})[part] = value
                break
        else:
            raise ProviderError(f"{adapter_dir}: adapter tensor '{key}' is not a LoRA A/B matrix "
                                "(llama.cpp adapters carry only LoRA pairs)")
    out: list[tuple[str, Any]] = []
    for hf, pair in sorted(pairs.items()):
        if set(pair) != {"a", "b"}:
            raise ProviderError(f"{adapter_dir}: '{hf}' has lora_{'A' if 'a' in pair else 'B'} without its pair")
        base = names.get_name(hf + ".weight", try_suffixes=(".weight",))
        if base is None:
            raise ProviderError(f"no GGUF tensor for '{hf}' in architecture '{arch}'")
        shape = base_shapes.get(base)
        if shape is None:
            raise ProviderError(f"base GGUF has no tensor '{base}' (for '{hf}'): is it the base the adapter was trained on?")
        a, b = np.ascontiguousarray(pair["a"], dtype=np.float32), np.ascontiguousarray(pair["b"], dtype=np.float32)
        # numpy (rows, cols) is GGUF ne (cols, rows): base ne = (in, out), a = (r, in), b = (out, r)
        if len(shape) != 2 or shape[0] != a.shape[1] or shape[1] != b.shape[0] or a.shape[0] != b.shape[1]:
            raise ProviderError(f"'{hf}': LoRA shapes A{tuple(a.shape)} B{tuple(b.shape)} do not fit base tensor "
                                f"'{base}' (ne {shape}): is it the base the adapter was trained on?")
        if arch in PERMUTED_ARCHS and hf.endswith((".q_proj", ".k_proj")):
            b = np.ascontiguousarray(permute_rows(b, heads[0] if hf.endswith(".q_proj") else heads[1]))
        out += [(base + ".lora_a", a), (base + ".lora_b", b)]
    if not out:
        raise ProviderError(f"{adapter_dir}: the adapter has no LoRA tensors")
    return out


def write_adapter_gguf(adapter_dir: Path, base: Path, target: Path) -> dict[str, Any]:
    """Write the adapter GGUF; returns what ``export.json`` records about it."""
    import gguf

    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("use_dora"):
        raise ProviderError("gguf-lora: DoRA adapters have no llama.cpp form")
    arch, blocks, shapes = read_base(base)
    tensors = lora_tensors(adapter_dir, arch, blocks, shapes, head_counts(base) if arch in PERMUTED_ARCHS else (0, 0))
    rank = int(tensors[0][1].shape[0])
    alpha = float(config.get("lora_alpha", rank))
    if config.get("use_rslora"):  # peft scales by alpha/sqrt(r); llama.cpp always by alpha/r
        alpha *= math.sqrt(rank)
    writer = gguf.GGUFWriter(str(target), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, array in tensors:
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"architecture": arch, "rank": rank, "alpha": alpha, "tensors": len(tensors)}


README = """# {model}

LoRA adapter as GGUF for llama.cpp, fine-tuned by ftspec's local provider from `{base}`.
It applies to exactly this base GGUF (sha256 `{base_sha}`): `{base_file}`.
Training: {hp}. Final metrics: {metrics}.

## Serve with llama.cpp (OpenAI-compatible, /v1/chat/completions)

```
{serve}
```

The command passes the chat template training used (`chat_template.jinja`, {kind}); without
it llama-server uses the GGUF's own template, or none, and answers differ.
Stop at `{end}` (the template's turn end; llama.cpp stops there by itself when the
token is an end-of-generation token of the vocabulary).

## llama-cpp-python

```python
from llama_cpp import Llama

llm = Llama(model_path="{base_file}", lora_path="{adapter}", n_ctx=2048)
out = llm(prompt, max_tokens=256, temperature=0, stop=["{end}"])
```

with `prompt` rendered by the chat template (without a leading BOS text: llama.cpp adds the
BOS token where the base wants one). Don't use llama-cpp-python's built-in chat formats: its
`gemma` one drops system messages, and its `chatml` one omits the base's default system prompt.

`export.json` records the base and adapter sha256, the chat template and the stop strings.
"""


@EXPORTS.register("gguf-lora")
class GgufLoraExport(ExportFormat):
    name = "gguf-lora"
    runtime = "llama.cpp"

    def write(self, ctx: ExportContext) -> dict[str, Any]:
        from ftspec.providers.local import models
        from ftspec.util import atomic_write_text

        base = base_gguf(ctx).resolve()
        info = write_adapter_gguf(ctx.adapter_dir, base, ctx.work / ADAPTER_FILE)
        atomic_write_text(ctx.work / TEMPLATE_FILE, ctx.chat_format.jinja)
        out = ctx.out.resolve()
        serve = (f"llama-server -m {base} --lora {out / ADAPTER_FILE} --jinja --chat-template-file "
                 f"{out / TEMPLATE_FILE} --alias {ctx.name} --host 127.0.0.1 --port 8080")
        return {"artifact": ADAPTER_FILE, "serve": serve, "gguf": info,
                "base_gguf": {"path": str(base), "sha256": models.file_sha256(base)}}

    def readme(self, ctx: ExportContext, info: dict[str, Any]) -> str:
        manifest = ctx.manifest
        hp, metrics = training_summary(manifest)
        out = ctx.out.resolve()
        chat = ctx.chat_format
        return README.format(model=ctx.model_id, base=manifest["base_model"], base_sha=info["base_gguf"]["sha256"],
                             kind=chat.name, end=chat.end,
                             base_file=info["base_gguf"]["path"], hp=hp, metrics=metrics, serve=info["serve"],
                             adapter=out / ADAPTER_FILE)
