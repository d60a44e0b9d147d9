"""``ftspec diff``: what changed between two revisions of a spec (or between two specs).

Needs only what is committed at each revision: the spec, its lockfile, the eval reports and
the data files, read through ``ftspec.revisions`` (a file at a revision; a revision's whole
tree to rebuild its example ids). The result is plain data, rendered as text, Markdown or JSON.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec import revisions
from ftspec.errors import FtspecError
from ftspec.evals.parity import DEFAULT_TOLERANCE, case_state
from ftspec.evals.parity import change as case_change

WORKTREE = None  # the revision value meaning "the working tree"


class DiffError(revisions.RevisionError):
    """A revision that does not exist, a spec or lockfile missing at a revision, not a repo."""


# ---- reading one side ------------------------------------------------------------------------


@dataclass
class Side:
    label: str  # "HEAD", "working tree", "specs/other.yaml"
    rev: str | None
    root: Path
    spec_rel: str  # spec path relative to the project root
    spec_text: str = ""
    lock: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def read(self, rel: str) -> str | None:
        """A file's text at this side's revision (or in the working tree), None if absent."""
        return revisions.read_text(self.root, self.rev, rel)


def git_root(start: Path) -> Path:
    try:
        return revisions.git_root(start)
    except revisions.RevisionError:
        raise DiffError(f"{start}: not inside a git repository; ftspec diff compares git revisions") from None


def unknown_revision(root: Path, rev: str, spec_rel: str) -> DiffError:
    """Say what to do instead: an empty repository is a first-hour state, not a typo."""
    if revisions.resolve_commit(root, "HEAD") is None:
        return DiffError(f"cannot compare with '{rev}': this git repository has no commits yet",
                         hint=f"commit the spec and its lockfile first (git add {spec_rel} && git commit), "
                              "or compare two spec files: ftspec diff A.yaml B.yaml")
    return DiffError(f"unknown revision '{rev}' (git cannot resolve it)")


def open_side(spec_path: Path, rev: str | None, root: Path | None = None) -> Side:
    from ftspec.errors import LockError
    from ftspec.lockfile import load_lock, lock_path

    spec_path = spec_path.resolve()
    root = root or git_root(spec_path)
    spec_rel = spec_path.relative_to(root).as_posix()
    label = rev if rev is not None else "working tree"
    if rev is not None and revisions.resolve_commit(root, rev) is None:
        raise unknown_revision(root, rev, spec_rel)
    side = Side(label=label, rev=rev, root=root, spec_rel=spec_rel)
    text = side.read(spec_rel)
    if text is None:
        raise DiffError(f"{spec_rel} does not exist at {label}")
    side.spec_text = text
    lock_rel = lock_path(Path(spec_rel)).as_posix()
    lock_text = side.read(lock_rel)
    if lock_text is None:
        raise DiffError(f"{label} has no lockfile for {spec_rel} ({lock_rel}); build the spec and commit its lockfile first")
    try:
        side.lock = load_lock(lock_text)
    except LockError as exc:
        raise DiffError(f"{lock_rel} at {label}: {exc.message.removeprefix('<lock>: ')}") from None
    for name, summary in sorted((side.lock.get("evals") or {}).items()):
        report_text = side.read(summary.get("report") or "") if summary.get("report") else None
        side.reports[name] = json.loads(report_text) if report_text else None
    return side


# ---- the spec --------------------------------------------------------------------------------


def normalised_spec(side: Side) -> dict[str, Any]:
    """The spec with defaults filled in (template, hyperparameters, split), for a fair diff."""
    import yaml

    from ftspec.spec.loader import load_spec_text

    try:
        spec = load_spec_text(side.spec_text, side.root / side.spec_rel, check_files=False)
    except FtspecError:
        return yaml.safe_load(side.spec_text) or {}
    return {**spec.raw, "template": spec.template, "hyperparameters": spec.hyperparameters, "split": spec.split}


def spec_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    def plain(value: Any) -> Any:
        return None if isinstance(value, NotPresent) else value

    tree = DeepDiff(a, b, view="tree", verbose_level=2)
    out = []
    for kind, items in tree.items():
        for item in items:
            key = ".".join(str(p) for p in item.path(output_format="list"))
            out.append({"key": key, "change": kind, "old": plain(item.t1), "new": plain(item.t2)})
    return sorted(out, key=lambda c: c["key"])


# ---- the dataset ------------------------------------------------------------------------------


def example_index(side: Side) -> dict[str, str]:
    """Example id -> ``file:line`` of every example the side's sources yield (after the
    pre-template transforms), read from a ``git archive`` of the revision."""
    if side.rev is None:
        return _examples_at(side.root, side.spec_rel)
    with tempfile.TemporaryDirectory(prefix="ftspec-diff-") as tmp:
        return _examples_at(revisions.extract_tree(side.root, side.rev, Path(tmp)), side.spec_rel)


def _examples_at(root: Path, spec_rel: str) -> dict[str, str]:
    from ftspec.data.context import BuildContext
    from ftspec.data.examples import iter_examples
    from ftspec.spec.loader import load_spec

    spec = load_spec(root / spec_rel)
    ctx = BuildContext()
    examples = iter_examples(spec, ctx, review=False)
    out = {}
    for example in examples:
        origin = example.origin
        out[example.id] = f"{Path(origin.file).name}:{origin.line}"
    return out


def dataset_diff(a: Side, b: Side, with_examples: bool) -> dict[str, Any]:
    da, db = a.lock.get("dataset") or {}, b.lock.get("dataset") or {}
    out: dict[str, Any] = {
        "sha256": _pair(da.get("sha256"), db.get("sha256")),
        "counts": _pair(da.get("counts"), db.get("counts")),
        "tokens": _pair(_token_total(da.get("tokens")), _token_total(db.get("tokens"))),
    }
    if with_examples and da.get("sha256") != db.get("sha256"):
        try:
            ids_a, ids_b = example_index(a), example_index(b)
        except FtspecError as exc:
            out["examples_error"] = exc.message
            return out
        by_origin_a = {origin: i for i, origin in ids_a.items()}
        added = sorted(set(ids_b) - set(ids_a))
        removed = sorted(set(ids_a) - set(ids_b))
        changed = sorted(i for i in added if ids_b[i] in by_origin_a and by_origin_a[ids_b[i]] in removed)
        changed_old = {by_origin_a[ids_b[i]] for i in changed}
        out["examples"] = {
            "added": [{"id": i, "at": ids_b[i]} for i in added if i not in changed],
            "removed": [{"id": i, "at": ids_a[i]} for i in removed if i not in changed_old],
            "changed": [{"old_id": by_origin_a[ids_b[i]], "id": i, "at": ids_b[i]} for i in changed],
        }
    return out


def _token_total(tokens: Any) -> Any:
    """A lockfile's token summary as one number when it has one (``total``), else as is."""
    if isinstance(tokens, dict):
        if isinstance(tokens.get("total"), int | float):
            return tokens["total"]
        totals = [v.get("total") for v in tokens.values() if isinstance(v, dict) and isinstance(v.get("total"), int | float)]
        if totals:
            return sum(totals)
    return tokens


