"""Bookkeeping shared by sources and transforms: bad rows, drops and removals are counted.

Nothing is ever dropped silently: every skipped row, dropped system line and removed example
is recorded here and ends up in ``manifest.json``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ftspec.errors import DataError, Location, Problem

MAX_LISTED = 200  # skipped rows listed by location in the manifest; all are counted


@dataclass
class SourceStats:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0  # physical records: a JSON line or array item, a CSV record, a chat message
    rows_kept: int = 0  # records that went into an example
    rows_refused: int = 0  # records a source refused (bad rows, skipped or failed)
    examples: int = 0
    examples_skipped: int = 0  # examples skipped after their source (template, validation)
    skipped: Counter = field(default_factory=Counter)  # primary reason -> count
    checks: Counter = field(default_factory=Counter)  # every failed check of a skipped row -> count
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # kind (system line, media, ...) -> count
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "files": self.files,
            "rows_read": self.rows_read,
            "examples": self.examples,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "skipped_checks": dict(sorted(self.checks.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "accounting": self.accounting(),
        }
        if self.skipped_rows:  # in file order, whichever stage skipped them
            out["skipped_rows"] = sorted(self.skipped_rows, key=lambda r: (r["file"], r["line"] or 0))
        out.update(self.extra)
        return out


    def accounting(self) -> dict[str, Any]:
        """Records read = kept + refused + dropped (by name); the source's examples, once each."""
        dropped = sum(self.dropped.values())
        return {"rows_read": self.rows_read, "rows_kept": self.rows_kept, "rows_refused": self.rows_refused,
                "rows_dropped": dropped, "examples": self.examples, "examples_skipped": self.examples_skipped,
                "balanced": self.rows_read == self.rows_kept + self.rows_refused + dropped}


