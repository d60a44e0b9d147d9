"""A real one-machine Ray cluster for tests and benchmarks: ``with ray_head() as head: head.address``.

``ray start --head`` on free loopback ports with its own short ``--temp-dir`` (Ray's unix socket
paths must stay under ~107 bytes, so not pytest's long tmp paths), this interpreter's folder
first on PATH (the Ray job's ``python -m ftspec...`` entrypoint is then this environment), and
startup bounded in time. Stopping kills only the processes of this head (those whose command
line names its temp dir), not ``ray stop``'s every Ray process on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 120.0


@dataclass
class RayHead:
    address: str  # the dashboard / job submission address
    gcs: str
    temp_dir: Path
    env: dict[str, str]
    command: list[str]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start (or, after ``stop``, restart) the head on its own ports: the same address."""
        deadline = time.monotonic() + timeout_s
        subprocess.run(self.command, env=self.env, check=True, capture_output=True, text=True, timeout=timeout_s)
        _wait_ready(self.address, deadline)

    def pids(self) -> list[int]:
        """This head's processes: every one whose command line names its temp dir."""
        mark = str(self.temp_dir).encode()
        out = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if mark in (proc / "cmdline").read_bytes():
                    out.append(int(proc.name))
        return out

    def stop(self, timeout_s: float = 20.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + timeout_s
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.pids():
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(address: str, deadline: float) -> None:
    from ray.job_submission import JobSubmissionClient

    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            JobSubmissionClient(address).list_jobs()
            return
        except Exception as exc:  # noqa: BLE001 - the dashboard is still starting
            last = exc
            time.sleep(0.5)
    raise TimeoutError(f"the Ray dashboard at {address} did not answer within {START_TIMEOUT_S:g} s: {last}")


@contextlib.contextmanager
def ray_head(num_cpus: int = 2, *, timeout_s: float = START_TIMEOUT_S) -> Iterator[RayHead]:
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_TRAIN_V2_ENABLED": "1"}
    port, dashboard = free_port(), free_port()
    ray = shutil.which("ray", path=env["PATH"]) or "ray"
    cmd = [ray, "start", "--head", f"--num-cpus={num_cpus}", "--num-gpus=0", f"--port={port}",
           "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
           "--include-dashboard=true", f"--temp-dir={temp_dir}", "--disable-usage-stats",
           f"--ray-client-server-port={free_port()}",
           f"--dashboard-agent-listen-port={free_port()}"]
    head = RayHead(address=f"http://127.0.0.1:{dashboard}", gcs=f"127.0.0.1:{port}", temp_dir=temp_dir, env=env,
                   command=cmd)
    try:
        head.start(timeout_s)
        yield head
    finally:
        head.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
