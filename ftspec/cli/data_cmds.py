"""``ftspec validate`` and ``ftspec dataset``: thin wrappers over ``build_dataset``."""

from __future__ import annotations

from pathlib import Path

import click


def _verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return (obj or {}).get("verbosity", 0)


def _warn(lines: list[str]) -> None:
    if _verbosity() >= 0:
        for line in lines:
            click.echo(f"warning: {line}", err=True)


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(specs: tuple[Path, ...]) -> None:
    """Validate SPECS and their data; print every located error (exit 1 on any)."""
    from ftspec.data.parallel import validate_dataset
    from ftspec.errors import FtspecError, ProblemsError
    from ftspec.providers import spec_token_counter
    from ftspec.spec.loader import display_path, load_spec

    failed: list[FtspecError] = []
    for path in specs:
        try:
            spec = load_spec(path)
            with spec_token_counter(spec) as counter:
                result = validate_dataset(spec, counter=counter)
        except FtspecError as exc:
            failed.append(exc)
            continue
        counts = result.counts
        tokens = result.manifest["tokens"]
        kind = "exact" if tokens["exact"] else "estimated"
        click.echo(f"ok: {display_path(path)}: {counts['train'] + counts['validation']} examples "
                   f"(train {counts['train']}, validation {counts['validation']}), "
                   f"{tokens['train']['total'] + tokens['validation']['total']} tokens ({kind})")
        _warn(result.warnings)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        problems = [p for exc in failed if isinstance(exc, ProblemsError) for p in exc.problems]
        others = [exc for exc in failed if not isinstance(exc, ProblemsError)]
        for exc in others:
            click.echo(f"error: {exc.message}", err=True)
        if problems:
            raise ProblemsError(problems)
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: .ftspec/datasets/<name>/ in the project).")
@click.option("--report", is_flag=True, help="Also write the data report (data_report.html).")
@click.option("--require-review", is_flag=True, help="Fail while any example has no review decision.")
def dataset(spec_path: Path, out_dir: Path | None, report: bool, require_review: bool) -> None:
    """Build SPEC's dataset files; print their paths and sha256."""
    from ftspec.data.pipeline import build_dataset
    from ftspec.project import dataset_dir, project_root
    from ftspec.providers import spec_token_counter
    from ftspec.spec.loader import display_path, load_spec

    spec = load_spec(spec_path)
    if require_review:
        from ftspec.data.review import require_review as make_review_required

        make_review_required(spec)
    out = out_dir or dataset_dir(project_root(spec.path), spec.name)
    with spec_token_counter(spec) as counter:
        result = build_dataset(spec, out, counter=counter)
        if report:
            from ftspec.data.report import write_data_report

            write_data_report(spec, result, out / "data_report.html", counter=counter)
    for split, path in result.files.items():
        if path is not None:
            click.echo(f"{display_path(path)}  sha256:{result.sha256[split]}  ({result.counts[split]} examples)")
    click.echo(f"{display_path(out / 'manifest.json')}  dataset sha256:{result.dataset_sha256}")
    _warn(result.warnings)
    if report:
        click.echo(f"{display_path(out / 'data_report.html')}")
