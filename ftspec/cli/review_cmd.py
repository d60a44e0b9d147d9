"""``ftspec review SPEC``: write the review page (Markdown + HTML) and the decisions file;
``--serve`` reviews in the browser instead (``ftspec.data.review.server``)."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--serve", is_flag=True, help="Review in the browser: a page on 127.0.0.1 that saves each decision as it is made.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port for --serve (0: any free port).")
@json_option
def review(spec_path: Path, serve: bool, port: int, as_json: bool) -> None:
    """Write reviews/<spec>.md, .html and .yaml; existing decisions are kept, new examples added."""
    from ftspec.spec.loader import display_path, load_spec

    spec = load_spec(spec_path)
    if serve:
        _serve(spec, port, as_json)
        return
    from ftspec.data.review import write_review

    result = write_review(spec)
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


def _serve(spec, port: int, as_json: bool) -> None:
    from ftspec.data.review.server import serve
    from ftspec.spec.loader import display_path

    def announce(server) -> None:
        session = server.session
        progress = session.current_progress()
        if as_json:
            emit_json({"url": server.url, "decisions": display_path(session.path), **progress})
        else:
            click.echo(f"{display_path(session.path)}: {progress['reviewed']} of {progress['total']} reviewed")
            click.echo(f"reviewing at {server.url} (Ctrl-C to stop; every decision is saved as it is made)")
        click.get_text_stream("stdout").flush()

    serve(spec, port, announce)
