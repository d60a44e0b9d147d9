"""Review pages: the Markdown and HTML pages of every example, written beside the decisions
file by ``ftspec review`` (which also adds new examples to that file as ``pending``)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftspec.data.context import BuildContext
from ftspec.data.records import Example

if TYPE_CHECKING:
    from ftspec.spec.model import Spec
from ftspec.data.review.decisions import (
    decision_entry,
    decisions_lock,
    decisions_path,
    decisions_yaml,
    load_decisions,
    preview,
)


@dataclass
class ReviewResult:
    decisions: Path
    markdown: Path
    html: Path
    total: int
    new: int
    stale: int
    counts: dict[str, int]


def collect_examples(spec: Spec) -> Iterator[Example]:
    """The examples the template would see, before any review decision."""
    from ftspec.data.examples import iter_examples

    ctx = BuildContext()
    yield from iter_examples(spec, ctx, review=False)
    ctx.raise_if_problems()


def write_review(spec: Spec, examples: Iterable[Example] | None = None) -> ReviewResult:
    """Write ``<decisions>.yaml`` (existing decisions kept, new examples added as pending) and the
    Markdown and HTML pages next to it. ``examples`` defaults to ``collect_examples(spec)``."""
    path = decisions_path(spec)
    with decisions_lock(path):  # a read-modify-write, like every change the review server makes
        return _write_review(spec, path, collect_examples(spec) if examples is None else examples)


def _write_review(spec: Spec, path: Path, examples: Iterable[Example]) -> ReviewResult:
    from ftspec.util import AtomicWriter, atomic_write_text

    existing = load_decisions(path)
    md_path, html_path = path.with_suffix(".md"), path.with_suffix(".html")
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    new = 0
    with AtomicWriter(md_path) as md, AtomicWriter(html_path) as page:
        md.write(_md_head(spec).encode())
        page.write(_html_head(spec).encode())
        for example in examples:
            if example.id in seen:
                continue  # an exact duplicate shares its id and its decision
            seen.add(example.id)
            old = existing.get(example.id)
            if old is None:
                new += 1
                entries.append({"id": example.id, "decision": "pending", "origin": str(example.origin),
                                "preview": preview(example.record)})
            else:
                entries.append(decision_entry(old))
            decision = entries[-1]["decision"]
            md.write(_md_example(example, decision).encode())
            page.write(_html_example(example, decision).encode())
        page.write(b"</main></body></html>\n")
    stale = [d for i, d in existing.items() if i not in seen]
    entries += [decision_entry(d) | {"stale": True} for d in stale]
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["decision"]] = counts.get(entry["decision"], 0) + 1
    atomic_write_text(path, decisions_yaml(spec, entries))
    return ReviewResult(path, md_path, html_path, len(seen), new, len(stale), counts)


def _messages(record: dict[str, Any]) -> list[tuple[str, str]]:
    if "messages" in record:
        return [(str(m.get("role")) + (f" ({m['name']})" if m.get("name") else ""), str(m.get("content") or ""))
                for m in record["messages"] if isinstance(m, dict)]
    return [("prompt", str(record.get("prompt", ""))), ("completion", str(record.get("completion", "")))]


def _md_head(spec: Spec) -> str:
    return (f"# Review: {spec.name}\n\nEvery example the build would train on, with its id. "
            f"Record decisions in `reviews/{spec.name}.yaml` (keep | drop | edit).\n\n")


def _md_example(example: Example, decision: str) -> str:
    out = [f"## `{example.id}` · {decision}\n", f"_{example.origin}_\n"]
    for role, content in _messages(example.record):
        quoted = "\n".join(f"> {line}" if line else ">" for line in content.split("\n"))
        out.append(f"**{role}**\n\n{quoted}\n")
    return "\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px}main{max-width:900px;margin:auto;padding:16px}
article{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:12px 0;padding:12px 16px}
h2{font-size:14px;margin:0 0 4px;font-family:monospace}.origin{color:#667;font-size:12px}
.msg{margin:8px 0;padding:8px;border-radius:6px;white-space:pre-wrap}.role{font-weight:600;font-size:12px;display:block}
.user,.prompt{background:#eef3ff}.assistant,.completion{background:#eefaf0}.system{background:#fff7e6}
.badge{font-size:11px;padding:2px 6px;border-radius:4px;background:#dde1e7;margin-left:8px}
.drop{background:#fdd}.keep{background:#dfd}.edit{background:#ffe9b3}.pending{background:#eee}"""


def _html_head(spec: Spec) -> str:
    name = html.escape(spec.name)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Review: {name}</title>"
            f"<style>{_CSS}</style></head><body><header><h1>Review: {name}</h1>"
            f"<p>Decisions go in reviews/{name}.yaml (keep | drop | edit).</p></header><main>\n")


def _html_example(example: Example, decision: str) -> str:
    parts = [f"<article id=\"ex-{example.id}\"><h2>{example.id}<span class=\"badge {decision}\">{decision}</span></h2>",
             f"<div class=\"origin\">{html.escape(str(example.origin))}</div>"]
    for role, content in _messages(example.record):
        css = role.split(" ")[0]
        parts.append(f"<div class=\"msg {html.escape(css)}\"><span class=\"role\">{html.escape(role)}</span>"
                     f"{html.escape(content)}</div>")
    return "".join(parts) + "</article>\n"
