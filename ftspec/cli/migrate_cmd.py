"""``ftspec migrate SPEC --to PROVIDER``: thin wrapper over ``ftspec.graph.migrate``."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to", required=True, metavar="PROVIDER",
              help="The provider to rebuild on: local, or any registered hosted provider (together, ...).")
@click.option("--base-model", default=None, metavar="MODEL",
              help="Base model on the new provider (default: the provider's entry in ftspec's base-model "
                   "table; local: the bundled gemma-3-270m).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PATH",
              help="Where to write the new spec, in the old spec's folder (default: SPEC's folder/NAME-PROVIDER.yaml).")
@click.option("--no-baseline", is_flag=True,
              help="Write the spec without baseline: (only when the old model can no longer be recorded).")
@click.option("--force", is_flag=True,
              help="Replace a spec an earlier `ftspec migrate` of SPEC wrote there, even if edited since.")
@json_option
def migrate(spec_path: Path, to: str, base_model: str | None, out: Path | None, no_baseline: bool,
            force: bool, as_json: bool) -> None:
    """Write a new spec beside SPEC that rebuilds its model on another provider.

    \b
    The old spec and its lockfile are left as they are (the record of what ran). The new spec
    has the provider and base model changed, the hyperparameters mapped (each mapping explained
    in a comment: OpenAI's learning_rate_multiplier is not a learning rate), the same data,
    template and eval sets, and baseline: pointing at the old model's recorded answers
    (baselines/NAME.json, from `ftspec eval SPEC --record-baseline`; migrate stops and prints
    that command when it is missing). Then:
      ftspec build NEW.yaml
      ftspec diff SPEC NEW.yaml [--fail-on-regression]
    Runbook: docs/migrate-from-openai.md
    """
    from ftspec.graph.migrate import migrate_spec

    result = migrate_spec(spec_path, to, base_model=base_model, out=out, no_baseline=no_baseline, force=force)
    if as_json:
        emit_json({"spec": result.rel, "provider": result.provider, "base_model": result.base_model,
                   "baseline": result.baseline, "changed": result.changed, "notes": result.notes})
        return
    click.echo(f"{'wrote' if result.changed else 'unchanged'}: {result.rel} (provider {result.provider}, "
               f"base model {result.base_model}" + (f", baseline {result.baseline})" if result.baseline else ")"))
    for note in result.notes:
        click.echo(f"  {note}")
    click.echo(f"next: ftspec build {result.rel}  then  ftspec diff {spec_path.as_posix()} {result.rel}")
