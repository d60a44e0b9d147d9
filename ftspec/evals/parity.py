"""Old against new, case by case: the one definition of "got worse" that the eval report and
``ftspec diff`` share, so a reviewer sees the same verdict in both.

Both sides are report case rows (``{"id", "results": [{status, score, outputs}, ...]}``); the old
side may be a recorded baseline, so a model that no longer runs can still be compared with.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TOLERANCE = 0.05


def case_state(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One case's verdict over its runs (variants x samples): passed only when every run did."""
    statuses = [r["status"] for r in runs]
    status = "passed" if statuses and all(s == "passed" for s in statuses) else (
        "errored" if "errored" in statuses else "failed")
    score = round(sum(r.get("score", 0.0) for r in runs) / len(runs), 6) if runs else 0.0
    return {"status": status, "score": score, "outputs": [o for r in runs for o in r.get("outputs") or []],
            "error": next((r["error"] for r in runs if r.get("error")), None)}


def change(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> tuple[str, str] | None:
    """``("regressed"|"improved", why)``, or None when the case holds within ``tolerance``."""
    was, now = old["status"] == "passed", new["status"] == "passed"
    if was and not now:
        return "regressed", f"passed -> {new['status']}"
    if now and not was:
        return "improved", f"{old['status']} -> passed"
    drop = new["score"] - old["score"]
    if drop < -tolerance:
        return "regressed", f"score {old['score']:.3f} -> {new['score']:.3f}"
    if drop > tolerance:
        return "improved", f"score {old['score']:.3f} -> {new['score']:.3f}"
    return None


def parity(old_cases: list[dict[str, Any]], new_cases: list[dict[str, Any]], *,
           tolerance: float = DEFAULT_TOLERANCE, old_key: str = "results") -> dict[str, Any]:
    """Every case both sides ran, side by side, and the summary a reviewer signs off on:
    pass rate and mean score of each side over those cases, and which got worse or better.

    ``old_key`` is where the old side's runs are in its rows: ``results`` for another report or a
    recorded baseline, ``baseline`` for the baseline rows inside the new report itself.
    """
    old_by_id = {c["id"]: c for c in old_cases if c.get(old_key)}
    rows: list[dict[str, Any]] = []
    worse: list[str] = []
    better: list[str] = []
    for case in new_cases:
        if case["id"] not in old_by_id or not case.get("results"):
            continue
        old, new = case_state(old_by_id[case["id"]][old_key]), case_state(case["results"])
        verdict = change(old, new, tolerance)
        row = {"id": case["id"], "input": case.get("input_text", ""), "ideal": case.get("ideal"),
               "old": old, "new": new, "change": verdict[0] if verdict else "same",
               "reason": verdict[1] if verdict else ""}
        rows.append(row)
        if verdict:
            (worse if verdict[0] == "regressed" else better).append(case["id"])
    new_ids = {c["id"] for c in new_cases}
    return {
        "cases": rows,
        "compared": len(rows),
        "old": _side([r["old"] for r in rows]),
        "new": _side([r["new"] for r in rows]),
        "worse": worse,
        "better": better,
        "only_old": sorted(set(old_by_id) - new_ids),
        "only_new": sorted(c["id"] for c in new_cases if c["id"] not in old_by_id),
        "tolerance": tolerance,
    }


def _side(states: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(s["status"] == "passed" for s in states)
    return {"passed": passed, "pass_rate": round(passed / len(states), 4) if states else 0.0,
            "mean_score": round(sum(s["score"] for s in states) / len(states), 4) if states else None}