def _pair(old: Any, new: Any) -> dict[str, Any]:
    out = {"old": old, "new": new, "changed": old != new}
    if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(old, bool):
        out["delta"] = round(new - old, 6)
    return out


# ---- evals -------------------------------------------------------------------------------------


def _case_state(case: dict[str, Any]) -> dict[str, Any]:
    return case_state(case.get("results") or [])


def eval_diff(name: str, a: Side, b: Side, tolerance: float) -> dict[str, Any]:
    sa, sb = (a.lock.get("evals") or {}).get(name), (b.lock.get("evals") or {}).get(name)
    out: dict[str, Any] = {"in": [s.label for s, x in ((a, sa), (b, sb)) if x is not None]}
    if sa is None or sb is None:
        return out
    metrics = {k: _pair(sa.get(k), sb.get(k)) for k in ("pass_rate", "mean_score", "passed", "failed", "errored", "cases")}
    metrics["scores"] = {k: _pair((sa.get("scores") or {}).get(k), (sb.get("scores") or {}).get(k))
                         for k in sorted(set(sa.get("scores") or {}) | set(sb.get("scores") or {}))}
    metrics["model"] = _pair(sa.get("model"), sb.get("model"))
    out["metrics"] = metrics
    ra, rb = a.reports.get(name), b.reports.get(name)
    if ra is None or rb is None:
        out["note"] = "report missing at " + " and ".join(s.label for s, r in ((a, ra), (b, rb)) if r is None)
        return out
    cases_a = {c["id"]: c for c in ra["cases"]}
    cases_b = {c["id"]: c for c in rb["cases"]}
    regressed, improved = [], []
    for case_id in [c["id"] for c in rb["cases"] if c["id"] in cases_a]:
        old, new = _case_state(cases_a[case_id]), _case_state(cases_b[case_id])
        reason = _change(old, new, tolerance)
        if reason is None:
            continue
        row = {"id": case_id, "input": cases_b[case_id].get("input_text", ""), "ideal": cases_b[case_id].get("ideal"),
               "reason": reason[1], "old": old, "new": new}
        (regressed if reason[0] == "regressed" else improved).append(row)
    out["regressed"] = regressed
    out["improved"] = improved
    out["added_cases"] = [c["id"] for c in rb["cases"] if c["id"] not in cases_a]
    out["removed_cases"] = [c["id"] for c in ra["cases"] if c["id"] not in cases_b]
    return out


