"""Waiting for a training job, for any provider: live progress, events log, clean failures.

Ctrl-C (or SIGTERM) leaves the remote job running and says how to resume or cancel it.
Unknown statuses (``paused``, future ones) are shown and waited on, never crashed on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftspec.errors import JobFailedError
from ftspec.providers.base import Job, JobEvent, Provider

MAX_WAIT_S = 7 * 24 * 3600  # a week: the loop is bounded even if a provider never finishes


class Progress:
    """What the display shows, folded from the job and its metrics events."""

    def __init__(self) -> None:
        self.status = "?"
        self.step: int | None = None
        self.total: int | None = None
        self.train_loss: float | None = None
        self.valid_loss: float | None = None
        self.trained_tokens: int | None = None
        self.estimated_finish: int | None = None

    def update(self, job: Job, events: list[JobEvent]) -> None:
        self.status = job.status
        self.trained_tokens = job.trained_tokens
        self.estimated_finish = job.estimated_finish
        for event in events:
            if event.type == "metrics" and event.data:
                data = event.data
                self.step = _int(data.get("step"), self.step)
                self.total = _int(data.get("total_steps"), self.total)
                self.train_loss = _float(data.get("train_loss"), self.train_loss)
                self.valid_loss = _float(data.get("valid_loss", data.get("full_valid_loss")), self.valid_loss)

    def line(self) -> str:
        parts = [f"status {self.status}"]
        if self.step is not None:
            parts.append(f"step {self.step}/{self.total or '?'}")
        if self.train_loss is not None:
            parts.append(f"train loss {self.train_loss:.4f}")
        if self.valid_loss is not None:
            parts.append(f"valid loss {self.valid_loss:.4f}")
        if self.trained_tokens:
            parts.append(f"trained tokens {self.trained_tokens:,}")
        if self.estimated_finish:
            remaining = max(0, int(self.estimated_finish - time.time()))
            parts.append(f"ETA {remaining // 60}m{remaining % 60:02d}s")
        return ", ".join(parts)


def wait_for_job(
    provider: Provider,
    job_id: str,
    *,
    spec_label: str,
    events_log: Path | None = None,
    poll_interval: float | None = None,
    live: bool = False,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    """Poll until the job is terminal; returns the succeeded job or raises JobFailedError."""
    interval = poll_interval if poll_interval is not None else float(getattr(provider, "poll_interval", 10.0))
    progress = Progress()
    seen: set[str] = set()
    deadline = time.monotonic() + MAX_WAIT_S
    display = _Display(live, spec_label, echo)
    try:
        with display:
            while True:
                job = provider.get_job(job_id)
                new = [e for e in provider.list_events(job_id) if e.id not in seen]
                seen.update(e.id for e in new)
                _log_events(events_log, new)
                progress.update(job, new)
                display.show(progress.line())
                if job.done:
                    break
                if time.monotonic() > deadline:
                    raise JobFailedError(f"{spec_label}: job {job_id} still {job.status} after {MAX_WAIT_S // 3600} h; "
                                         "run ftspec build again to keep waiting")
                sleep(interval)
    except KeyboardInterrupt:
        echo(f"interrupted: job {job_id} keeps running on {provider.name}.")
        echo(f"  resume waiting: ftspec build {spec_label}    cancel it: ftspec cancel {spec_label}")
        raise
    if job.status != "succeeded":
        raise JobFailedError(_failure_message(spec_label, job, provider.list_events(job_id)))
    return job


def _failure_message(label: str, job: Job, events: list[JobEvent]) -> str:
    error = job.error or {}
    code = error.get("code") or job.status
    message = error.get("message") or f"the job ended {job.status}"
    lines = [f"{label}: job {job.id} {job.status}: {code}: {message}"]
    if error.get("param"):
        lines[0] += f" (param {error['param']})"
    for event in events[-5:]:
        lines.append(f"  event [{event.level}] {event.message}")
    return "\n".join(lines)


def _log_events(path: Path | None, events: list[JobEvent]) -> None:
    if path is None or not events:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:  # append-only log; a torn last line is harmless
        for e in events:
            fh.write(json.dumps({"id": e.id, "created_at": e.created_at, "level": e.level,
                                 "type": e.type, "message": e.message, "data": e.data}, sort_keys=True) + "\n")


class _Display:
    """A rich live line on a terminal; otherwise one printed line per change."""

    def __init__(self, live: bool, label: str, echo: Callable[[str], None]) -> None:
        self.live = live
        self.label = label
        self.echo = echo
        self.last = ""
        self._live: Any = None

    def __enter__(self) -> _Display:
        if self.live:
            from rich.live import Live
            from rich.text import Text

            from ftspec.graph.state import stderr_console

            self._text = Text
            self._live = Live(console=stderr_console(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def show(self, line: str) -> None:
        if line == self.last:
            return
        self.last = line
        if self._live is not None:
            self._live.update(self._text(f"{self.label}: {line}"))
        else:
            self.echo(f"{self.label}: {line}")

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float | None) -> float | None:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
