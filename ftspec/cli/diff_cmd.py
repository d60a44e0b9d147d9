"""``ftspec diff SPEC [REV_A] [REV_B]`` and ``ftspec diff SPEC_A SPEC_B``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


def _is_spec_file(arg: str | None) -> bool:
    return bool(arg) and arg.endswith((".yaml", ".yml")) and Path(arg).is_file()


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("rev_a", required=False, default=None)
@click.argument("rev_b", required=False, default=None)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@json_option
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when any eval case regressed (against the recorded baseline, in parity mode).")
@click.option("--tolerance", type=float, default=0.05, show_default=True,
              help="A score drop larger than this counts as a regression.")
@click.option("--no-examples", is_flag=True, help="Skip listing dataset examples by id (faster).")
def diff(spec: Path, rev_a: str | None, rev_b: str | None, fmt: str, as_json: bool, fail_on_regression: bool,
         tolerance: float, no_examples: bool) -> None:
    """Compare REV_A (default HEAD) with REV_B (default: the working tree), or two specs.

    \b
    Shows what changed in the spec, the dataset, the model and job, and every eval: metric
    deltas and the cases that regressed or improved, with both outputs. When the second spec
    names a recorded baseline (baseline:, as `ftspec migrate` writes it), each eval set is
    compared with those recorded answers: parity per eval set (pass rate, mean score, cases
    worse) and every case old and new side by side, without calling the old model.
    """
    from ftspec.evals.diff import diff_revisions, diff_specs, render_markdown, render_text

    options = {"tolerance": tolerance, "with_examples": not no_examples}
    if _is_spec_file(rev_a) and rev_b is None:
        result = diff_specs(spec, Path(rev_a), **options)
    else:
        result = diff_revisions(spec, rev_a or "HEAD", rev_b, **options)
    if as_json or fmt == "json":  # --json is the same flag every command has; --format json kept
        emit_json(result)
    elif fmt == "markdown":
        click.echo(render_markdown(result), nl=False)
    else:
        click.echo(render_text(result, color=sys.stdout.isatty()))
    if fail_on_regression and result["regressions"]:
        from ftspec.evals.diff import DiffError

        count = result["regressions"]
        raise DiffError(f"{count} eval case{'s' if count != 1 else ''} regressed (--fail-on-regression)")
