"""``ftspec validate`` and ``ftspec dataset``: thin wrappers over ``build_dataset``."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


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
@click.option("--show-effective", is_flag=True,
              help="Print each spec as it is after merging the specs it extends (YAML; in --json, 'effective').")
@json_option
def validate(specs: tuple[Path, ...], show_effective: bool, as_json: bool) -> None:
    """Validate SPECS and their data; print every located error (exit 1 on any)."""
    from ftspec.data.parallel import validate_dataset
    from ftspec.errors import FtspecError
    from ftspec.providers import spec_token_counter
    from ftspec.spec.loader import display_path, load_spec

    failed: list[FtspecError] = []
    rows: list[dict] = []
    for path in specs:
        try:
            spec = load_spec(path)
            if show_effective and not as_json:
                click.echo(_effective(spec), nl=False)
            with spec_token_counter(spec) as counter:
                result = validate_dataset(spec, counter=counter)
        except FtspecError as exc:
            failed.append(exc)
            rows.append({"spec": display_path(path), "ok": False, "errors": _error_lines(exc)})
            continue
        counts = result.counts
        tokens = result.manifest["tokens"]
        kind = "exact" if tokens["exact"] else "estimated"
        rows.append({"spec": display_path(path), "ok": True, "examples": counts["train"] + counts["validation"],
                     "counts": dict(counts), "tokens": tokens["train"]["total"] + tokens["validation"]["total"],
                     "tokens_exact": bool(tokens["exact"]), "warnings": list(result.warnings)})
        if show_effective:
            rows[-1]["effective"] = spec.raw
            rows[-1]["extends"] = [display_path(p) for p in spec.bases]
        if not as_json:
            click.echo(f"ok: {display_path(path)}: {rows[-1]['examples']} examples "
                       f"(train {counts['train']}, validation {counts['validation']}), "
                       f"{rows[-1]['tokens']} tokens ({kind})")
        _warn(result.warnings)
    if as_json:
        emit_json(rows)  # failures are rows too, so a machine sees every spec; errors also on stderr
    _raise_failures(failed)


def _effective(spec) -> str:
    from ftspec.spec.extends import effective_yaml
    from ftspec.spec.loader import display_path

    return effective_yaml(spec.raw, display_path(spec.path), [display_path(p) for p in spec.bases])


def _error_lines(exc) -> list[str]:
    from ftspec.errors import ProblemsError

    if isinstance(exc, ProblemsError):
        return [str(p) for p in exc.problems]
    return [exc.message]


def _raise_failures(failed: list) -> None:
    from ftspec.errors import ProblemsError

    if len(failed) == 1:
        raise failed[0]
    if failed:
        problems = [p for exc in failed if isinstance(exc, ProblemsError) for p in exc.problems]
        others = [exc for exc in failed if not isinstance(exc, ProblemsError)]
        for exc in others:
            click.echo(f"error: {exc.message}", err=True)
        if problems:
            raise ProblemsError([], then=problems)  # each spec's problems keep their order
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: .ftspec/datasets/<name>/ in the project).")
@click.option("--report", is_flag=True, help="Also write the data report (data_report.html).")
@click.option("--require-review", is_flag=True, help="Fail while any example has no review decision.")
@json_option
def dataset(spec_path: Path, out_dir: Path | None, report: bool, require_review: bool, as_json: bool) -> None:
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
        report_path = None
        if report:
            from ftspec.data.report import write_data_report

            report_path = out / "data_report.html"
            write_data_report(spec, result, report_path, counter=counter)
    _warn(result.warnings)
    if as_json:
        emit_json({"spec": spec.name, "dataset_sha256": result.dataset_sha256,
                   "manifest": display_path(out / "manifest.json"),
                   "report": display_path(report_path) if report_path else None,
                   "splits": {split: {"path": display_path(path), "sha256": result.sha256[split],
                                      "examples": result.counts[split]}
                              for split, path in result.files.items() if path is not None},
                   "warnings": list(result.warnings)})
        return
    for split, path in result.files.items():
        if path is not None:
            click.echo(f"{display_path(path)}  sha256:{result.sha256[split]}  ({result.counts[split]} examples)")
    click.echo(f"{display_path(out / 'manifest.json')}  dataset sha256:{result.dataset_sha256}")
    if report_path is not None:
        click.echo(f"{display_path(report_path)}")
