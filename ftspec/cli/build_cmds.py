"""``ftspec build | status | cancel | gc | models``: thin wrappers over ``ftspec.graph``."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json as _json
from ftspec.cli.output import json_option

SpecPath = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("spec_paths", metavar="SPEC...", nargs=-1, required=True, type=SpecPath)
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Build this many independent specs in parallel.")
@json_option
@click.option("--no-pull", is_flag=True, help="Retrain a locked local model missing here instead of pulling it.")
@click.option("--sweep", "sweeps", multiple=True, metavar="hyperparameters.NAME=V1,V2,...",
              help="Train one variant per value (repeat for a cross product) and compare them.")
@click.pass_context
def build(ctx: click.Context, spec_paths: tuple[Path, ...], jobs: int, as_json: bool, no_pull: bool,
          sweeps: tuple[str, ...]) -> None:
    """Build SPECs: dataset, upload, training job, model, evals, lockfile; only what changed."""
    from ftspec.graph.build import build as run_build
    from ftspec.lockfile import load_lock

    verbose = (ctx.obj or {}).get("verbosity", 0) > 0
    if sweeps:
        _sweep(spec_paths, list(sweeps), as_json=as_json, verbose=verbose, pull=not no_pull)
        return
    result = run_build(list(spec_paths), jobs=jobs, verbose=verbose, pull=not no_pull)
    from ftspec.evals.compare import comparisons, summary_lines

    locks = {name: load_lock(path) for name, path in sorted(result.locks.items())}
    summary = {name: {"lock": str(result.locks[name]), "model": lock.get("model"),
                      "evals": comparisons(lock.get("evals") or {})} for name, lock in locks.items()}
    if as_json:
        _json({"ran": result.ran, "skipped": result.skipped, "specs": summary})
        return
    if not result.ran:
        click.echo("nothing to do: everything is up to date", err=True)
    colour = {"bad": "red", "warn": "yellow", "ok": "green"}
    for name, info in summary.items():
        click.echo(f"{name}: {info['model']} ({info['lock']})")
        for line in summary_lines(name, locks[name].get("evals") or {},
                                  style=lambda text, level: click.style(text, fg=colour[level])):
            click.echo(line)


def _sweep(spec_paths: tuple[Path, ...], options: list[str], *, as_json: bool, verbose: bool, pull: bool) -> None:
    from ftspec.errors import FtspecError
    from ftspec.evals.sweep_report import table_lines
    from ftspec.graph.sweep import run_sweep

    if len(spec_paths) != 1:
        raise FtspecError(f"--sweep builds one spec at a time; got {len(spec_paths)}")
    result = run_sweep(spec_paths[0], options, verbose=verbose, pull=pull)
    if as_json:
        _json(result.to_json())
        return
    for line in table_lines(result.rows):
        click.echo(line)
    click.echo(f"{result.spec}: sweep recorded in {result.lock}; comparison page {result.html}", err=True)
    click.echo(f"apply one with: ftspec sweep apply {spec_paths[0]} VARIANT", err=True)


@click.command()
@click.argument("spec_paths", metavar="SPEC...", nargs=-1, required=True, type=SpecPath)
@json_option
def status(spec_paths: tuple[Path, ...], as_json: bool) -> None:
    """Which tasks of SPEC are up to date, and why the others are stale."""
    from ftspec.artifacts.sync import artifact_status
    from ftspec.graph.status import spec_status
    from ftspec.project import project_root
    from ftspec.spec import load_spec

    specs = [load_spec(p) for p in spec_paths]
    results = [(spec_status(s), artifact_status(s, project_root(s.path))) for s in specs]
    if as_json:
        _json([{**r.to_json(), "artifacts": [a.to_json() for a in arts]} for r, arts in results])
        return
    for r, arts in results:
        click.echo(f"{r.spec}: {r.summary}")
        for t in r.tasks:
            state = "up to date" if t.uptodate else "stale: " + "; ".join(t.reasons)
            reuse = f" (will reuse {t.reuse})" if t.reuse else ""
            click.echo(f"  {t.task:<28} {state}{reuse}")
        for a in arts:
            where = f" '{a.remote}'" if a.remote else ""
            state = a.state.replace("in the remote", f"in the remote{where}") if a.remote else a.state
            detail = f": {a.detail}" if a.detail else ""
            click.echo(f"  {a.artifact:<28} {state}{detail}")
        for line in r.warnings:
            click.echo(f"warning: {line}", err=True)
        if r.refused:
            click.echo(f"warning: a build would be refused: {r.refused}", err=True)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=SpecPath)
@json_option
def cancel(spec_path: Path, as_json: bool) -> None:
    """Cancel SPEC's running training job (it keeps running after Ctrl-C otherwise)."""
    from ftspec.graph.remote import cancel as do_cancel

    out = do_cancel(spec_path)
    if as_json:
        _json(out)
    elif out["cancelled"]:
        click.echo(f"{out['spec']}: cancelled job {out['job']} ({out['status']})")
    else:
        click.echo(f"{out['spec']}: job {out['job']} already {out['status']}; nothing to cancel")


