"""Dynamic batching: concurrent requests collected for a short window into one batched generation.

One worker thread owns the model. It takes the first waiting job, keeps collecting for
``window_s`` (or until ``max_batch`` rows wait), groups the jobs by sampling settings
(``ftspec.providers.local.generate.sampling_key``: rows of one ``generate`` call share them) and
runs each group through ``Engine.generate``, the same batched generation ``ftspec eval`` uses.
Streaming jobs get their text as it is generated, held back while it could still turn into a stop
sequence, so the streamed pieces join to exactly the non-streamed answer. A job whose client went
away is cancelled: its rows stop generating and the rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("ftspec.serve")
DEFAULT_WINDOW_S = 0.015
DEFAULT_MAX_BATCH = 16


@dataclass
class Job:
    """One request waiting for (or in) a batch. Events go to ``events`` on the server's loop:
    ``("delta", choice, text)`` while streaming, then ``("done", ChatResult)`` or ``("error", exc)``."""

    request: Any  # ChatRequest
    loop: asyncio.AbstractEventLoop
    stream: bool = False
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    emitted: list[str] = field(default_factory=list)  # streamed text per choice

    @property
    def rows(self) -> int:
        return max(1, self.request.n)

    def send(self, *event: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the loop is closed: the server is gone
            self.cancelled = True


@dataclass
class _Row:
    job: Job
    choice: int
    ids: list[int] = field(default_factory=list)
    done: bool = False


class Batcher:
    def __init__(self, engine, *, window_s: float = DEFAULT_WINDOW_S, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.engine = engine
        self.window_s = max(0.0, window_s)
        self.max_batch = max(1, max_batch)
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.stopping = False
        self.batches = 0  # generate calls made
        self.requests = 0  # jobs answered
        self.cancelled = 0  # jobs whose client left before their batch finished
        self.thread = threading.Thread(target=self._loop, name="ftspec-serve-batcher", daemon=True)

    def start(self) -> Batcher:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs, answer what waits with an error, end the thread."""
        self.stopping = True
        self.queue.put(None)
        self.thread.join(timeout)

    def submit(self, job: Job) -> None:
        if self.stopping:
            job.send("error", RuntimeError("the server is shutting down"))
            return
        self.queue.put(job)

    # ---- the worker thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is None or self.stopping:
                self._drain(first)
                return
            jobs = [first]
            rows = first.rows
            deadline = time.monotonic() + self.window_s
            while rows < self.max_batch:
                wait = deadline - time.monotonic()
                try:
                    job = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.stopping = True
                    break
                jobs.append(job)
                rows += job.rows
            self._run_groups([j for j in jobs if not j.cancelled])
            if self.stopping:
                self._drain(None)
                return

    def _drain(self, first: Job | None) -> None:
        pending = [first] if first is not None else []
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                pending.append(job)
        for job in pending:
            job.send("error", RuntimeError("the server is shutting down"))

    def _run_groups(self, jobs: list[Job]) -> None:
        from ftspec.providers.local.generate import sampling_key

        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            groups.setdefault(sampling_key(job.request), []).append(job)
        for group in groups.values():
            per_call = max(1, self.max_batch // group[0].rows)
            group.sort(key=lambda j: len(self.engine.prompt_text(j.request)))  # less left padding
            for start in range(0, len(group), per_call):
                self._generate(group[start:start + per_call])

    def _generate(self, jobs: list[Job]) -> None:
        rows = [_Row(job, c) for job in jobs for c in range(job.rows)]
        for job in jobs:
            job.emitted = [""] * job.rows
        streaming = any(j.stream for j in jobs)
        enders = set(self.engine.stop_ids())

        def on_step(tokens: list[int]) -> None:
            for row, token in zip(rows, tokens, strict=False):
                if row.done or row.job.cancelled:
                    continue
                if token in enders:
                    row.done = True
                    continue
                row.ids.append(token)
                if row.job.stream:
                    self._stream_row(row)

        def cancelled() -> list[bool]:
            return [self.stopping or r.job.cancelled for r in rows]

        try:
            results = self.engine.generate([j.request for j in jobs], on_step=on_step if streaming else None,
                                           cancelled=cancelled)
        except Exception as exc:  # noqa: BLE001 - every waiting client gets an answer, never a hang
            log.exception("generation failed")
            for job in jobs:
                job.send("error", exc)
            return
        self.batches += 1
        for job, result in zip(jobs, results, strict=True):
            self.requests += 1
            self.cancelled += job.cancelled
            job.send("done", result)

    def _stream_row(self, row: _Row) -> None:
        """Send the part of the row's text that no later token or stop sequence can change."""
        stops = row.job.request.stop or []
        text = self.engine.tokenizer.decode(row.ids, skip_special_tokens=True)
        cuts = [text.find(s) for s in stops if s in text]
        if cuts:
            text, row.done = text[: min(cuts)], True
        else:
            text = text.rstrip("\ufffd")  # an incomplete multi-byte character
            hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
            text = text[: len(text) - hold]
        sent = row.job.emitted[row.choice]
        if len(text) > len(sent) and text.startswith(sent):
            row.job.emitted[row.choice] = text
            row.job.send("delta", row.choice, text[len(sent):])
