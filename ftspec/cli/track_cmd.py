"""``ftspec track SPEC...``: log what the lockfiles record to the spec's experiment trackers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.command()
@click.argument("spec_paths", metavar="SPEC...", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@json_option
def track(spec_paths: tuple[Path, ...], as_json: bool) -> None:
    """Backfill MLflow runs for what SPEC's lockfile records (one run per job; rerunning adds none)."""
    from ftspec.graph.track import track as do_track

    out = do_track(spec_paths, echo=lambda line: print(line, file=sys.stderr, flush=True))
    if as_json:
        emit_json({"runs": out})
