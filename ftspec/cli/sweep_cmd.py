"""``ftspec sweep apply SPEC VARIANT``: thin wrapper over ``ftspec.graph.sweep``."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.group()
def sweep() -> None:
    """Training sweeps (run one with: ftspec build SPEC --sweep hyperparameters.NAME=V1,V2)."""


@sweep.command("apply")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("variant")
@json_option
def apply(spec_path: Path, variant: str, as_json: bool) -> None:
    """Write VARIANT's hyperparameter values (from SPEC.sweep.lock) into SPEC, keeping its comments."""
    from ftspec.graph.sweep import apply_variant

    out = apply_variant(spec_path, variant)
    if as_json:
        emit_json(out)
        return
    values = ", ".join(f"{k}={v}" for k, v in out["values"].items())
    if out["changed"]:
        click.echo(f"{out['spec']}: set {values}; the next build trains this variant (or reuses its job)")
    else:
        click.echo(f"{out['spec']}: already has {values}; nothing to change")
