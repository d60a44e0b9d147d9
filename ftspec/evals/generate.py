"""Generation through the cache: batched for local providers, concurrent for remote ones
(retries live in the provider layer), with a progress bar (ETA) over the requests that actually run."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from ftspec.errors import FtspecError, NeedsKeyError, ProviderNotFoundError
from ftspec.evals.cache import EvalCache, generation_key


class GenerationFailed(Exception):
    """A request that failed for good; its case is marked errored with this message."""


def chat_once(provider, request):
    """``provider.chat``; the provider already retried transient errors (ftspec.providers.retry),
    so this layer never retries again. A ``ProviderError`` marks the case errored."""
    try:
        return provider.chat(request)
    except (NeedsKeyError, ProviderNotFoundError):
        raise
    except FtspecError as exc:
        raise GenerationFailed(str(exc)) from exc


def batches_natively(provider) -> bool:
    """Local providers batch on the device (``Capabilities.native_batching``); use it as is."""
    return provider.capabilities.native_batching


class Generator:
    def __init__(self, cache: EvalCache, progress: Any = None) -> None:
        self.cache = cache
        self.progress = progress
        self.new_generations = 0

    def one(self, provider, request):
        """A single cached generation (the judge uses this)."""
        return self.many(provider, [request], concurrency=1, show=False)[0]

    def many(self, provider, requests: list, *, concurrency: int = 4, show: bool = True) -> list:
        """ChatResult (or GenerationFailed) per request, in order; identical requests run once."""
        keys = [generation_key(r) for r in requests]
        results: dict[str, Any] = {}
        todo: dict[str, Any] = {}
        for key, request in zip(keys, requests, strict=True):
            cached = self.cache.get_generation(key)
            if cached is not None:
                results[key] = cached
            else:
                todo.setdefault(key, request)
        if todo:
            with _Bar(self.progress if show else False, len(todo)) as bar:
                for key, result in self._run(provider, todo, concurrency, bar):
                    results[key] = result
        return [results[k] for k in keys]

    def _all_at_once(self, provider, items: list, size: int, concurrency: int, bar):
        """A provider that can run every chunk at once (``chat_batches``: the local provider on a
        Ray cluster) gets them in one call, chunked as below so the answers are the same.
        Returns False when it declines (None), and the chunks run one by one."""
        many = getattr(provider, "chat_batches", None)
        chunks = [items[start:start + size] for start in range(0, len(items), size)]
        if many is None or len(chunks) < 2:
            return False
        try:
            outs_all = many([[r for _, r in chunk] for chunk in chunks], concurrency=concurrency)
        except (NeedsKeyError, ProviderNotFoundError):
            raise
        except FtspecError as exc:
            outs_all = [[GenerationFailed(str(exc))] * len(chunk) for chunk in chunks]
        if outs_all is None:
            return False
        for chunk, outs in zip(chunks, outs_all, strict=True):
            for (key, request), out in zip(chunk, outs, strict=True):
                yield key, self._keep(key, request, out)
            bar.advance(len(chunk))
        return True

    def _run(self, provider, todo: dict[str, Any], concurrency: int, bar):
        items = list(todo.items())
        if batches_natively(provider):
            # the device batches: give it whole batches (a set's cases at once), not `concurrency`
            size = max(1, concurrency, provider.capabilities.batch_size)
            items.sort(key=lambda item: str(getattr(item[1], "model", "")))  # one model per batch
            if (yield from self._all_at_once(provider, items, size, concurrency, bar)):
                return
            for start in range(0, len(items), size):
                chunk = items[start:start + size]
                try:
                    outs = provider.chat_batch([r for _, r in chunk], concurrency=concurrency)
                except (NeedsKeyError, ProviderNotFoundError):
                    raise
                except FtspecError as exc:
                    outs = [GenerationFailed(str(exc))] * len(chunk)
                for (key, request), out in zip(chunk, outs, strict=True):
                    yield key, self._keep(key, request, out)
                bar.advance(len(chunk))  # a batch finishes at once: one step, an ETA from whole batches
            return
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {pool.submit(chat_once, provider, r): (k, r) for k, r in items}
            for future in as_completed(futures):
                key, request = futures[future]
                try:
                    out = future.result()
                except GenerationFailed as exc:
                    out = exc
                yield key, self._keep(key, request, out)
                bar.advance()

    def _keep(self, key: str, request, out):
        if not isinstance(out, GenerationFailed):
            self.cache.put_generation(key, request.model, out)
            self.new_generations += 1
        return out


class ProgressLine:
    """A ``progress(done, total)`` callback that prints ``label: generating D/T, ETA 1m05s``
    through ``echo`` (stderr in a build) at most every ``interval`` seconds, and always the last
    one: the plain-text live line of a build that is not on a terminal (or of a log)."""

    def __init__(self, echo, label: str, *, interval: float = 10.0, clock=None) -> None:
        import time

        self.echo = echo
        self.label = label
        self.interval = interval
        self.clock = clock or time.monotonic
        self.started: float | None = None
        self.last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        if done < total and self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        self.echo(f"{self.label}: generating {done}/{total}{_eta(now - self.started, done, total)}")


def _eta(elapsed: float, done: int, total: int) -> str:
    if done >= total:
        return f", done in {_clock(elapsed)}"
    if done <= 0 or elapsed <= 0:
        return ""
    return f", ETA {_clock(elapsed / done * (total - done))}"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class _Bar:
    """A rich progress bar with ETA on a terminal; a callback ``progress(done, total)``; or off."""

    def __init__(self, progress: Any, total: int) -> None:
        self.total = total
        self.done = 0
        self.callback = progress if callable(progress) else None
        self.rich = None
        if progress is None and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.rich = Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True),
                                 transient=True)

    def __enter__(self) -> _Bar:
        if self.rich is not None:
            self.rich.start()
            self.task = self.rich.add_task("generating", total=self.total)
        if self.callback is not None:
            self.callback(0, self.total)  # started: a plain line says so, and starts its clock
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.rich is not None:
            self.rich.advance(self.task, n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def __exit__(self, *exc: Any) -> None:
        if self.rich is not None:
            self.rich.stop()
