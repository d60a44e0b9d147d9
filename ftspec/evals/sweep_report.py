"""The sweep comparison table: one row per variant, as console text and as an HTML page.

A row (``ftspec.graph.sweep.VariantGraph.row``) carries the variant's values, final training and
validation loss, trained tokens, training time, and per eval set the base model's and the
fine-tune's pass rate with the lift (``ftspec.evals.compare``).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ftspec.evals.compare import pct, rate_level


def eval_names(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({name for r in rows for name in r.get("evals") or {}})


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{int(value) // 60}m{int(value) % 60:02d}s"


def _eval_cell(c: dict[str, Any] | None) -> str:
    if not c:
        return "-"
    tuned = pct(c["tuned"]["pass_rate"])
    if c.get("base") is None:
        return tuned
    return f"{tuned} ({c['lift_points']:+.1f} vs base {pct(c['base']['pass_rate'])})"


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A plain text table, one line per variant, columns aligned."""
    names = eval_names(rows)
    header = ["variant", "train loss", "valid loss", "tokens", "time", *[f"eval {n}" for n in names]]
    body = [[r["variant"], _loss(r.get("train_loss")), _loss(r.get("valid_loss")),
             "-" if r.get("trained_tokens") is None else f"{r['trained_tokens']:,}", _seconds(r.get("train_seconds")),
             *[_eval_cell((r.get("evals") or {}).get(n)) for n in names]] for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]


CSS = ("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}"
       "table{border-collapse:collapse;background:#fff}th,td{border:1px solid #dde1e7;padding:6px 10px;text-align:left}"
       "th{background:#f0f2f5}.ok{color:#137333}.warn{color:#9a6700}.bad{color:#b3261e}.small{font-size:12px;color:#5b6475}"
       "td.num{font-variant-numeric:tabular-nums}")


def render_sweep_html(spec_name: str, rows: list[dict[str, Any]]) -> str:
    names = eval_names(rows)
    html = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{escape(spec_name)} – ftspec sweep</title><style>{CSS}</style></head><body>",
            f"<h1>{escape(spec_name)}: training sweep</h1>",
            "<p class='small'>one training job per variant; apply one with "
            "<code>ftspec sweep apply SPEC VARIANT</code></p>",
            "<table id='sweep'><thead><tr><th>variant</th><th>train loss</th><th>valid loss</th>"
            "<th>trained tokens</th><th>training time</th>"]
    html += [f"<th>{escape(n)} pass rate</th><th>{escape(n)} lift over base</th>" for n in names]
    html.append("</tr></thead><tbody>")
    for r in rows:
        html.append(f"<tr><td><b>{escape(r['variant'])}</b><br><span class='small'>{escape(r.get('model') or '')}</span></td>"
                    f"<td class='num'>{_loss(r.get('train_loss'))}</td><td class='num'>{_loss(r.get('valid_loss'))}</td>"
                    f"<td class='num'>{'-' if r.get('trained_tokens') is None else format(r['trained_tokens'], ',')}</td>"
                    f"<td class='num'>{_seconds(r.get('train_seconds'))}</td>")
        for n in names:
            c = (r.get("evals") or {}).get(n)
            if not c:
                html.append("<td>-</td><td>-</td>")
                continue
            rate = c["tuned"]["pass_rate"]
            html.append(f"<td class='num {rate_level(rate)}'>{pct(rate)}</td>")
            if c.get("base") is None:
                html.append("<td>no baseline</td>")
            else:
                lift = c["lift_points"]
                cls = "ok" if lift > 0 else ("bad" if lift < 0 else "")
                html.append(f"<td class='num {cls}'>{lift:+.1f} points <span class='small'>(base "
                            f"{pct(c['base']['pass_rate'])})</span></td>")
        html.append("</tr>")
    html.append("</tbody></table></body></html>")
    return "".join(html) + "\n"
