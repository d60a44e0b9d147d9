"""``ftspec export SPEC --format peft|merged|gguf-lora|ollama [--out DIR] [--model ID] [--check]``."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS_HELP = ("peft: the LoRA adapter folder (transformers, vLLM); merged: full safetensors weights; "
                "gguf-lora: a llama.cpp LoRA GGUF for the exact GGUF base; ollama: base + adapter GGUF + Modelfile. "
                "(adapter: old name of peft)")


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="peft", show_default=True, help=FORMATS_HELP)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: exports/<spec name>-<format>).")
@click.option("--model", "model_id", help="Model id to export (default: the model in the spec's lockfile).")
@click.option("--base-gguf", type=click.Path(dir_okay=False, path_type=Path),
              help="gguf-lora/ollama with a folder or Hub base: the base model as GGUF.")
@click.option("--check", is_flag=True,
              help="Run the spec's eval cases greedily through the export and compare with the trained model's report.")
@click.option("--tolerance", type=float, default=None,
              help="--check: how far the export's pass rate may fall below the trained model's (default 0.05).")
def export(spec_path: Path, fmt: str, out: Path | None, model_id: str | None, base_gguf: Path | None,
           check: bool, tolerance: float | None) -> None:
    """Export a local model with a README and export.json saying how to serve it."""
    from ftspec.graph.export import export_spec

    outcome = export_spec(spec_path, fmt, out=out, model_id=model_id, base_gguf=base_gguf, check=check,
                          tolerance=tolerance, echo=lambda line: click.echo(line, err=True))
    click.echo(f"{outcome.model_id} -> {outcome.out} ({outcome.fmt}; see {outcome.out / 'README.md'})")
    click.echo(f"serve: {outcome.record['serve']}")
    if outcome.check is not None:
        from ftspec.evals.export_check import format_check

        for line in format_check(outcome.check):
            click.echo(line)
        if not outcome.check["passed"]:
            from ftspec.errors import EvalError

            raise EvalError("export check failed: " + outcome.check["problems"][0])
