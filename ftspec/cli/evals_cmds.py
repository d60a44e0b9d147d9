"""``ftspec evals export``: the spec's eval sets written for other eval tools (promptfoo).

A group of its own, beside ``ftspec eval`` (which runs the evals): ``evals`` acts on the eval
set definitions, and ``ftspec export`` already means exporting a model.
"""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.group()
def evals() -> None:
    """Work with the spec's eval sets: export them for other tools."""


@evals.command("export")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="promptfoo", show_default=True, help="Export format (promptfoo).")
@click.option("--eval", "eval_name", help="Only this eval set.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (default: promptfoo/<spec>/ in the project).")
@click.option("--model", "model_id", help="Model id the config asks for (default: the lockfile's model).")
@click.option("--base-url", help="OpenAI-compatible endpoint (default: ftspec serve on 127.0.0.1:8000 for "
                                 "local models, the provider's API otherwise).")
@json_option
def export(spec_path: Path, fmt: str, eval_name: str | None, out_dir: Path | None, model_id: str | None,
           base_url: str | None, as_json: bool) -> None:
    """Write one config per eval set; scorers with no equivalent are listed as not exported."""
    from ftspec.evals.exports import export_evals
    from ftspec.project import project_root
    from ftspec.spec.loader import display_path, load_spec

    spec = load_spec(spec_path)
    out = out_dir or project_root(spec.path) / fmt / spec.name
    result = export_evals(spec, fmt, out, eval_name=eval_name, model=model_id, base_url=base_url)
    if as_json:
        emit_json({"files": {k: display_path(p) for k, p in result.files.items()},
                   "not_exported": result.not_exported})
        return
    for name, path in result.files.items():
        click.echo(f"{spec.name}/{name}: {display_path(path)}")
    for note in result.not_exported:
        click.echo(f"not exported: {note}", err=True)
