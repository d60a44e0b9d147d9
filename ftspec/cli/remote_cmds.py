"""``ftspec remote | push | pull``: thin wrappers over ``ftspec.artifacts``."""

from __future__ import annotations

from pathlib import Path

import click

from ftspec.cli.output import emit_json, json_option

SpecPath = click.Path(dir_okay=False, path_type=Path)


def _root() -> Path:
    from ftspec.project import project_root

    return project_root(Path.cwd())


def _specs(spec_paths: tuple[Path, ...], root: Path) -> list:
    """The given specs, or every spec with a lockfile in the project."""
    from ftspec.graph.remote import locked_specs
    from ftspec.spec import load_spec

    paths = list(spec_paths) or [spec for spec, _ in locked_specs(root)]
    if not paths:
        from ftspec.errors import FtspecError

        raise FtspecError("no spec given and no lockfile found; usage: ftspec push SPEC...")
    return [load_spec(p) for p in paths]


@click.group()
def remote() -> None:
    """Declare where artifacts are pushed (kept in the committed ftspec.toml)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A non-secret fsspec option, e.g. endpoint_url=https://minio.local (repeatable).")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--force", is_flag=True, help="Replace a remote of the same name.")
def remote_add(name: str, url: str, options: tuple[str, ...], make_default: bool, force: bool) -> None:
    """Declare remote NAME at URL (s3://, gs://, az://, ssh://, a folder...)."""
    from ftspec.artifacts.config import add_remote, parse_option

    parsed = dict(parse_option(o) for o in options)
    config = add_remote(_root(), name, url, options=parsed, default=make_default, force=force)
    suffix = " (default)" if config.default == name else ""
    click.echo(f"remote '{name}' -> {url}{suffix} in {config.path.name}")


@remote.command("list")
def remote_list() -> None:
    """The declared remotes."""
    from ftspec.artifacts.config import load_config

    config = load_config(_root())
    if not config.remotes:
        click.echo("no remote configured; add one: ftspec remote add NAME URL", err=True)
    for name, spec in sorted(config.remotes.items()):
        mark = " (default)" if name == config.default else ""
        click.echo(f"{name}\t{spec.url}{mark}")


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Forget remote NAME (its objects stay where they are)."""
    from ftspec.artifacts.config import remove_remote

    remove_remote(_root(), name)
    click.echo(f"removed remote '{name}'")


def _report(results, verb: str, as_json: bool) -> None:
    from ftspec.artifacts.store import human_bytes

    if as_json:
        emit_json([r.to_json() for r in results])
        return
    for r in results:
        moved = ", ".join(r.sent) or "nothing"
        click.echo(f"{r.spec}: {verb} {moved} ({human_bytes(r.bytes)} transferred)")
        for item in r.present:
            click.echo(f"{r.spec}: {item} already here")
        for item in r.missing:
            click.echo(f"{r.spec}: warning: {item}", err=True)


_transfer_options = [
    click.argument("spec_paths", metavar="[SPEC...]", nargs=-1, type=SpecPath),
    click.option("-r", "--remote", "remote_name", default=None, help="Remote name (default: the project's)."),
    click.option("-j", "--jobs", default=4, show_default=True, type=click.IntRange(1, 64),
                 help="Transfers in parallel."),
    json_option,
]


def _with_transfer_options(fn):
    for option in reversed(_transfer_options):
        fn = option(fn)
    return fn


@click.command()
@_with_transfer_options
def push(spec_paths: tuple[Path, ...], remote_name: str | None, jobs: int, as_json: bool) -> None:
    """Upload the models and datasets SPECs' lockfiles reference that the remote lacks."""
    from ftspec.artifacts.sync import push as do_push

    root = _root()
    _report(do_push(_specs(spec_paths, root), root, remote=remote_name, jobs=jobs, echo=_err), "pushed", as_json)


@click.command()
@_with_transfer_options
def pull(spec_paths: tuple[Path, ...], remote_name: str | None, jobs: int, as_json: bool) -> None:
    """Fetch (and sha256-verify) what SPECs' lockfiles reference and this machine lacks."""
    from ftspec.artifacts.sync import pull as do_pull

    root = _root()
    _report(do_pull(_specs(spec_paths, root), root, remote=remote_name, jobs=jobs, echo=_err), "pulled", as_json)


def _err(line: str) -> None:
    click.echo(line, err=True)
