"""``ftspec export SPEC --format adapter|merged [--out DIR] [--model ID]``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["adapter", "merged"]), default="adapter", show_default=True,
              help="adapter: the LoRA adapter; merged: full safetensors weights (transformers, vLLM, llama.cpp).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: exports/<spec name>-<format>).")
@click.option("--model", "model_id", help="Model id to export (default: the model in the spec's lockfile).")
def export(spec_path: Path, fmt: str, out: Path | None, model_id: str | None) -> None:
    """Export a local model as an adapter or merged weights, with a README saying how to use it."""
    from ftspec.errors import ProviderError
    from ftspec.providers import provider_for_spec
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path, check_files=False)
    if spec.provider != "local":
        raise ProviderError(f"{spec_path}: export needs provider 'local' (this spec uses '{spec.provider}')")
    if model_id is None:
        from ftspec.lockfile import load_lock, lock_path

        model_id = load_lock(lock_path(spec_path)).get("model")
        if not model_id:
            raise ProviderError(f"{lock_path(spec_path)}: no model yet; run: ftspec build {spec_path}")
    provider = provider_for_spec(spec)
    from ftspec.artifacts.sync import ensure_model
    from ftspec.project import project_root
    from ftspec.providers.local.export import export_model

    ensure_model(spec, project_root(spec.path), provider, model_id, echo=lambda line: click.echo(line, err=True))

    target = out or Path("exports") / f"{spec.name}-{fmt}"
    export_model(provider, model_id, fmt, target)
    click.echo(f"{model_id} -> {target} ({fmt}; see {target / 'README.md'})")
