"""Review decisions: the ``reviews/<spec>.yaml`` file, loaded, checked and applied at build time.

Every example id is listed with ``decision: keep | drop | edit | pending`` (``edit`` carries
replacement ``messages``, or ``prompt``/``completion``). Ids are ``Example.id`` (the
pre-template content hash), so template changes never stale a review. ``apply_review`` runs in
the example stream (``ftspec.data.examples``) after the "pre" transforms, before the template.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    from ftspec.spec.loader import byte_location, display_path

    shown = display_path(path)
    if not path.exists():
        return {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError([Problem(byte_location(shown, raw, exc.start),
                                 f"not UTF-8 text ({exc.reason}, byte 0x{raw[exc.start]:02x})")]) from None
    return parse_decisions(text, shown)


class DecisionsFile:
    """A decisions file and the decisions last read from it, reread only when the file changed
    on disk (its mtime, size or inode: every atomic write is a new inode), so a review session
    does not reparse hundreds of entries on every click."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._decisions: dict[str, Decision] = {}

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def read(self) -> dict[str, Decision]:
        signature = self._stat()
        if signature is None:
            return {}
        if signature != self._signature:  # read after stat: a change in between is seen next time
            self._decisions, self._signature = load_decisions(self.path), signature
        return self._decisions

    def remember(self, decisions: dict[str, Decision]) -> None:
        """What this process just wrote (called under the file lock, right after the write)."""
        self._decisions, self._signature = decisions, self._stat()


def parse_decisions(text: str, shown: str) -> dict[str, Decision]:
    """``load_decisions`` on text already read (``shown`` names it in errors); the review server
    checks every file it is about to write with this, so it can never write one the build rejects."""
    from ftspec.spec.yamlpos import load_yaml_with_positions

    try:
        data, pos = load_yaml_with_positions(text, shown)
    except SpecError as exc:
        raise DataError(exc.problems) from None
    return _decisions_from(data, pos)


def check_written(text: str, shown: str) -> dict[str, Decision]:
    """``parse_decisions`` for text ``decisions_yaml`` just dumped from a dict: libyaml parses it
    (it holds no duplicate keys, and its positions are only wanted for a message) and the
    loader's own per-entry checks run on every entry; a problem is parsed again with positions
    so its message is located. The review server calls this before every write."""
    import yaml

    from ftspec.spec.yamlpos import Positions

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return parse_decisions(text, shown)
    try:
        return _decisions_from(yaml.load(text, Loader=fast), Positions(shown))
    except (DataError, yaml.YAMLError):
        return parse_decisions(text, shown)


def _decisions_from(data: Any, pos) -> dict[str, Decision]:
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


@contextmanager
def decisions_lock(path: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the decisions file's lock (``.ftspec/locks/``) for a read-modify-write, so two
    ``ftspec review`` runs, two servers or two browser tabs never lose each other's decisions."""
    from filelock import FileLock, Timeout

    from ftspec.project import project_root, state_dir
    from ftspec.spec.loader import display_path
    from ftspec.util import sha256_text

    lock_path = state_dir(project_root(path.parent)) / "locks" / f"review-{sha256_text(str(path.resolve()))[:16]}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise DataError([Problem(Location(display_path(path)),
                                 f"another ftspec process has held this file's lock ({lock_path}) for {timeout:.0f}s")]) from None
    try:
        yield
    finally:
        lock.release()


def entry_as_written(d: Decision) -> dict[str, Any]:
    """A loaded decision back as its file entry, every key kept (``stale`` included)."""
    out: dict[str, Any] = {"id": d.id, "decision": d.decision, **d.extra}
    if d.record is not None:
        out.update(d.record)
    return out


