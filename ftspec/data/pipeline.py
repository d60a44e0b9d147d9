"""The dataset build: sources -> transforms -> review -> template -> tokens -> split -> JSONL.

Everything streams: examples flow one at a time (tokens are counted in fixed-size batches), so
memory stays flat as the input grows. Outputs are canonical bytes, written atomically.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.data.context import BuildContext
from ftspec.data.examples import build_transforms, iter_examples
from ftspec.data.generate import pending_warning
from ftspec.data.preference import token_records
from ftspec.data.records import Example, Rendered, record_line
from ftspec.data.split import assign_split
from ftspec.data.templates import TemplateError, get_template
from ftspec.spec.model import Spec
from ftspec.util import AtomicWriter, atomic_write_json, sha256_obj

TOKEN_BATCH = 2048
SPLITS = ("train", "validation")


@dataclass
class DatasetResult:
    out_dir: Path | None
    files: dict[str, Path | None]
    sha256: dict[str, str | None]
    counts: dict[str, int]
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    token_values: dict[str, array] = field(default_factory=dict)  # per-example counts, by split

    @property
    def dataset_sha256(self) -> str:
        return self.manifest["dataset_sha256"]


class _SplitWriter:
    """Streams one split to an atomic file while hashing it and collecting token stats."""

    def __init__(self, path: Path | None, serialize: bool = True) -> None:
        import hashlib

        self.path = path
        self.serialize = serialize
        self.writer = AtomicWriter(path) if path is not None else None
        self.digest = hashlib.sha256()
        self.count = 0
        self.bytes = 0
        self.tokens = array("I")
        self.messages = array("I")

    def add(self, item: Rendered) -> None:
        if self.serialize:
            line = record_line(item.record)
            self.digest.update(line)
            self.bytes += len(line)
            if self.writer is not None:
                self.writer.write(line)
        self.count += 1
        self.tokens.append(item.tokens)
        self.messages.append(_message_count(item.record) or 2)

    def finish(self, keep: bool) -> str | None:
        if self.writer is not None:
            if keep and (self.count or self.path.name.startswith("train")):
                self.writer.commit()
            else:
                self.writer.abort()
                if self.path.exists():
                    self.path.unlink()
        return self.digest.hexdigest() if self.count and self.serialize else None


def _message_count(record: dict[str, Any]) -> int:
    given = record.get("input")
    messages = record.get("messages") or (given.get("messages") if isinstance(given, dict) else None)
    return len(messages) if isinstance(messages, list) else 0


def build_dataset(
    spec: Spec,
    out_dir: Path | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    hashes: bool = True,
    counter: Any | None = None,
    models: Any | None = None,
) -> DatasetResult:
    """Build (``out_dir`` given) or only validate (``out_dir=None``) the spec's dataset.

    Raises ``DataError`` with every bad row and validation error found, located by file:line.
    ``hashes=False`` (validation only, no ``out_dir``) skips serializing and hashing the output.
    ``counter`` is the provider's exact token counter, loaded by the caller that owns the
    provider (see ``ftspec.data.tokens.counter_for``); without one, models outside the base-model
    table get a labelled estimate. ``models`` is the client the model steps (extract, distill,
    moderate) call, injected by the caller that owns the providers (see ``ftspec.data.generate``);
    without one, answers come from the cache and the rest are counted as pending.
    """
    run = stream_examples(spec, out_dir, progress=progress, hashes=hashes, counter=counter, models=models)
    return finish_run(spec, run, out_dir)


@dataclass
class Run:
    """The state of one pass over the examples, before the whole-dataset checks."""

    ctx: BuildContext
    validator: Any
    writers: dict[str, _SplitWriter]
    counter: Any
    template: Any


def new_run(spec: Spec, out_dir: Path | None, *, hashes: bool, counter: Any | None = None) -> Run:
    from ftspec.data.tokens import counter_for
    from ftspec.data.validate import DatasetValidator

    ctx = BuildContext()
    template = get_template(spec)
    counter = counter_for(spec, counter)
    writers = {
        split: _SplitWriter(out_dir / f"{split}.jsonl" if out_dir is not None else None,
                            serialize=hashes or out_dir is not None)
        for split in SPLITS
    }
    return Run(ctx, DatasetValidator(spec, template, counter, ctx), writers, counter, template)


def stream_examples(
    spec: Spec,
    out_dir: Path | None,
    *,
    progress: Callable[[int], None] | None = None,
    hashes: bool = True,
    shard: tuple[int, int] | None = None,
    validator_setup: Callable[[Any], None] | None = None,
    counter: Any | None = None,
    models: Any | None = None,
) -> Run:
    """One streaming pass: read, transform, review, render, count, validate, split, write.

    ``shard=(i, k)`` reads only the source lines whose number is ``i`` modulo ``k`` (parallel
    validation; see ``ftspec.data.parallel``)."""
    run = new_run(spec, out_dir, hashes=hashes, counter=counter)
    ctx, template, validator, writers = run.ctx, run.template, run.validator, run.writers
    ctx.shard = shard
    ctx.models = models
    if validator_setup is not None:
        validator_setup(validator)
    on_error = {s.name: s.on_error for s in spec.sources}
    forced_split = {s.name: s.split for s in spec.sources}

    pre, post = build_transforms(spec, ctx)
    examples = iter_examples(spec, ctx, pre_transforms=pre)
    rendered: Iterable[Any] = _render(examples, template, ctx, on_error)
    rendered = _count_tokens(rendered, run.counter)
    for transform in post:
        rendered = transform.apply(iter(rendered))

    fraction, salt = spec.split["validation"], spec.split["salt"]
    try:
        for n, item in enumerate(rendered, 1):
            # the split first: the validator reports the output file and line
            forced = forced_split[item.example.origin.source]
            item.split = (assign_split(item.example.id, fraction, salt, forced)
                          if fraction > 0 or forced != "auto" else "train")  # id only when needed
            if not validator.check(item):  # skipped (on_error: skip) and counted
                continue
            writers[item.split].add(item)
            if progress is not None and n % 1000 == 0:
                progress(n)
    except BaseException:
        for writer in writers.values():
            writer.finish(keep=False)
        raise
    return run


def finish_run(spec: Spec, run: Run, out_dir: Path | None) -> DatasetResult:
    """The whole-dataset checks, then the files (kept only when nothing failed) and manifest."""
    ctx, writers = run.ctx, run.writers
    ok = False
    pending = {label: b["pending"] for label, b in ctx.steps.items() if b.get("pending")}
    try:
        errors, warnings = run.validator.finish({s: w.count for s, w in writers.items()})
        if pending and out_dir is None:
            # validate/plan before the model calls: the dataset is incomplete, not wrong
            warnings = [*warnings, *(f"{e} (before {sum(pending.values())} pending model call(s))" for e in errors)]
            errors = []
        elif pending:
            errors = [*errors, *(spec.problem(("transforms", int(label.split("[")[1].split("]")[0])),
                                              f"{label.rsplit('.', 1)[1]}: {n} model call(s) not made yet; `ftspec build` makes them "
                                              "(`ftspec plan` shows their cost)") for label, n in pending.items())]
        ctx.warnings.extend(ctx.skip_warnings() + _template_notes(run.template) + warnings)
        ctx.raise_if_problems(then=errors)  # the dataset-level errors after the rows behind them
        ok = True
    finally:
        shas = {split: w.finish(keep=ok) for split, w in writers.items()}

    for label, books in ctx.steps.items():
        warning = pending_warning(books, label)
        if warning and warning not in ctx.warnings:
            ctx.warnings.append(warning)
    manifest = _manifest(spec, ctx, writers, shas, run.counter, run.template)
    if out_dir is not None:
        atomic_write_json(out_dir / "manifest.json", manifest)
    return DatasetResult(
        out_dir=out_dir,
        files={s: (writers[s].path if shas[s] else None) for s in SPLITS},
        sha256=shas,
        counts={s: writers[s].count for s in SPLITS},
        manifest=manifest,
        warnings=list(ctx.warnings),
        token_values={s: writers[s].tokens for s in SPLITS},
    )


def _template_notes(template) -> list[str]:
    """The changes the template made on its own (completion: separator, space, stop), counted."""
    changes = getattr(template, "changes", None)
    if not changes:
        return []
    parts = ", ".join(f"{change} to {n}" for change, n in sorted(changes.items()))
    return [f"the {template.kind} template changed records as the legacy format needs: {parts} "
            "(manifest.json: template_changes)"]


def _render(examples: Iterable[Example], template, ctx: BuildContext, on_error: dict[str, str]) -> Iterator[Rendered]:
    for example in examples:
        if example.kind == "text":  # a transcript no extract step read: never trained on as is
            ctx.bad_row(example.origin.source, on_error[example.origin.source], example.origin.file,
                        example.origin.line, "raw_text: raw text reached the template; only an `extract` "
                        "transform can use a transcript source")
            continue
        try:
            record = template.render(example)
        except TemplateError as exc:
            ctx.bad_row(example.origin.source, on_error[example.origin.source],
                        example.origin.file, example.origin.line, str(exc))
            continue
        yield Rendered(example=example, record=record)


def _count_tokens(rendered: Iterable[Rendered], counter) -> Iterator[Rendered]:
    iterator = iter(rendered)
    while batch := list(itertools.islice(iterator, TOKEN_BATCH)):
        flat, widths = token_records([r.record for r in batch])  # a preference pair: its two sides
        counts = iter(counter.count_records(flat))
        for item, width in zip(batch, widths, strict=True):
            item.tokens = sum(next(counts) for _ in range(width))
            yield item


def distribution(values: array) -> dict[str, float | int]:
    """min, mean, p50, p90, max of a list of counts (exact, from the sorted values)."""
    if not values:
        return {"min": 0, "mean": 0, "p50": 0, "p90": 0, "max": 0, "total": 0}
    ordered = sorted(values)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]

    total = sum(ordered)
    return {"min": ordered[0], "mean": round(total / len(ordered), 2), "p50": pct(0.5),
            "p90": pct(0.9), "max": ordered[-1], "total": total}


def _manifest(spec, ctx, writers, shas, counter, template) -> dict[str, Any]:
    files = {
        split: {"file": f"{split}.jsonl", "sha256": shas[split], "examples": w.count, "bytes": w.bytes}
        for split, w in writers.items() if shas[split]
    }
    return {
        "manifest_version": 1,
        "spec": spec.name,
        "base_model": spec.base_model,
        "dataset_sha256": sha256_obj({s: shas[s] for s in SPLITS}),
        "files": files,
        "counts": {s: w.count for s, w in writers.items()},
        "sources": {name: stats.to_json() for name, stats in sorted(ctx.sources.items())},
        "removed": {t: dict(sorted(c.items())) for t, c in sorted(ctx.removed.items())},
        "removed_examples": dict(sorted(ctx.removed_examples.items())),
        "counters": {g: dict(sorted(c.items())) for g, c in sorted(ctx.counters.items())},
        "template": {"kind": template.kind, **spec.template},
        "template_changes": dict(sorted(getattr(template, "changes", {}).items())),
        "split": spec.split,
        "tokens": {
            "tokenizer": counter.name,
            "exact": counter.exact,
            **{s: distribution(w.tokens) for s, w in writers.items()},
        },
        "messages_per_example": {s: distribution(w.messages) for s, w in writers.items()},
        "warnings": list(ctx.warnings),
        "accounting": accounting(ctx, writers),
        **({"generated": generated_books(ctx)} if ctx.steps else {}),
    }


def generated_books(ctx: BuildContext) -> dict[str, Any]:
    """Each model step's calls (cached, made, pending, refused), tokens, the examples it made
    with their origins and model, and its errors by reason with their locations."""
    out: dict[str, Any] = {}
    for label, books in sorted(ctx.steps.items()):
        entry = {k: (dict(sorted(v.items())) if isinstance(v, dict) else v) for k, v in books.items()}
        out[label] = entry
    return out


def accounting(ctx: BuildContext, writers: dict[str, Any]) -> dict[str, Any]:
    """The dataset's books: every record read is kept, refused or dropped by name (per source),
    and every example a source made is written, skipped later, or removed by a named transform."""
    sources = ctx.sources.values()
    made = sum(s.examples for s in sources)
    written = sum(w.count for w in writers.values())
    skipped = sum(s.examples_skipped for s in sources)
    removed = sum(sum(c.values()) for c in ctx.removed.values())
    # model steps: raw chunks they consumed leave the stream, the examples they made join it
    consumed = sum(int(b.get("consumed", 0)) for b in ctx.steps.values())
    generated = sum(int(b.get("examples", 0)) for b in ctx.steps.values())
    steps = {"examples_consumed": consumed, "examples_generated": generated} if ctx.steps else {}
    return {
        "rows_read": sum(s.rows_read for s in sources),
        "rows_kept": sum(s.rows_kept for s in sources),
        "rows_refused": sum(s.rows_refused for s in sources),
        "rows_dropped": sum(sum(s.dropped.values()) for s in sources),
        "examples": made, "examples_written": written, "examples_skipped": skipped,
        "examples_removed": removed, **steps,
        "balanced": (all(s.accounting()["balanced"] for s in sources)
                     and made + generated == written + skipped + removed + consumed),
    }