class BuildContext:
    """Collects row errors (``on_error: fail``) or counts them (``skip``), and removals."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceStats] = defaultdict(SourceStats)
        self.removed: dict[str, Counter] = defaultdict(Counter)  # transform -> reason -> n
        self.removed_examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counters: dict[str, Counter] = defaultdict(Counter)  # e.g. pii kind counts
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        # (index, count): line-oriented sources read only lines with number % count == index
        self.shard: tuple[int, int] | None = None
        # model steps (extract, distill, moderate): the caller's client (``ftspec.data.generate``),
        # None = no calls are made (answers come from the cache, the rest is counted as pending)
        self.models: Any = None
        self.steps: dict[str, dict[str, Any]] = {}  # "transforms[i].name" -> its calls and counts

    # ---- sources -------------------------------------------------------------------------
    def bad_row(self, source: str, on_error: str, file: str, line: int | None, reason: str,
                *, stage: str = "example", also: list[str] | None = None) -> None:
        """Record one bad row or example, once, under its primary ``reason`` (``also``: the other
        problems it has). With ``fail`` it becomes an error at the end of the source.

        ``stage="source"``: a physical record the source refused; ``"example"``: an example the
        source made, refused later (template, validation); ``"generated"``: a model's answer for a
        chunk of the source that gave no usable example (counted by its step, not as a row)."""
        stats = self.sources[source]
        if stage == "source":
            stats.rows_refused += 1
        elif stage == "example":
            stats.examples_skipped += 1
        if on_error == "skip":
            stats.skipped[reason_key(reason)] += 1
            for check in {reason_key(r) for r in [reason, *(also or ())]}:
                stats.checks[check] += 1  # every check the row fails, as OpenAI's notebook counts
            if len(stats.skipped_rows) < MAX_LISTED:
                row: dict[str, Any] = {"file": file, "line": line, "reason": reason}
                if also:
                    row["also"] = also
                stats.skipped_rows.append(row)
        else:
            self.problems.append(Problem(Location(file, line), reason))
            self.problems.extend(Problem(Location(file, line), more) for more in also or ())

    def drop(self, source: str, kind: str, n: int = 1) -> None:
        """Count input that is not training data by design (system lines, media, ...)."""
        self.sources[source].dropped[kind] += n

    def raise_if_problems(self, hint: str | None = None, *, then: list[Problem] | None = None) -> None:
        """Raise the row problems (sorted), then ``then`` (dataset-level ones, after the rows)."""
        if self.problems or then:
            problems, self.problems = self.problems, []
            raise DataError(problems, hint=hint, then=then)

    def skipped_summary(self) -> str | None:
        """``12 rows skipped: 8 invalid JSON, 4 missing_content`` over every source, or None."""
        counts: Counter = Counter()
        for stats in self.sources.values():
            counts.update(stats.skipped)
        return _summary(counts, "row", "skipped")

    def removed_summary(self) -> str | None:
        counts = Counter({t: sum(c.values()) for t, c in self.removed.items() if sum(c.values())})
        return _summary(counts, "example", "removed by transforms")

    def skip_warnings(self) -> list[str]:
        """One console line per source that skipped rows (``on_error: skip``): how many, why, where."""
        out = []
        for name, stats in sorted(self.sources.items()):
            summary = _summary(stats.skipped, "row", "skipped")
            if summary:
                first = min(stats.skipped_rows, key=lambda r: (r["file"], r["line"] or 0), default=None)
                where = f"; first at {Location(first['file'], first['line'])}" if first else ""
                out.append(f"source '{name}' (on_error: skip): {summary}{where}")
        return out

    # ---- transforms ----------------------------------------------------------------------
    def remove(self, transform: str, reason: str, example: Any = None) -> None:
        self.removed[transform][reason] += 1
        if example is not None and len(self.removed_examples[transform]) < MAX_LISTED:
            self.removed_examples[transform].append(
                {"id": example.id, "origin": str(example.origin), "reason": reason}
            )

    def count(self, group: str, key: str, n: int = 1) -> None:
        self.counters[group][key] += n

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def reason_key(reason: str) -> str:
    """What a skipped row is counted under: the check name before ``: ``, without the row's own
    values (quoted text, numbers in parentheses), so one reason is one count."""
    key = re.sub(r"'[^']*'", "'...'", reason)
    return key.split(": ")[0].split(" (")[0].split(";")[0].strip()


def _summary(counts: Counter, noun: str, verb: str, shown: int = 5) -> str | None:
    total = sum(counts.values())
    if not total:
        return None
    what = f"{noun if total == 1 else noun + 's'} {verb}"
    parts = [f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    more = f", {len(parts) - shown} more reasons" if len(parts) > shown else ""
    return f"{total} {what}: {', '.join(parts[:shown])}{more}"


def merge_context(target: BuildContext, part: BuildContext) -> None:
    """Fold a shard's bookkeeping into ``target`` (parallel validation)."""
    for name, stats in part.sources.items():
        into = target.sources[name]
        into.files = stats.files
        into.rows_read += stats.rows_read
        into.rows_kept += stats.rows_kept
        into.rows_refused += stats.rows_refused
        into.examples += stats.examples
        into.examples_skipped += stats.examples_skipped
        into.skipped.update(stats.skipped)
        into.checks.update(stats.checks)
        into.dropped.update(stats.dropped)
        into.skipped_rows = sorted(into.skipped_rows + stats.skipped_rows,
                                   key=lambda r: (r["file"], r["line"] or 0))[:MAX_LISTED]  # the first ones, as serially
        into.extra.update(stats.extra)
    for transform, reasons in part.removed.items():
        target.removed[transform].update(reasons)
    for transform, rows in part.removed_examples.items():
        target.removed_examples[transform] = (target.removed_examples[transform] + rows)[:MAX_LISTED]
    for group, counts in part.counters.items():
        target.counters[group].update(counts)
    target.problems.extend(part.problems)
    target.warnings.extend(w for w in part.warnings if w not in target.warnings)