@click.command()
@click.argument("spec_paths", metavar="[SPEC...]", nargs=-1, type=SpecPath)
@click.option("--yes", is_flag=True, help="Delete what is listed (default: only list).")
@json_option
@click.option("--remote", "remote_name", is_flag=False, flag_value="", default=None, metavar="[NAME]",
              help="Collect the artifact remote (default one, or NAME) instead of provider files.")
def gc(spec_paths: tuple[Path, ...], yes: bool, as_json: bool, remote_name: str | None) -> None:
    """List remote files and models no lockfile in the repo references; delete with --yes."""
    from ftspec.graph.remote import gc as do_gc
    from ftspec.project import project_root

    root = project_root(spec_paths[0] if spec_paths else Path.cwd())
    if remote_name is not None:
        _gc_remote(root, remote_name or None, yes, as_json)
        return
    found = do_gc(root, list(spec_paths) or None, delete=yes)
    if as_json:
        _json([g.to_json() for g in found])
        return
    verb = "deleted" if yes else "unreferenced"
    for g in found:
        for f in g.files:
            click.echo(f"{g.provider}: {verb} file {f['id']} {f['filename']} ({f['bytes']:,} bytes)")
        for model in g.models:
            click.echo(f"{g.provider}: {verb} model {model}")
        for dep in g.deployments or []:
            click.echo(f"{g.provider}: {verb} deployment {dep['id']} serving {dep['model']} "
                       f"({dep['state']}, billed while it runs)")
    total = sum(len(g.files) + len(g.models) + len(g.deployments or []) for g in found)
    if not total:
        click.echo("nothing to collect", err=True)
    elif not yes:
        click.echo(f"{total} unreferenced object(s); run again with --yes to delete them", err=True)


@click.command()
@json_option
def models(as_json: bool) -> None:
    """The models your lockfiles name: base model, status, shutdown date and days left."""
    from ftspec.graph.remote import models as list_models
    from ftspec.project import project_root

    rows = list_models(project_root(Path.cwd()))
    if as_json:
        _json(rows)
        return
    if not rows:
        click.echo("no lockfiles found", err=True)
    for r in rows:
        click.echo(f"{r['spec']}: {r['model'] or '-'} [{r['provider']}, base {r['base_model']}, {r['status']}, "
                   f"{_shutdown_text(r)}]")


def _shutdown_text(row: dict) -> str:
    if not row["shutdown"]:
        return "no shutdown announced"
    days = row["days_left"]
    left = f"{days} days left" if days > 0 else ("shuts down today" if days == 0 else f"shut down {-days} days ago")
    source = "per the API" if row["shutdown_source"] == "api" else "per ftspec's base-model table"
    closed = "" if row["accepts_jobs"] else f"; no new jobs since {row['jobs_end']}"
    return f"shuts down {row['shutdown']} ({left}, {source}){closed}"


def _gc_remote(root: Path, remote_name: str | None, yes: bool, as_json: bool) -> None:
    from ftspec.artifacts.gc import gc_remote

    found = gc_remote(root, remote_name, delete=yes)
    if as_json:
        _json(found.to_json())
        return
    verb = "deleted" if yes else "unreferenced"
    for sha, size in found.objects.items():
        click.echo(f"{found.remote}: {verb} object {sha} ({size:,} bytes)")
    for key, size in found.temp.items():
        click.echo(f"{found.remote}: {verb if yes else 'incomplete upload'} {key} ({size:,} bytes)")
    total = len(found.objects) + len(found.temp)
    if not total:
        click.echo("nothing to collect", err=True)
    elif not yes:
        click.echo(f"{total} unreferenced object(s) in remote '{found.remote}' (no lockfile on any branch "
                   "names them); run again with --yes to delete them", err=True)
