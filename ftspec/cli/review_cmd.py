"""``ftspec review SPEC``: write the review page (Markdown + HTML) and the decisions file."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def review(spec_path: Path, as_json: bool) -> None:
    """Write reviews/<spec>.md, .html and .yaml; existing decisions are kept, new examples added."""
    from ftspec.data.review import write_review
    from ftspec.spec.loader import display_path, load_spec

    result = write_review(load_spec(spec_path))
    if as_json:
        emit_json({"decisions": display_path(result.decisions), "markdown": display_path(result.markdown),
                   "html": display_path(result.html), "total": result.total, "new": result.new,
                   "stale": result.stale, "counts": dict(result.counts)})
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    click.echo(f"{display_path(result.decisions)}: {result.total} examples ({result.new} new"
               f"{f', {result.stale} stale' if result.stale else ''}); {counts or 'no decisions'}")
    click.echo(display_path(result.markdown))
    click.echo(display_path(result.html))
