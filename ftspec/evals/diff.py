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

    def read_path(self, path: Path) -> str | None:
        """``read`` by absolute path: the bases a spec extends, at this side's revision."""
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None
        return self.read(rel)


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
        spec = load_spec_text(side.spec_text, side.root / side.spec_rel, check_files=False, read=side.read_path)
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
    from ftspec.evals.compare import base_vs_tuned

    # base model vs fine-tune on each side (the eval set's baseline), when the side ran one
    vs_base = {s.label: c for s, x in ((a, sa), (b, sb)) if (c := base_vs_tuned(x)) is not None}
    if vs_base:
        out["base_vs_tuned"] = vs_base
    ra, rb = a.reports.get(name), b.reports.get(name)
    if ra is None or rb is None:
        out["note"] = "report missing at " + " and ".join(s.label for s, r in ((a, ra), (b, rb)) if r is None)
        return out
    preference = {s.label: r["preference"] for s, r in ((a, ra), (b, rb)) if r.get("preference")}
    if preference:  # the compare page's choices: each side's model against the other it was paired with
        out["preference"] = preference
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
    """Two different specs (working tree) on the evals they share (by name).

    When the new spec names a recorded baseline (``baseline:``, as ``ftspec migrate`` writes it),
    the old side of every eval set is those recorded answers: parity per case and per set, and
    the old model is never called (it may be shut down).
    """
    root = git_root(spec_a.resolve())
    a, b = open_side(spec_a, WORKTREE, root), open_side(spec_b, WORKTREE, root)
    a.label, b.label = a.spec_rel, b.spec_rel
    kw.setdefault("with_examples", False)
    recorded = _recorded_baseline(b)
    if recorded is not None:
        return parity_diff(a, b, *recorded, **kw)
    shared = sorted(set(a.lock.get("evals") or {}) & set(b.lock.get("evals") or {}))
    if not shared:
        raise DiffError(f"{a.spec_rel} and {b.spec_rel} share no eval set (by name); nothing to compare")
    return diff_sides(a, b, evals=shared, **kw)


# ---- parity with a recorded baseline ---------------------------------------------------------


def _recorded_baseline(side: Side) -> tuple[str, dict[str, Any]] | None:
    """``(path relative to the root, baseline)`` the side's spec names with ``baseline:``."""
    import posixpath

    import yaml

    from ftspec.evals.baseline import BaselineError, load_baseline

    try:
        raw = yaml.safe_load(side.spec_text) or {}
    except yaml.YAMLError:
        return None
    rel = raw.get("baseline") if isinstance(raw, dict) else None
    if not isinstance(rel, str) or not rel:
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(side.spec_rel), rel))
    try:
        return path, load_baseline(side.root / path)
    except BaselineError as exc:
        raise DiffError(f"{side.spec_rel}: baseline: {exc.message}") from None


