"""Human review: a readable page of every example and a decisions file applied at build time.

``reviews/<spec>.yaml`` lists every example id with ``decision: keep | drop | edit | pending``
(``edit`` carries replacement ``messages``, or ``prompt``/``completion``). Ids are
``Example.id`` (the pre-template content hash), so template changes never stale a review.
``apply_review`` runs in the pipeline after the "pre" transforms and before the template.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftspec.data.context import BuildContext
from ftspec.data.records import Example
from ftspec.errors import DataError, Location, Problem, SpecError

if TYPE_CHECKING:
    from ftspec.spec.model import Spec

DECISIONS = ("keep", "drop", "edit", "pending")
ROLES = ("system", "user", "assistant", "tool")
MAX_IDS_SHOWN = 5


@dataclass
class Decision:
    id: str
    decision: str
    line: int
    record: dict[str, Any] | None = None  # the replacement for ``edit``
    extra: dict[str, Any] = field(default_factory=dict)  # origin, preview: kept as written


# ---- the decisions file ---------------------------------------------------------------------
def decisions_path(spec: Spec) -> Path:
    review = spec.review
    if review is not None:
        return review["path"]
    from ftspec.project import project_root

    return project_root(spec.path) / "reviews" / f"{spec.name}.yaml"


def load_decisions(path: Path) -> dict[str, Decision]:
    """Parse and check a decisions file; every problem is a located ``DataError``."""
    from ftspec.spec.loader import display_path
    from ftspec.spec.yamlpos import load_yaml_with_positions

    shown = display_path(path)
    if not path.exists():
        return {}
    try:
        data, pos = load_yaml_with_positions(path.read_text(encoding="utf-8-sig"), shown)
    except SpecError as exc:
        raise DataError(exc.problems) from None
    except UnicodeDecodeError as exc:
        raise DataError([Problem(Location(shown), f"not UTF-8 text ({exc.reason})")]) from None
    if data is None:
        return {}
    entries = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DataError([Problem(pos.value(()), "a review file is a mapping with an 'examples:' list")])
    out: dict[str, Decision] = {}
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        where = pos.value(("examples", index))
        decision = _decision(entry, index, pos, problems)
        if decision is None:
            continue
        if decision.id in out:
            problems.append(Problem(where, f"duplicate decision for id '{decision.id}' (first on line {out[decision.id].line})"))
            continue
        out[decision.id] = decision
    if problems:
        raise DataError(problems)
    return out


def _decision(entry: Any, index: int, pos, problems: list[Problem]) -> Decision | None:
    base = ("examples", index)
    where = pos.value(base)
    if not isinstance(entry, dict):
        problems.append(Problem(where, "each entry is a mapping with 'id' and 'decision'"))
        return None
    ident, decision = entry.get("id"), entry.get("decision")
    if not isinstance(ident, str) or not ident:
        problems.append(Problem(where, "entry has no 'id'"))
        return None
    if decision not in DECISIONS:
        problems.append(Problem(pos.value(base + ("decision",)),
                                f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}"))
        return None
    record = None
    if decision == "edit":
        record = _edited_record(entry, base, pos, problems)
        if record is None:
            return None
    elif any(k in entry for k in ("messages", "prompt", "completion")):
        problems.append(Problem(pos.key(base + ("messages",)) if "messages" in entry else where,
                                f"replacement content is only read with 'decision: edit' (this one is '{decision}')"))
        return None
    extra = {k: v for k, v in entry.items() if k not in ("id", "decision", "messages", "prompt", "completion")}
    return Decision(ident, decision, where.line or 0, record, extra)


def _edited_record(entry: dict[str, Any], base, pos, problems: list[Problem]) -> dict[str, Any] | None:
    if "messages" in entry:
        messages = entry["messages"]
        if not isinstance(messages, list) or not messages:
            problems.append(Problem(pos.value(base + ("messages",)), "'messages' must be a non-empty list"))
            return None
        for i, message in enumerate(messages):
            where = pos.value(base + ("messages", i))
            if not isinstance(message, dict) or message.get("role") not in ROLES \
                    or not isinstance(message.get("content"), str):
                problems.append(Problem(where, f"each message needs a role ({', '.join(ROLES)}) and a text 'content'"))
                return None
        return {"messages": [dict(m) for m in messages]}
    if isinstance(entry.get("prompt"), str) and isinstance(entry.get("completion"), str):
        return {"prompt": entry["prompt"], "completion": entry["completion"]}
    problems.append(Problem(pos.value(base), "'decision: edit' needs 'messages' (or 'prompt' and 'completion')"))
    return None


# ---- build time -----------------------------------------------------------------------------
def require_review(spec: Spec) -> None:
    """``--require-review``: make the spec's review mandatory for this run."""
    review = spec.raw.get("review")
    if review is None:
        raise DataError([Problem(Location(str(spec.path)), "--require-review needs a `review:` key in the spec")])
    spec.raw["review"] = {"path": review, "required": True} if isinstance(review, str) else {**review, "required": True}


