"""``ftspec export``: a spec's locked local model written as an export format, recorded in the
lockfile's ``serve`` entry, and optionally checked against the trained model's eval answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftspec.errors import ProviderError


@dataclass
class ExportOutcome:
    model_id: str
    fmt: str
    out: Path
    record: dict[str, Any]
    locked: bool  # the lockfile's serve entry now lists this export
    check: dict[str, Any] | None = None


def export_spec(spec_path: Path, fmt: str, *, out: Path | None = None, model_id: str | None = None,
                base_gguf: Path | None = None, check: bool = False, tolerance: float | None = None,
                echo: Callable[[str], None] = print) -> ExportOutcome:
    """Export the spec's model (the lockfile's unless ``model_id``) as ``fmt``; ``echo`` gets
    progress and notes (the deprecation note of an old format name among them)."""
    from ftspec.artifacts.sync import ensure_model
    from ftspec.lockfile import load_lock, lock_path, record_export
    from ftspec.project import project_root
    from ftspec.providers import provider_for_spec
    from ftspec.providers.local.exports import resolve_format, write_export
    from ftspec.spec.loader import load_spec

    fmt, note = resolve_format(fmt)
    if note:
        echo(note)
    spec = load_spec(spec_path, check_files=False)
    if spec.provider != "local":
        raise ProviderError(f"{spec_path}: export needs provider 'local' (this spec uses '{spec.provider}')")
    lock_file = lock_path(spec_path)
    if model_id is None:
        model_id = load_lock(lock_file).get("model") if lock_file.is_file() else None
        if not model_id:
            raise ProviderError(f"{lock_file}: no model yet; run: ftspec build {spec_path}")
    root = project_root(spec.path)
    provider = provider_for_spec(spec)
    try:
        ensure_model(spec, root, provider, model_id, echo=echo)
        target = out or Path("exports") / f"{spec.name}-{fmt}"
        options = {"base_gguf": str(base_gguf)} if base_gguf else {}
        record = write_export(provider, model_id, fmt, target, **options)
        try:
            shown = spec.path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            shown = str(spec_path)
        locked = record_export(lock_file, model_id, fmt, record["artifact_sha256"], shown)
        outcome = ExportOutcome(model_id, fmt, target, record, locked)
        if check:
            from ftspec.evals.export_check import DEFAULT_TOLERANCE, check_export

            outcome.check = check_export(spec, target, record, provider, project_root=root,
                                         tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance)
        return outcome
    finally:
        provider.close()