def save_decision(spec: Spec, ident: str, change: dict[str, Any], *, new: dict[str, Any] | None = None,
                  known: DecisionsFile | None = None) -> dict[str, Decision]:
    """Set one example's entry in the decisions file: under the lock, reread the file, apply
    ``change`` (``decision``, an edit's ``messages`` or ``prompt``/``completion``, ``flagged``),
    check the whole file with the build's own loader, then write it atomically (fsync + rename).

    ``new`` is the entry to start from when the file has none for ``ident`` yet; ``known`` spares
    the reread while the file is as this process last wrote it. A change the
    loader rejects raises its located ``DataError`` and writes nothing. Returns every decision,
    as the file now holds them."""
    from ftspec.spec.loader import display_path
    from ftspec.util import atomic_write_text

    path = decisions_path(spec)
    known = known or DecisionsFile(path)
    with decisions_lock(path):
        entries = {i: entry_as_written(d) for i, d in known.read().items()}
        if ident not in entries:
            entries[ident] = dict(new or {"id": ident, "decision": "pending"})
        entry = entries[ident]
        if "decision" in change:
            for key in ("messages", "prompt", "completion"):
                entry.pop(key, None)  # an edit's content goes with it; a new edit brings its own
        entry.update(change)
        if entry.get("flagged") is False:
            del entry["flagged"]
        text = decisions_yaml(spec, list(entries.values()))
        saved = check_written(text, display_path(path))
        atomic_write_text(path, text)
        known.remember(saved)
    return saved


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
    implied = generated_need_review(spec)
    seen: set[str] = set()
    unreviewed: list[Example] = []  # the first few that block the build
    waiting: list[Example] = []  # the first few of all unreviewed
    blocked = 0  # unreviewed examples that must not be trained on
    for example in examples:
        decision = decisions.get(example.id)
        seen.add(example.id)
        if decision is None or decision.decision == "pending":
            ctx.count("review", "unreviewed")
            required = (review["required"] or bool(example.meta.get("moderation_flags"))
                        or (implied and needs_review(example)))
            if len(waiting) < MAX_IDS_SHOWN:
                waiting.append(example)
            if required and len(unreviewed) < MAX_IDS_SHOWN:
                unreviewed.append(example)
            if required:
                blocked += 1
                if example.meta.get("generated_by"):
                    ctx.count("review", "generated_unreviewed")
            else:
                yield example
        elif decision.decision == "keep":
            ctx.count("review", "kept")
            yield example
        elif decision.decision == "drop":
            ctx.count("review", "dropped")
            ctx.remove("review", "dropped in review", example)
        else:
            ctx.count("review", "edited")
            # the edit replaces the messages (or prompt/completion); tools and the like stay
            yield example.replace({**example.record, **(decision.record or {})})
    stale = [d for d in decisions.values() if d.id not in seen]
    if stale:
        ctx.count("review", "stale", len(stale))
        ids = ", ".join(f"{d.id} (line {d.line})" for d in stale[:MAX_IDS_SHOWN])
        ctx.warn(f"{shown}: {len(stale)} review decision(s) for examples that no longer exist (stale): {ids}")
    total = ctx.counters["review"]["unreviewed"]
    if blocked:
        ids = ", ".join(f"{e.id} ({e.origin})" for e in unreviewed)
        why = "" if review["required"] else (" (examples a model made need review; `review: {required: false}` "
                                             "in the spec trains on them unreviewed)")
        message = f"{blocked} example(s) not reviewed yet{why}: {ids}{' ...' if blocked > len(unreviewed) else ''}"
        raise DataError([Problem(Location(shown), message)],
                        hint=f"run `ftspec review {display_path(spec.path)}` and decide keep/drop/edit for each")
    if total:
        ids = ", ".join(f"{e.id} ({e.origin})" for e in waiting)
        ctx.warn(f"{shown}: {total} example(s) not reviewed yet: {ids}{' ...' if total > len(waiting) else ''}")


def generated_need_review(spec: Spec) -> bool:
    """Examples a model made (or moderation sent to review) need a decision, unless the spec's
    ``review`` explicitly says ``required: false``."""
    review = spec.raw.get("review")
    return not (isinstance(review, dict) and review.get("required") is False)


def needs_review(example: Example) -> bool:
    return bool(example.meta.get("generated_by") or example.meta.get("moderation_flags"))


# ---- the review page ------------------------------------------------------------------------
def decision_entry(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {"id": d.id, "decision": d.decision}
    out.update({k: v for k, v in d.extra.items() if k != "stale"})
    if d.record is not None:
        out.update(d.record)
    return out


def preview(record: dict[str, Any], width: int = 80) -> str:
    if "messages" in record:
        text = " | ".join(f"{m.get('role')}: {m.get('content') or ''}" for m in record["messages"] if isinstance(m, dict))
    else:
        text = f"{record.get('prompt', '')} -> {record.get('completion', '')}"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def decisions_yaml(spec: Spec, entries: list[dict[str, Any]], dumper: Any = None) -> str:
    """The decisions file's text; libyaml's dumper where PyYAML has it (the same YAML, many
    times faster on a big review)."""
    import yaml

    dumper = dumper or getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    head = (
        f"# ftspec review decisions for spec '{spec.name}'.\n"
        "# Set each decision to keep, drop or edit (edit: add `messages:` with the replacement).\n"
        "# pending = not reviewed yet. Re-running `ftspec review` keeps these and adds new examples.\n"
    )
    body = yaml.dump({"spec": spec.name, "examples": entries}, Dumper=dumper, allow_unicode=True,
                     sort_keys=False, width=100)
    return head + body