def apply_review(examples: Iterator[Example], spec: Spec, ctx: BuildContext) -> Iterator[Example]:
    """Yield examples after their decisions; count kept/dropped/edited/unreviewed; warn on stale."""
    review = spec.review or {"path": decisions_path(spec), "required": False}
    from ftspec.spec.loader import display_path

    shown = display_path(review["path"])
    decisions = load_decisions(review["path"])
    seen: set[str] = set()
    unreviewed: list[Example] = []
    for example in examples:
        decision = decisions.get(example.id)
        seen.add(example.id)
        if decision is None or decision.decision == "pending":
            ctx.count("review", "unreviewed")
            if len(unreviewed) < MAX_IDS_SHOWN:
                unreviewed.append(example)
            if not review["required"]:
                yield example
        elif decision.decision == "keep":
            ctx.count("review", "kept")
            yield example
        elif decision.decision == "drop":
            ctx.count("review", "dropped")
            ctx.remove("review", "dropped in review", example)
        else:
            ctx.count("review", "edited")
            yield example.replace(decision.record)
    stale = [d for d in decisions.values() if d.id not in seen]
    if stale:
        ctx.count("review", "stale", len(stale))
        ids = ", ".join(f"{d.id} (line {d.line})" for d in stale[:MAX_IDS_SHOWN])
        ctx.warn(f"{shown}: {len(stale)} review decision(s) for examples that no longer exist (stale): {ids}")
    total = ctx.counters["review"]["unreviewed"]
    if total:
        ids = ", ".join(f"{e.id} ({e.origin})" for e in unreviewed)
        message = f"{total} example(s) not reviewed yet: {ids}{' ...' if total > len(unreviewed) else ''}"
        if review["required"]:
            raise DataError([Problem(Location(shown), message)],
                            hint=f"run `ftspec review {display_path(spec.path)}` and decide keep/drop/edit for each")
        ctx.warn(f"{shown}: {message}")


# ---- the review page ------------------------------------------------------------------------
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


def write_review(spec: Spec) -> ReviewResult:
    """Write ``<decisions>.yaml`` (existing decisions kept, new examples added as pending) and the
    Markdown and HTML pages next to it."""
    from ftspec.util import AtomicWriter, atomic_write_text

    path = decisions_path(spec)
    existing = load_decisions(path)
    md_path, html_path = path.with_suffix(".md"), path.with_suffix(".html")
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    new = 0
    with AtomicWriter(md_path) as md, AtomicWriter(html_path) as page:
        md.write(_md_head(spec).encode())
        page.write(_html_head(spec).encode())
        for example in collect_examples(spec):
            if example.id in seen:
                continue  # an exact duplicate shares its id and its decision
            seen.add(example.id)
            old = existing.get(example.id)
            if old is None:
                new += 1
                entries.append({"id": example.id, "decision": "pending", "origin": str(example.origin),
                                "preview": _preview(example.record)})
            else:
                entries.append(_entry(old))
            decision = entries[-1]["decision"]
            md.write(_md_example(example, decision).encode())
            page.write(_html_example(example, decision).encode())
        page.write(b"</main></body></html>\n")
    stale = [d for i, d in existing.items() if i not in seen]
    entries += [_entry(d) | {"stale": True} for d in stale]
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["decision"]] = counts.get(entry["decision"], 0) + 1
    atomic_write_text(path, _yaml(spec, entries))
    return ReviewResult(path, md_path, html_path, len(seen), new, len(stale), counts)


def _entry(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {"id": d.id, "decision": d.decision}
    out.update({k: v for k, v in d.extra.items() if k != "stale"})
    if d.record is not None:
        out.update(d.record)
    return out


def _preview(record: dict[str, Any], width: int = 80) -> str:
    if "messages" in record:
        text = " | ".join(f"{m.get('role')}: {m.get('content') or ''}" for m in record["messages"] if isinstance(m, dict))
    else:
        text = f"{record.get('prompt', '')} -> {record.get('completion', '')}"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _yaml(spec: Spec, entries: list[dict[str, Any]]) -> str:
    import yaml

    head = (
        f"# ftspec review decisions for spec '{spec.name}'.\n"
        "# Set each decision to keep, drop or edit (edit: add `messages:` with the replacement).\n"
        "# pending = not reviewed yet. Re-running `ftspec review` keeps these and adds new examples.\n"
    )
    body = yaml.safe_dump({"spec": spec.name, "examples": entries}, allow_unicode=True, sort_keys=False, width=100)
    return head + body


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
