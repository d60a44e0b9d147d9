"""A real MLflow tracking server on 127.0.0.1 for tests and benchmarks: sqlite backend and
served artifacts in a folder, a free port, a bounded start (``/health`` polled), stopped by its
own process group id. Needs full ``mlflow`` (the ``test`` extra), not just the skinny client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVER_START_S = 180  # measured 14-34 s on 2 busy cores; bounded so a broken install fails, not hangs


class MlflowServer:
    def __init__(self, folder: Path) -> None:
        import socket

        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = folder / "server.log"
        mlflow_cli = Path(sys.executable).parent / "mlflow"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(mlflow_cli), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                 "--artifacts-destination", str(folder / "artifacts")],
                cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {SERVER_START_S} s: {self.log.read_text()[-2000:]}")

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def stop(self) -> None:
        """SIGKILL the server's process group (uvicorn and its worker), by our own pid."""
        import os
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
