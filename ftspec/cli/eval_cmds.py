"""``ftspec eval`` (run evals alone, against any model id) and ``ftspec report`` (the HTML)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option


@click.command("eval")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--eval", "eval_name", help="Run only this eval set.")
@click.option("--model", "model_id", help="Model id to evaluate (default: the lockfile's model).")
@click.option("--record-baseline", is_flag=True,
              help="Freeze the model's answers and scores in baselines/<spec>.json (commit it): later "
                   "evals and `ftspec diff` compare with them without calling this model.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the cases as JUnit XML tests to this file (failures carry the scorers' reasons).")
@click.option("--compare", is_flag=True,
              help="Two answers per case (two samples of --model, or --model and --against) in "
                   "reports/<spec>/compare.json, to choose from with --serve.")
@click.option("--against", "against", help="With --compare: the second model (the parent, the base, a candidate), "
              "or 'baseline': the answers the recorded baseline froze (the old model need not run).")
@click.option("--serve", is_flag=True, help="With --compare: serve the compare page on 127.0.0.1.")
@click.option("--port", type=int, default=8766, show_default=True, help="With --serve: the port (0: a free one).")
@json_option
def eval_(spec_path: Path, eval_name: str | None, model_id: str | None, record_baseline: bool,
          junit_path: Path | None, compare: bool, against: str | None, serve: bool, port: int,
          as_json: bool) -> None:
    """Run the spec's eval sets and write reports/<spec>/<eval>.json and .html."""
    from ftspec.errors import EvalError
    from ftspec.evals.evaluate import evaluate

    logging.getLogger("ftspec.evals").addHandler(_WarningEcho())
    if compare or serve or against:
        if not compare:
            raise click.UsageError("--against and --serve go with --compare")
        _compare(spec_path, eval_name, model_id, against, serve, port, as_json)
        return
    if record_baseline:
        _record(spec_path, eval_name, model_id, as_json)
        return
    import sys

    def stderr_line(line: str) -> None:
        click.echo(line, err=True)

    # on a terminal the generator's own live bar; otherwise a throttled line per set
    result = evaluate(spec_path, eval_name=eval_name, model=model_id,
                      progress_echo=None if sys.stderr.isatty() else stderr_line)
    if junit_path is not None:
        from ftspec.evals.junit import write_junit
        from ftspec.project import project_root

        root = project_root(spec_path.resolve())
        write_junit(junit_path, [root / s["report"] for s in result.summaries.values()])
    if as_json:
        emit_json(result.summaries)
    else:
        for name, s in result.summaries.items():
            click.echo(f"{result.spec_name}/{name}: {s['passed']}/{s['cases'] if s['runs'] == s['cases'] else s['runs']} "
                       f"passed ({s['pass_rate']:.1%}), {s['errored']} errored, model {result.model}; report "
                       f"{Path(s['report']).with_suffix('.html').as_posix()}")
    if result.failures:
        raise EvalError("\n".join(result.failures))


def _compare(spec_path: Path, eval_name: str | None, model_id: str | None, against: str | None,
             serve: bool, port: int, as_json: bool) -> None:
    from ftspec.evals.compare_server import CompareSession
    from ftspec.evals.compare_server import serve as serve_page
    from ftspec.evals.pairs import load_pairs, make_pairs
    from ftspec.project import project_root
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    made = make_pairs(spec, eval_name=eval_name, model=model_id, against=against)
    root = project_root(spec.path)
    rel = made.path.relative_to(root).as_posix()
    session = CompareSession(spec.name, load_pairs(made.path), root)
    if as_json and not serve:
        emit_json({"pairs": rel, "models": list(made.models), "count": len(made.pairs),
                   "new_generations": made.new_generations, "not_recorded": made.not_recorded, "win_rate": session.state()["win_rate"]})
        return
    n = made.not_recorded
    left_out = f"; {n} case{'s' if n != 1 else ''} the baseline did not record: no pair" if n else ""
    click.echo(f"{rel}: {len(made.pairs)} pairs ({made.new_generations} new answers), "
               f"{made.models[0]} vs {made.models[1]}{left_out}", err=serve)
    if not serve:
        return
    serve_page(session, port, lambda server: click.echo(
        f"compare page: {server.url} (choices saved to {session.path.relative_to(root).as_posix()}; Ctrl-C stops)",
        err=True))


def _record(spec_path: Path, eval_name: str | None, model_id: str | None, as_json: bool) -> None:
    from ftspec.evals.baseline import record_baseline

    recorded = record_baseline(spec_path, eval_name=eval_name, model=model_id)
    if as_json:
        emit_json({"baseline": recorded.rel, "model": recorded.model, "changed": recorded.changed,
                   "new_generations": recorded.new_generations, "evals": recorded.summaries})
        return
    for name, s in recorded.summaries.items():
        click.echo(f"{name}: {s['passed']}/{s['runs']} passed ({s['pass_rate']:.1%}), model {recorded.model}")
    click.echo(f"baseline {'recorded' if recorded.changed else 'unchanged'}: {recorded.rel} "
               f"({recorded.new_generations} new generation(s)); commit it")


class _WarningEcho(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            click.echo(f"warning: {record.getMessage()}", err=True)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--eval", "eval_name", help="Only this eval set.")
@click.option("--open", "open_it", is_flag=True, help="Open the HTML report in a browser.")
def report(spec_path: Path, eval_name: str | None, open_it: bool) -> None:
    """Print (and with --open, open) the path of each eval's HTML report, re-rendered from its JSON."""
    from ftspec.errors import EvalError
    from ftspec.evals.evaluate import selected_evals
    from ftspec.evals.report_html import render_report
    from ftspec.evals.runner import report_paths
    from ftspec.project import project_root
    from ftspec.spec.loader import load_spec
    from ftspec.util import atomic_write_text

    spec = load_spec(spec_path, check_files=False)
    root = project_root(spec.path)
    for ev in selected_evals(spec, eval_name):
        json_path, html_path = report_paths(root, spec.name, ev["name"])
        if not json_path.is_file():
            raise EvalError(f"{json_path.relative_to(root).as_posix()}: no report for eval '{ev['name']}' yet; "
                            f"run: ftspec eval {spec_path}")
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise EvalError(f"{json_path}:{exc.lineno}:{exc.colno}: report is not valid JSON: {exc.msg}") from None
        html = render_report(data)
        if not html_path.is_file() or html_path.read_text(encoding="utf-8") != html:
            atomic_write_text(html_path, html)
        click.echo(html_path.relative_to(root).as_posix())
        if open_it:
            import webbrowser

            webbrowser.open(html_path.resolve().as_uri())
