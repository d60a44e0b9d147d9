"""Export formats for local fine-tunes: one module per format, registered by name.

``EXPORTS.get("gguf-lora")`` is the format's class; adding a format is adding a module here that
calls ``@EXPORTS.register("name")`` (nothing else is edited). Every export is written into a
temporary folder and renamed into place, and gets ``export.json`` (what it is, the sha256 of the
base model file and of the adapter/weights, the chat template and stop strings it was built
with) and a README with the exact command that serves it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ftspec.errors import ProviderError
from ftspec.registry import Registry
from ftspec.util import atomic_write_json, atomic_write_text, sha256_file

EXPORT_VERSION = 1
ALIASES = {"adapter": "peft"}  # old name -> current name (a deprecation note is printed)


@dataclass
class ExportContext:
    """What a format needs: the provider, the model, where to write and its options."""

    provider: Any
    model_id: str
    out: Path  # the final folder (files are written into ``work`` and renamed here)
    work: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.provider.manifest(self.model_id)

    @property
    def adapter_dir(self) -> Path:
        return Path(self.provider.adapter_path(self.model_id))

    @property
    def name(self) -> str:
        return self.model_id.split(":")[3] or "model"

    @property
    def chat_format(self):
        """The chat format the model was trained with (its base's)."""
        from ftspec.providers.local import models

        return models.chat_format(self.manifest["base_model"])


class ExportFormat:
    """One export format. ``write`` fills ``ctx.work`` and returns the ``export.json`` fields it
    adds (at least ``artifact``: the file the export is identified by, relative to the folder)."""

    name: ClassVar[str] = ""
    runtime: ClassVar[str] = ""  # what ``--check`` runs the export through: transformers | llama.cpp

    def write(self, ctx: ExportContext) -> dict[str, Any]:
        raise NotImplementedError

    def problems(self, folder: Path, record: dict[str, Any]) -> list[str]:
        """Format-specific ways the files can disagree with training (``--check`` runs this)."""
        return []

    def readme(self, ctx: ExportContext, info: dict[str, Any]) -> str:
        raise NotImplementedError


EXPORTS: Registry[type[ExportFormat]] = Registry("export format", "ftspec.providers.local.exports")


def resolve_format(name: str) -> tuple[str, str | None]:
    """``(format name, deprecation note or None)``; an unknown name is a one-line error."""
    note = None
    if name in ALIASES:
        new = ALIASES[name]
        note = f"note: --format {name} is deprecated; use --format {new} (same files)"
        name = new
    EXPORTS.get(name)  # unknown -> "unknown export format 'x'; known: ..."
    return name, note


def base_reference(manifest: dict[str, Any]) -> str:
    """The base model as a teammate names it (a Hub id for the bundled model, not a cache path)."""
    from ftspec.providers.local.models import BUNDLES

    base = manifest["base_model"]
    return BUNDLES[base].hub_id if base in BUNDLES else manifest.get("base", {}).get("location", base)


def training_summary(manifest: dict[str, Any]) -> tuple[str, str]:
    hp = manifest.get("hyperparameters", {})
    shown = {k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate", "lora_r", "lora_alpha") if k in hp}
    metrics = {k: v for k, v in manifest.get("metrics", {}).items() if k in {"train_loss", "valid_loss", "steps"}}
    return json.dumps(shown), json.dumps(metrics)


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the file system allows it (the base GGUF is large), else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_export(provider, model_id: str, fmt: str, out: Path, **options: Any) -> dict[str, Any]:
    """Write ``model_id`` as ``fmt`` into ``out`` (which must not exist or be empty); returns the
    ``export.json`` written there."""
    cls = EXPORTS.get(fmt)
    manifest = provider.manifest(model_id)  # an unknown model fails before anything is written
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProviderError(f"export folder {out} is not empty; choose another --out or empty it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        ctx = ExportContext(provider, model_id, out, work, dict(options))
        exporter = cls()
        chat = ctx.chat_format
        info = exporter.write(ctx)
        artifact = work / info["artifact"]
        record: dict[str, Any] = {
            "ftspec_export": EXPORT_VERSION,
            "format": fmt,
            "model": model_id,
            "base_model": manifest["base_model"],
            "base": {"sha256": manifest.get("base", {}).get("sha256"), "reference": base_reference(manifest)},
            "template": {"kind": chat.name, "chat_template": chat.jinja},
            "stops": list(chat.stops),
            "files": {p.name: sha256_file(p) for p in sorted(work.iterdir()) if p.is_file()},
            **info,
        }
        record["artifact_sha256"] = sha256_file(artifact)
        atomic_write_text(work / "README.md", exporter.readme(ctx, record))
        atomic_write_json(work / "manifest.json", manifest)
        atomic_write_json(work / "export.json", record)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return record


def read_export(folder: Path) -> dict[str, Any]:
    """``export.json`` of an export folder, or a one-line error."""
    path = Path(folder) / "export.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProviderError(f"{path}: not found; is {folder} an ftspec export?") from None
    except json.JSONDecodeError as exc:
        raise ProviderError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("format") not in EXPORTS:
        raise ProviderError(f"{path}: not an ftspec export manifest (unknown or missing 'format')")
    return data
