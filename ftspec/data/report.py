"""``ftspec dataset --report``: one self-contained HTML page about a built dataset.

Counts come from the manifest; per-example token counts, turns and the longest examples come
from re-reading the written JSONL files (streamed in batches), so the pipeline stays simple.
Inline CSS and SVG only: the page opens offline and can be mailed as one file.
"""

from __future__ import annotations

import heapq
import html
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftspec.util import atomic_write_text

if TYPE_CHECKING:
    from ftspec.data.pipeline import DatasetResult
    from ftspec.spec.model import Spec

LONGEST = 20
BATCH = 1024
BINS = 20
_DIALOGUE_LINE = re.compile(r"^[^\s:][^:\n]{0,39}: ", re.MULTILINE)


@dataclass
class _Stats:
    tokens: list[int] = field(default_factory=list)
    turns: Counter = field(default_factory=Counter)
    longest: list[tuple[int, int, str, str]] = field(default_factory=list)  # (tokens, n, split, text)
    seen: int = 0


def turns_of(record: dict[str, Any]) -> int:
    """Non-system messages; for a completion record, the dialogue lines of the prompt + 1."""
    if "messages" in record:
        return sum(1 for m in record["messages"] if isinstance(m, dict) and m.get("role") != "system")
    return max(1, len(_DIALOGUE_LINE.findall(str(record.get("prompt", ""))))) + (1 if record.get("completion") else 0)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def collect(spec: Spec, result: DatasetResult, counter: Any | None = None) -> _Stats:
    from ftspec.data.tokens import counter_for

    counter = counter_for(spec, counter)
    stats = _Stats()
    for split, path in result.files.items():
        if path is None or not Path(path).exists():
            continue
        iterator = _records(Path(path))
        while batch := list(itertools.islice(iterator, BATCH)):
            for record, tokens in zip(batch, counter.count_records(batch), strict=True):
                stats.seen += 1
                stats.tokens.append(tokens)
                stats.turns[turns_of(record)] += 1
                item = (tokens, -stats.seen, split, json.dumps(record, ensure_ascii=False))
                if len(stats.longest) < LONGEST:
                    heapq.heappush(stats.longest, item)
                elif item > stats.longest[0]:
                    heapq.heapreplace(stats.longest, item)
    stats.longest.sort(reverse=True)
    return stats


def write_data_report(spec: Spec, result: DatasetResult, path: Path, *, counter: Any | None = None) -> Path:
    """Write the report to ``path`` (atomically) and return it; ``counter`` as for ``build_dataset``."""
    stats = collect(spec, result, counter)
    atomic_write_text(path, render(spec, result.manifest, stats))
    return Path(path)