def parity_eval(name: str, new: Side, baseline: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """One eval set: the new model's report against the recorded answers, case by case. The
    recorded answers as the new report scored them (its ``baseline`` rows, the new spec's
    scorers) when it has them, else as they were scored when recorded."""
    from ftspec.evals.parity import parity

    recorded = (baseline.get("evals") or {}).get(name)
    report = new.reports.get(name)
    out: dict[str, Any] = {"in": [new.label] + (["baseline"] if recorded else [])}
    if recorded is None:
        out["note"] = f"the baseline has no answers for eval '{name}'"
        return out
    if report is None:
        out["note"] = f"report missing at {new.label}; run: ftspec build {new.spec_rel}"
        return out
    rescored = any(c.get("baseline") for c in report["cases"])
    compared = (parity(report["cases"], report["cases"], tolerance=tolerance, old_key="baseline") if rescored
                else parity(recorded.get("cases") or [], report["cases"], tolerance=tolerance))
    pair = {k: _pair(compared["old"][k], compared["new"][k]) for k in ("pass_rate", "mean_score", "passed")}
    rows = {r["id"]: r for r in compared["cases"]}
    out.update({
        "parity": compared,
        "metrics": {**pair, "cases": _pair(compared["compared"], compared["compared"]), "scores": {},
                    "model": _pair(baseline.get("model"), report.get("model"))},
        "regressed": [rows[i] for i in compared["worse"]],
        "improved": [rows[i] for i in compared["better"]],
        "added_cases": compared["only_new"],
        "removed_cases": compared["only_old"],
        "scored_by": "new spec's scorers" if rescored else "scorers at recording",
    })
    return out


def parity_diff(a: Side, b: Side, baseline_rel: str, baseline: dict[str, Any], *,
                tolerance: float = DEFAULT_TOLERANCE, with_examples: bool = False) -> dict[str, Any]:
    """``ftspec diff OLD NEW`` where NEW names a recorded baseline: the spec, data and model
    changes as usual, and for every eval set of NEW its parity with the recorded answers."""
    names = sorted(set(b.lock.get("evals") or {}) | set(baseline.get("evals") or {}))
    if not names:
        raise DiffError(f"{b.spec_rel}: no eval set to compare (the lockfile records none, nor does {baseline_rel})")
    result = diff_sides(a, b, tolerance=tolerance, with_examples=with_examples, evals=[])
    evals = {name: parity_eval(name, b, baseline, tolerance) for name in names}
    result.update({
        "baseline": {"file": baseline_rel, "model": baseline.get("model"), "recorded_on": baseline.get("recorded_on")},
        "evals": evals,
        "regressions": sum(len(e.get("regressed", [])) for e in evals.values()),
        "improvements": sum(len(e.get("improved", [])) for e in evals.values()),
    })
    return result


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
    base = result.get("baseline")
    for name, ev in result["evals"].items():
        if base and "parity" in ev:
            lines += _parity_text(name, ev, base, style)
            continue
        lines.append(style(f"eval {name}", bold=True))
        if "metrics" not in ev:
            lines.append(f"  only in {', '.join(ev['in']) or 'neither'}")
            continue
        m = ev["metrics"]
        for key in ("pass_rate", "mean_score"):
            lines.append(f"  {key}: {_coloured_delta(m[key], style)}")
        for key, pair in m["scores"].items():
            lines.append(f"  score {key}: {_coloured_delta(pair, style)}")
        for label, c in (ev.get("base_vs_tuned") or {}).items():
            lines += _base_text(label, c, style)
        for label, p in (ev.get("preference") or {}).items():
            lines.append(f"  {label}: win rate {_pct(p['win_rate'])} against {p['against']} "
                         f"({p['wins']} won, {p['losses']} lost, {p['ties']} tied, {p['both_bad']} both bad)")
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


def _base_text(label: str, c: dict[str, Any], style) -> list[str]:
    """One side's base model against its fine-tune: pass rates, lift, better/worse cases."""
    from ftspec.evals.compare import rate_level

    colour = {"bad": "red", "warn": "yellow", "ok": "green"}
    base, tuned = c["base"], c["tuned"]
    lift = c["lift_points"]
    lines = [f"  base vs fine-tuned at {label}: "
             + style(_pct(base["pass_rate"]), fg=colour[rate_level(base["pass_rate"])]) + " -> "
             + style(_pct(tuned["pass_rate"]), fg=colour[rate_level(tuned["pass_rate"])])
             + " (" + style(f"{lift:+.1f} points", fg="green" if lift > 0 else ("red" if lift < 0 else None)) + ")"
             + f", mean score {_fmt(base['mean_score'])} -> {_fmt(tuned['mean_score'])}"]
    if c["better"] or c["worse"]:
        lines.append(f"    better than base: {', '.join(c['better']) or '-'}; worse than base: {', '.join(c['worse']) or '-'}")
    return lines


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _parity_text(name: str, ev: dict[str, Any], base: dict[str, Any], style) -> list[str]:
    """One eval set against the recorded baseline: the summary, then every case side by side."""
    p = ev["parity"]
    lines = [style(f"eval {name}: parity with the recorded baseline", bold=True)
             + f" ({base['file']}: {base['model']}, recorded {base.get('recorded_on') or '?'}; "
               f"{ev['scored_by']})"]
    lines.append(f"  pass rate: {_pct(p['old']['pass_rate'])} -> {_pct(p['new']['pass_rate'])} "
                 f"({p['old']['passed']}/{p['compared']} -> {p['new']['passed']}/{p['compared']})")
    lines.append(f"  mean score: {_fmt(p['old']['mean_score'])} -> {_fmt(p['new']['mean_score'])}")
    worse = ", ".join(p["worse"]) or "none"
    lines.append(style(f"  cases worse: {len(p['worse'])}", fg="red" if p["worse"] else "green", bold=True)
                 + f" ({worse}); better: {len(p['better'])}; compared {p['compared']}")
    colour = {"regressed": "red", "improved": "green", "same": None}
    for row in p["cases"]:
        tag = row["change"] + (f": {row['reason']}" if row["reason"] else "")
        lines.append(style(f"  {row['id']} [{tag}]", fg=colour[row["change"]]) + f"  {_short(row['input'], 80)}")
        for side in ("old", "new"):
            state = row[side]
            said = " | ".join(state["outputs"]) or state["error"]
            lines.append(f"    {side}: {state['status']} {state['score']:.3f}  {_short(said)}")
    if p["only_new"] or p["only_old"]:
        lines.append(f"  not compared: {len(p['only_new'])} case(s) only in the new set, "
                     f"{len(p['only_old'])} only in the baseline")
    return lines


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
        if result.get("baseline") and "parity" in ev:
            out += _parity_markdown(name, ev, result["baseline"])
            continue
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


def _parity_markdown(name: str, ev: dict[str, Any], base: dict[str, Any]) -> list[str]:
    p = ev["parity"]
    out = ["", f"### Eval `{name}`: parity with the recorded baseline", "",
           f"Old: `{_md(base['model'])}` (recorded {_md(base.get('recorded_on') or '?')}, `{_md(base['file'])}`); "
           f"scored by the {ev['scored_by']}.", "",
           "| | old (recorded) | new |", "|---|---|---|",
           f"| pass rate | {_pct(p['old']['pass_rate'])} | {_pct(p['new']['pass_rate'])} |",
           f"| mean score | {_fmt(p['old']['mean_score'])} | {_fmt(p['new']['mean_score'])} |",
           f"| cases worse | | {len(p['worse'])} |", "",
           "| case | change | input | old output | new output |", "|---|---|---|---|---|"]
    out += [f"| `{r['id']}` | {r['change']}{': ' + _md(r['reason']) if r['reason'] else ''} | {_md(r['input'])} "
            f"| {_md(' / '.join(r['old']['outputs']) or r['old']['error'])} "
            f"| {_md(' / '.join(r['new']['outputs']) or r['new']['error'])} |" for r in p["cases"]]
    return out