_change = case_change


# ---- the whole diff -----------------------------------------------------------------------------


def diff_sides(a: Side, b: Side, *, tolerance: float = DEFAULT_TOLERANCE, with_examples: bool = True,
               evals: list[str] | None = None) -> dict[str, Any]:
    la, lb = a.lock, b.lock
    job_a, job_b = la.get("job") or {}, lb.get("job") or {}
    names = evals if evals is not None else sorted(set(la.get("evals") or {}) | set(lb.get("evals") or {}))
    eval_results = {name: eval_diff(name, a, b, tolerance) for name in names}
    return {
        "spec": b.spec_rel if a.spec_rel == b.spec_rel else {"old": a.spec_rel, "new": b.spec_rel},
        "old": a.label,
        "new": b.label,
        "spec_changes": spec_changes(normalised_spec(a), normalised_spec(b)),
        "dataset": dataset_diff(a, b, with_examples),
        "model": _pair(la.get("model"), lb.get("model")),
        "job": _pair(job_a.get("id"), job_b.get("id")),
        "hyperparameters": _pair(job_a.get("hyperparameters"), job_b.get("hyperparameters")),
        "evals": eval_results,
        "regressions": sum(len(e.get("regressed", [])) for e in eval_results.values()),
        "improvements": sum(len(e.get("improved", [])) for e in eval_results.values()),
        "tolerance": tolerance,
    }


def diff_revisions(spec_path: Path, rev_a: str | None = "HEAD", rev_b: str | None = WORKTREE, **kw) -> dict[str, Any]:
    root = git_root(spec_path.resolve())
    return diff_sides(open_side(spec_path, rev_a, root), open_side(spec_path, rev_b, root), **kw)


def diff_specs(spec_a: Path, spec_b: Path, **kw) -> dict[str, Any]:
    """Two different specs (working tree) on the evals they share (by name)."""
    root = git_root(spec_a.resolve())
    a, b = open_side(spec_a, WORKTREE, root), open_side(spec_b, WORKTREE, root)
    a.label, b.label = a.spec_rel, b.spec_rel
    shared = sorted(set(a.lock.get("evals") or {}) & set(b.lock.get("evals") or {}))
    if not shared:
        raise DiffError(f"{a.spec_rel} and {b.spec_rel} share no eval set (by name); nothing to compare")
    kw.setdefault("with_examples", False)
    return diff_sides(a, b, evals=shared, **kw)


# ---- rendering -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _short(text: Any, limit: int = 160) -> str:
    text = _fmt(text).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _delta(pair: dict[str, Any]) -> str:
    if "delta" in pair:
        sign = "+" if pair["delta"] >= 0 else ""
        return f"{_fmt(pair['old'])} -> {_fmt(pair['new'])} ({sign}{pair['delta']:.4g})"
    if not pair["changed"]:
        return f"unchanged ({_fmt(pair['new'])})"
    return f"{_fmt(pair['old'])} -> {_fmt(pair['new'])}"


