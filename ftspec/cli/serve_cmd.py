"""``ftspec serve SPEC``: the spec's locked local model behind an OpenAI-compatible API."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --allow-remote and an API key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port (0: any free port; the line 'serving ... on URL' names it).")
@click.option("--model", "model_id", help="Model id to serve (default: the model in the spec's lockfile).")
@click.option("--api-key", envvar="FTSPEC_SERVE_API_KEY", show_envvar=True,
              help="Require 'Authorization: Bearer KEY' on every request.")
@click.option("--allow-remote", is_flag=True, help="Allow --host other than loopback (needs an API key).")
@click.option("--batch-window-ms", type=click.FloatRange(0, 1000), default=15.0, show_default=True,
              help="How long the first waiting request waits for others to share its batch.")
@click.option("--max-batch", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Most rows (requests x n) in one batched generation; 1 serves one at a time.")
def serve(spec_path: Path, host: str, port: int, model_id: str | None, api_key: str | None, allow_remote: bool,
          batch_window_ms: float, max_batch: int) -> None:
    """Serve the spec's model on /v1 (chat, completions, models) with its template and stops."""
    from ftspec.errors import ProviderError
    from ftspec.evals.serve.server import bind, check_host, load_served, require_extra, run
    from ftspec.providers import provider_for_spec
    from ftspec.spec.loader import load_spec

    api_key = api_key or None
    check_host(host, allow_remote=allow_remote, api_key=api_key)
    require_extra()
    spec = load_spec(spec_path, check_files=False)
    if spec.provider != "local":
        raise ProviderError(f"{spec_path}: serve needs provider 'local' (this spec uses '{spec.provider}')")
    if model_id is None:
        from ftspec.lockfile import load_lock, lock_path

        model_id = load_lock(lock_path(spec_path)).get("model")
        if not model_id:
            raise ProviderError(f"{lock_path(spec_path)}: no model yet; run: ftspec build {spec_path}")
    provider = provider_for_spec(spec)
    from ftspec.artifacts.sync import ensure_model
    from ftspec.project import project_root

    def echo(line: str) -> None:
        click.echo(line, err=True)

    ensure_model(spec, project_root(spec.path), provider, model_id, echo=echo)
    sock = bind(host, port)  # a port in use fails before minutes of loading
    try:
        served = load_served(spec, provider, model_id, echo=echo)
    except BaseException:
        sock.close()
        raise
    outcome = run(served, sock, host=host, api_key=api_key, window_s=batch_window_ms / 1000,
                  max_batch=max_batch, echo=echo)
    echo(f"stopped{f' ({outcome.signal_name})' if outcome.signal_name else ''}")
