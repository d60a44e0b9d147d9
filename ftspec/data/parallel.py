"""Validation on every core: ``ftspec validate`` of a large dataset.

The pipeline is Python-bound (parse, template, checks), so one process uses one core. For a
large chat dataset read from JSON-lines sources with per-example transforms only, each worker
process runs the unchanged pipeline over its share of the lines (line number modulo the number
of workers; every worker still reports true ``file:LINE`` locations), and the parent merges the
counts, token statistics, bad rows and check state, then runs the whole-dataset checks once.
Anything else (writing files, dedupe, sampling, review, completion data, small inputs) takes
the serial path, which gives the same result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ftspec.data.context import BuildContext, merge_context
from ftspec.data.pipeline import DatasetResult, build_dataset, finish_run, new_run, stream_examples
from ftspec.data.transforms import TRANSFORMS
from ftspec.errors import FtspecError
from ftspec.spec.model import Spec

PARALLEL_MIN_BYTES = 32 << 20  # below this, starting workers costs more than it saves


@dataclass
class ShardPart:
    """What one worker sends back (picklable)."""

    ctx: BuildContext | None = None
    state: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


def shardable(spec: Spec) -> bool:
    """True when validating in shards gives exactly the serial result."""
    from ftspec.data.sources import SOURCES

    return (
        spec.template["type"] == "chat"
        and spec.review is None
        and all(TRANSFORMS.get(name).per_example for name, _ in spec.transforms)
        and all(SOURCES.get(s.format).line_shardable for s in spec.sources)
    )


_shard_counter: Any | None = None  # the caller's counter, inherited by forked workers


def validate_dataset(spec: Spec, *, workers: int | None = None, counter: Any | None = None) -> DatasetResult:
    """``build_dataset(spec, None, hashes=False, counter=counter)``, on ``workers`` processes
    when worth it."""
    global _shard_counter
    workers = workers or min(os.cpu_count() or 1, 8)
    size = sum(f.stat().st_size for s in spec.sources for f in s.files)
    context = _start_method()
    # a caller's counter reaches workers only by fork; spawned workers would count differently
    forkable = counter is None or context.get_start_method() == "fork"
    if workers < 2 or size < PARALLEL_MIN_BYTES or not shardable(spec) or not forkable:
        return build_dataset(spec, None, hashes=False, counter=counter)
    from concurrent.futures import ProcessPoolExecutor

    run = new_run(spec, None, hashes=False, counter=counter)  # loads the tokenizer: forked workers inherit it
    _shard_counter = counter
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_validate_shard, (str(spec.path), i, workers)) for i in range(workers)]
            parts = [future.result() for future in futures]
    finally:
        _shard_counter = None
    if any(part.failed for part in parts):
        # an error that stops a run (e.g. an unknown encoding) is reported exactly as serially
        return build_dataset(spec, None, hashes=False, counter=counter)
    return finish_run(spec, _merge(run, parts), None)


def _start_method():
    """fork when it is safe (no other threads: nothing can hold a lock across the fork), so
    workers start with the tokenizer already loaded (~0.8 s each); spawn otherwise."""
    import multiprocessing
    import threading

    safe_fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if safe_fork else "spawn")


def _validate_shard(args: tuple[str, int, int]) -> ShardPart:
    from ftspec.spec import load_spec

    path, index, count = args
    try:
        spec = load_spec(path)
        run = stream_examples(spec, None, hashes=False, shard=(index, count), counter=_shard_counter,
                              validator_setup=lambda v: _shard_validator(v, count))
    except FtspecError:
        return ShardPart(failed=True)
    return ShardPart(
        ctx=run.ctx, state=run.validator.shard_state(),
        counts={s: w.count for s, w in run.writers.items()},
        tokens={s: w.tokens for s, w in run.writers.items()},
        messages={s: w.messages for s, w in run.writers.items()},
    )


def _shard_validator(validator, count: int) -> None:
    validator.max_shown = max(1, validator.max_shown // count)


def _merge(run, parts: list[ShardPart]):
    for part in parts:
        merge_context(run.ctx, part.ctx)
        run.validator.merge_shard_state(part.state)
        for split, writer in run.writers.items():
            writer.count += part.counts[split]
            writer.tokens.extend(part.tokens[split])
            writer.messages.extend(part.messages[split])
    run.ctx.problems.sort(key=lambda p: (p.location, p.message))
    return run
