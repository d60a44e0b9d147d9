"""Load the spec's model and run the app on uvicorn until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftspec.errors import FtspecError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
GRACEFUL_S = 5


class ServeError(FtspecError):
    """A server that cannot start (a missing extra or a port in use)."""


class ServeUsageError(ServeError):
    """A host the flags do not allow (exit status 2, as for any usage error)."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool, api_key: str | None) -> None:
    """Loopback by default; anything else needs ``--allow-remote`` and an API key."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ServeUsageError(f"--host {host} would expose the model beyond this machine; pass --allow-remote "
                         "(and an API key) to do that")
    if not api_key:
        raise ServeUsageError(f"--host {host} with --allow-remote needs an API key: --api-key or FTSPEC_SERVE_API_KEY")


def require_extra() -> None:
    import importlib.util

    missing = [n for n in ("starlette", "uvicorn") if importlib.util.find_spec(n) is None]
    if missing:
        raise ServeError(f"ftspec serve needs {' and '.join(missing)}; run: pip install 'ftspec[serve]'")


def load_served(spec, provider, model_id: str, *, echo: Callable[[str], None]):
    """The spec's template plus the loaded engine for ``model_id``, with a progress line."""
    from ftspec.data.templates import get_template
    from ftspec.evals.serve.model import ServedModel

    info = provider.model_info(model_id)
    echo(f"loading {model_id} (base {info.name if info else '?'}) ...")
    started = time.perf_counter()
    engine = provider.engine(model_id)
    created = int(time.time())
    with contextlib.suppress(Exception):
        created = int(provider.manifest(model_id).get("created_at") or created)
    echo(f"loaded in {time.perf_counter() - started:.1f}s on {engine.device}")
    return ServedModel(id=model_id, engine=engine, template=get_template(spec),
                       context_length=info.context_limit if info else None, created=created,
                       aliases=(spec.name,))


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class Outcome:
    signal_name: str | None  # the signal that stopped the server, if one did


def run(served, sock: socket.socket, *, host: str, api_key: str | None, window_s: float, max_batch: int,
        echo: Callable[[str], None]) -> Outcome:
    """Serve on ``sock`` (from ``bind``) until interrupted; returns how it stopped."""
    import uvicorn

    from ftspec.evals.serve.app import create_app
    from ftspec.evals.serve.batcher import Batcher

    actual_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    batcher = Batcher(served.engine, window_s=window_s, max_batch=max_batch).start()
    app = create_app(served, batcher, api_key=api_key)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=GRACEFUL_S)

    class Server(uvicorn.Server):
        """uvicorn's server, but a caught signal ends ``run`` normally (no re-raise) and the
        line saying where it serves comes only once it accepts connections."""

        caught: list[int] = []

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def _on_signal(self, sig: int, frame: Any) -> None:
            self.caught.append(sig)
            batcher.stopping = True  # running rows stop at their next token
            self.handle_exit(sig, frame)

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                key = " (API key required)" if api_key else ""
                echo(f"serving {served.id} on http://{shown}:{actual_port}/v1{key}; Ctrl-C to stop")

    server = Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        batcher.stop()
        sock.close()
    caught = server.caught[-1] if server.caught else None
    return Outcome(signal.Signals(caught).name if caught else None)