def render_text(result: dict[str, Any], color: bool = True) -> str:
    import click

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    lines = [style(f"diff {result['old']} -> {result['new']}  ({_fmt(result['spec'])})", bold=True)]
    lines.append(style("spec", bold=True) + ("" if result["spec_changes"] else ": unchanged"))
    for change in result["spec_changes"]:
        lines.append(f"  {change['key']}: {style(_short(change['old']), fg='red')} -> {style(_short(change['new']), fg='green')}")
    ds = result["dataset"]
    lines.append(style("dataset", bold=True) + ("" if ds["sha256"]["changed"] else ": unchanged"))
    if ds["sha256"]["changed"]:
        lines.append(f"  sha256: {_short(ds['sha256']['old'], 14)} -> {_short(ds['sha256']['new'], 14)}")
        lines.append(f"  counts: {_delta(ds['counts'])}")
        lines.append(f"  tokens: {_delta(ds['tokens'])}")
        ex = ds.get("examples")
        if ex:
            added, removed = "+" + str(len(ex["added"])), "-" + str(len(ex["removed"]))
            lines.append(f"  examples: {style(added, fg='green')} {style(removed, fg='red')} ~{len(ex['changed'])}")
            for item in ex["added"][:10]:
                lines.append(style(f"    + {item['id']} {item['at']}", fg="green"))
            for item in ex["removed"][:10]:
                lines.append(style(f"    - {item['id']} {item['at']}", fg="red"))
            for item in ex["changed"][:10]:
                lines.append(f"    ~ {item['old_id']} -> {item['id']} {item['at']}")
        if ds.get("examples_error"):
            lines.append(f"  examples: could not be listed: {ds['examples_error']}")
    lines.append(style("model", bold=True) + f": {_delta(result['model'])}" if result["model"]["changed"]
                 else style("model", bold=True) + f": unchanged ({_fmt(result['model']['new'])})")
    if result["job"]["changed"]:
        lines.append(style("job", bold=True) + f": {_delta(result['job'])}")
    for name, ev in result["evals"].items():
        lines.append(style(f"eval {name}", bold=True))
        if "metrics" not in ev:
            lines.append(f"  only in {', '.join(ev['in']) or 'neither'}")
            continue
        m = ev["metrics"]
        for key in ("pass_rate", "mean_score"):
            lines.append(f"  {key}: {_coloured_delta(m[key], style)}")
        for key, pair in m["scores"].items():
            lines.append(f"  score {key}: {_coloured_delta(pair, style)}")
        if ev.get("note"):
            lines.append(f"  {ev['note']}")
        for title, rows, colour in (("regressed", ev.get("regressed", []), "red"), ("improved", ev.get("improved", []), "green")):
            if rows:
                lines.append(style(f"  {title} ({len(rows)}):", fg=colour, bold=True))
            for row in rows:
                lines.append(style(f"    {row['id']}: {row['reason']}", fg=colour) + f"  {_short(row['input'], 80)}")
                lines.append(f"      old: {_short(' | '.join(row['old']['outputs']) or row['old']['error'])}")
                lines.append(f"      new: {_short(' | '.join(row['new']['outputs']) or row['new']['error'])}")
        if ev.get("added_cases") or ev.get("removed_cases"):
            lines.append(f"  cases: +{len(ev['added_cases'])} -{len(ev['removed_cases'])}")
    lines.append(style(f"{result['regressions']} regressed, {result['improvements']} improved",
                       fg="red" if result["regressions"] else "green", bold=True))
    return "\n".join(lines)


def _coloured_delta(pair: dict[str, Any], style) -> str:
    text = _delta(pair)
    if "delta" not in pair or pair["delta"] == 0:
        return text
    return style(text, fg="green" if pair["delta"] > 0 else "red")


def _md(text: Any) -> str:
    return _short(text, 200).replace("|", "\\|")


def render_markdown(result: dict[str, Any]) -> str:
    out = [f"## ftspec diff `{result['old']}` → `{result['new']}` ({_md(result['spec'])})", ""]
    out.append(f"**{result['regressions']} regressed, {result['improvements']} improved**")
    out += ["", "### Spec", ""]
    if result["spec_changes"]:
        out += ["| key | old | new |", "|---|---|---|"]
        out += [f"| `{c['key']}` | {_md(c['old'])} | {_md(c['new'])} |" for c in result["spec_changes"]]
    else:
        out.append("unchanged")
    ds = result["dataset"]
    out += ["", "### Dataset", ""]
    if ds["sha256"]["changed"]:
        out.append(f"- counts: {_md(_delta(ds['counts']))}")
        out.append(f"- tokens: {_md(_delta(ds['tokens']))}")
        ex = ds.get("examples")
        if ex:
            out.append(f"- examples: +{len(ex['added'])} added, -{len(ex['removed'])} removed, ~{len(ex['changed'])} changed")
    else:
        out.append("unchanged")
    out += ["", "### Model", "", f"- model: {_md(_delta(result['model']))}", f"- job: {_md(_delta(result['job']))}"]
    for name, ev in result["evals"].items():
        out += ["", f"### Eval `{name}`", ""]
        if "metrics" not in ev:
            out.append(f"only in {', '.join(ev['in'])}")
            continue
        m = ev["metrics"]
        out += ["| metric | old | new | Δ |", "|---|---|---|---|"]
        rows = [("pass_rate", m["pass_rate"]), ("mean_score", m["mean_score"])] + [(f"score {k}", v) for k, v in m["scores"].items()]
        out += [f"| {k} | {_fmt(p['old'])} | {_fmt(p['new'])} | {_fmt(p.get('delta'))} |" for k, p in rows]
        for title, cases in (("Regressed", ev.get("regressed", [])), ("Improved", ev.get("improved", []))):
            if cases:
                out += ["", f"**{title}**", "", "| case | change | input | old output | new output |", "|---|---|---|---|---|"]
                out += [f"| `{c['id']}` | {_md(c['reason'])} | {_md(c['input'])} | {_md(' / '.join(c['old']['outputs']))} "
                        f"| {_md(' / '.join(c['new']['outputs']))} |" for c in cases]
    return "\n".join(out) + "\n"