# ---- rendering ------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px}main{max-width:1000px;margin:auto;padding:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:12px 0;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:4px 10px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;font-size:12px;background:#f6f7f9;padding:6px;border-radius:4px;max-height:12em;overflow:auto}
svg text{font-size:10px;fill:#445}.bar{fill:#4a7bd0}.muted{color:#667;font-size:12px}"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(table_id: str, head: tuple[str, ...], rows: list[tuple[Any, ...]], empty: str) -> str:
    if not rows:
        return f'<p class="muted" id="{table_id}">{_e(empty)}</p>'
    out = [f'<table id="{table_id}"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(f'<td class="n">{_e(c)}</td>' if isinstance(c, int) else f"<td>{_e(c)}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>"


def histogram_bins(values: list[int], bins: int = BINS) -> list[tuple[int, int, int]]:
    """(low, high, count) with integer-aligned bins covering min..max."""
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // bins))
    counts = Counter((v - low) // width for v in values)
    return [(low + i * width, low + (i + 1) * width - 1, counts.get(i, 0))
            for i in range((high - low) // width + 1)]


def svg_histogram(svg_id: str, bins: list[tuple[int, int, int]], label: str) -> str:
    if not bins:
        return f'<p class="muted" id="{svg_id}">no examples</p>'
    w, h, pad = 640, 180, 28
    peak = max(c for _, _, c in bins) or 1
    bar_w = (w - 2 * pad) / len(bins)
    parts = [f'<svg id="{svg_id}" class="histogram" role="img" aria-label="{_e(label)}" width="{w}" height="{h + 30}" '
             f'viewBox="0 0 {w} {h + 30}" xmlns="http://www.w3.org/2000/svg">']
    for i, (lo, hi, count) in enumerate(bins):
        bh = (h - pad) * count / peak
        x, y = pad + i * bar_w, h - bh
        span = f"{lo}" if lo == hi else f"{lo}-{hi}"
        parts.append(f'<rect class="bar" data-range="{span}" data-count="{count}" x="{x:.1f}" y="{y:.1f}" '
                     f'width="{max(bar_w - 2, 1):.1f}" height="{bh:.1f}"><title>{span}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{count}</text>')
    first, last = bins[0][0], bins[-1][1]
    parts.append(f'<line x1="{pad}" y1="{h}" x2="{w - pad}" y2="{h}" stroke="#889"/>')
    parts.append(f'<text x="{pad}" y="{h + 14}">{first}</text>')
    parts.append(f'<text x="{w - pad}" y="{h + 14}" text-anchor="end">{last}</text>')
    parts.append(f'<text x="{w / 2}" y="{h + 26}" text-anchor="middle">{_e(label)}</text></svg>')
    return "".join(parts)


def render(spec: Spec, manifest: dict[str, Any], stats: _Stats) -> str:
    sources = manifest.get("sources", {})
    source_rows = [(name, s.get("rows_read", 0), s.get("examples", 0), s.get("skipped_total", 0),
                    sum(s.get("dropped", {}).values())) for name, s in sources.items()]
    drop_rows: list[tuple[Any, ...]] = []
    for name, s in sources.items():
        drop_rows += [(name, "dropped", kind, n) for kind, n in s.get("dropped", {}).items()]
        drop_rows += [(name, "bad row skipped", reason, n) for reason, n in s.get("skipped", {}).items()]
    for transform, reasons in manifest.get("removed", {}).items():
        drop_rows += [(transform, "removed", reason, n) for reason, n in reasons.items()]
    dedupe = sum(manifest.get("removed", {}).get("dedupe", {}).values())
    pii = manifest.get("counters", {}).get("pii", {})
    counts = manifest.get("counts", {})
    total = sum(counts.values())
    longest = "".join(
        f"<tr><td class=\"n\">{tokens}</td><td>{_e(split)}</td><td><pre>{_e(text)}</pre></td></tr>"
        for tokens, _n, split, text in stats.longest
    )
    turns_values = [t for t, n in stats.turns.items() for _ in range(n)]
    body = [
        f"<header><h1>Data report: {_e(spec.name)}</h1><p>base model {_e(spec.base_model)} · "
        f"dataset sha256 {_e(manifest.get('dataset_sha256', ''))[:16]}…</p></header><main>",
        '<section><h2>Examples</h2>' + _table("counts", ("split", "examples"),
                                               [(k, v) for k, v in counts.items()] + [("total", total)], "") + "</section>",
        '<section><h2>Sources</h2>' + _table("sources", ("source", "rows read", "examples", "skipped", "dropped"),
                                              source_rows, "no sources") + "</section>",
        '<section><h2>Dropped and removed, by reason</h2>' + _table(
            "drops", ("where", "what", "reason", "count"), drop_rows, "nothing was dropped") + "</section>",
        f'<section><h2>Duplicates removed</h2><p id="duplicates"><b>{dedupe}</b> duplicate example(s) removed'
        f'{"" if "dedupe" in manifest.get("removed", {}) or any(t == "dedupe" for t, _ in spec.transforms) else " (no dedupe transform in this spec)"}</p></section>',
        '<section><h2>PII found, by kind</h2>' + _table("pii", ("kind", "found"), sorted(pii.items()),
                                                         "no PII found (or no scrub_pii transform)") + "</section>",
        _moderation_section(spec, manifest),
        _generated_section(manifest),
        f'<section><h2>Tokens per example</h2><p class="muted">tokenizer {_e(manifest.get("tokens", {}).get("tokenizer", ""))}</p>'
        + svg_histogram("token-histogram", histogram_bins(stats.tokens), "tokens per example") + "</section>",
        '<section><h2>Turns per example</h2>'
        + svg_histogram("turns-histogram", histogram_bins(turns_values), "turns per example") + "</section>",
        f'<section><h2>The {LONGEST} longest examples</h2><table id="longest"><tr><th>tokens</th><th>split</th>'
        f"<th>record</th></tr>{longest}</table></section>",
    ]
    warnings = manifest.get("warnings") or []
    if warnings:
        body.append("<section><h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul></section>")
    body.append("</main>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data report: {_e(spec.name)}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def _moderation_section(spec: Spec, manifest: dict[str, Any]) -> str:
    """Flags per category, or plainly that nothing was screened."""
    steps = [b for b in (manifest.get("generated") or {}).values() if b.get("step") == "moderate"]
    if not steps:
        return ('<section><h2>Moderation</h2><p id="moderation"><b>not configured</b>: no example was screened '
                "(add a <code>moderate</code> transform)</p></section>")
    flags = manifest.get("counters", {}).get("moderation", {})
    head = "".join(f"<p class=\"muted\">{_e(b['provider'])}:{_e(b['model'])}: {b.get('screened', 0)} screened, "
                   f"{b.get('flagged', 0)} flagged, action {_e(b.get('action', ''))}</p>" for b in steps)
    return ('<section><h2>Moderation</h2>' + head + _table("moderation", ("category", "flagged"), sorted(flags.items()),
                                                            "no example flagged") + "</section>")


def _generated_section(manifest: dict[str, Any]) -> str:
    steps = [(label, b) for label, b in (manifest.get("generated") or {}).items() if b.get("step") != "moderate"]
    if not steps:
        return ""
    rows = [(label, f"{b.get('provider')}:{b.get('model')}", b.get("calls", 0), b.get("cached", 0),
             b.get("examples", 0), sum((b.get("errors") or {}).values())) for label, b in steps]
    return ('<section><h2>Examples made by a model</h2>' + _table(
        "generated", ("step", "model", "calls", "from cache", "examples", "errors"), rows, "") + "</section>")
