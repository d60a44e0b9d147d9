"""Base model against fine-tuned model, per eval set: the figures every surface shows.

The eval report (HTML), the console summary at the end of ``ftspec build``, ``ftspec diff`` and
the sweep table read the same numbers from an eval summary (the one kept in the lockfile):
pass rate and mean score of the base model and of the fine-tune over the cases both ran, the
lift in points, and which cases got better or worse, by the one rule of ``ftspec.evals.parity``.
"""

from __future__ import annotations

from typing import Any

# A pass rate's colour: below RED_BELOW is red, below AMBER_BELOW amber, else green.
RED_BELOW = 0.5
AMBER_BELOW = 0.8


def rate_level(rate: float | None) -> str:
    """``"bad"`` (red), ``"warn"`` (amber) or ``"ok"`` (green) for a pass rate in [0, 1]."""
    if rate is None or rate < RED_BELOW:
        return "bad"
    return "warn" if rate < AMBER_BELOW else "ok"


def lift_points(base: float | None, tuned: float | None) -> float | None:
    """The fine-tune's pass rate minus the base model's, in percentage points."""
    if base is None or tuned is None:
        return None
    return round((tuned - base) * 100, 1)


def base_vs_tuned(summary: dict[str, Any]) -> dict[str, Any] | None:
    """From an eval summary with a baseline: ``{base, tuned, lift_points, better, worse, ...}``
    (pass rate and mean score over the cases both sides ran), or None without a baseline."""
    parity = summary.get("parity")
    base = summary.get("baseline")
    if not parity or not base:
        return None
    old, new = parity["old"], parity["new"]
    return {
        "base_model": base.get("model"),
        "model": summary.get("model"),
        "recorded_on": base.get("recorded_on"),
        "compared": parity["compared"],
        "base": {"pass_rate": old["pass_rate"], "mean_score": old["mean_score"]},
        "tuned": {"pass_rate": new["pass_rate"], "mean_score": new["mean_score"]},
        "lift_points": lift_points(old["pass_rate"], new["pass_rate"]),
        "better": list(parity["better"]),
        "worse": list(parity["worse"]),
    }


def comparisons(evals: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``eval name -> base_vs_tuned`` for every summary that has a baseline, else its own figures."""
    out = {}
    for name, summary in sorted(evals.items()):
        compared = base_vs_tuned(summary)
        out[name] = compared or {"model": summary.get("model"), "base": None,
                                 "tuned": {"pass_rate": summary.get("pass_rate"),
                                           "mean_score": summary.get("mean_score")}}
    return out


def pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ids(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", +{len(ids) - limit} more" if len(ids) > limit else "")


def summary_lines(spec_name: str, evals: dict[str, dict[str, Any]], style=None) -> list[str]:
    """One line per eval set (two with better/worse cases): base -> fine-tuned pass rate, the lift,
    mean scores. ``style(text, level)`` colours a pass rate (``level`` from ``rate_level``)."""
    style = style or (lambda text, level: text)
    lines = []
    for name, c in comparisons(evals).items():
        tuned = c["tuned"]
        rate = style(pct(tuned["pass_rate"]), rate_level(tuned["pass_rate"]))
        if c["base"] is None:
            lines.append(f"{spec_name}: eval '{name}': pass rate {rate}, mean score {_score(tuned['mean_score'])} "
                         "(no baseline)")
            continue
        base = c["base"]
        lift = c["lift_points"]
        lines.append(f"{spec_name}: eval '{name}': base {style(pct(base['pass_rate']), rate_level(base['pass_rate']))}"
                     f" -> fine-tuned {rate} ({lift:+.1f} points), mean score {_score(base['mean_score'])} -> "
                     f"{_score(tuned['mean_score'])}")
        if c["better"] or c["worse"]:
            lines.append(f"  {len(c['better'])} better" + (f" ({_ids(c['better'])})" if c["better"] else "")
                         + f", {len(c['worse'])} worse" + (f" ({_ids(c['worse'])})" if c["worse"] else ""))
    return lines
