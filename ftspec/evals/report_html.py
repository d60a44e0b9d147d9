"""The self-contained HTML eval report: inline CSS, JS and SVG, no network, works offline.

Rendered from the report JSON alone, so ``ftspec report`` can rebuild it at any time.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from ftspec.evals.compare import base_vs_tuned, lift_points, rate_level

STATUS_ORDER = {"errored": 0, "failed": 1, "passed": 2}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#5b6475}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:22px}.ok{color:#137333}.bad{color:#b3261e}.err{color:#9a6700}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #dde2ea;padding:6px 8px;vertical-align:top;text-align:left}
th{background:#f0f3f7}pre{white-space:pre-wrap;margin:0;font:13px/1.4 ui-monospace,monospace}
tr.failed td:first-child{border-left:4px solid #b3261e}tr.errored td:first-child{border-left:4px solid #9a6700}
tr.passed td:first-child{border-left:4px solid #137333}.tag{background:#e8eefc;border-radius:4px;padding:0 5px;margin-right:3px;font-size:12px}
.filters button{margin:0 4px 4px 0;border:1px solid #b9c3d3;background:#fff;border-radius:14px;padding:2px 10px;cursor:pointer}
.filters button.on{background:#1d4ed8;color:#fff;border-color:#1d4ed8}.warn{color:#9a6700}
.score{font-variant-numeric:tabular-nums}.small{font-size:12px;color:#5b6475}
"""

JS = """
(function(){
  var tag='', status='';
  function apply(){
    var rows=document.querySelectorAll('#cases tbody tr');
    var shown=0;
    rows.forEach(function(r){
      var tags=(r.getAttribute('data-tags')||'').split(' ');
      var ok=(!tag||tags.indexOf(tag)>=0)&&(!status||r.getAttribute('data-status')===status||(status==='notpassed'&&r.getAttribute('data-status')!=='passed'));
      r.style.display=ok?'':'none'; if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  document.querySelectorAll('.filters button').forEach(function(b){
    b.addEventListener('click',function(){
      var kind=b.getAttribute('data-kind'), value=b.getAttribute('data-value');
      document.querySelectorAll('.filters button[data-kind="'+kind+'"]').forEach(function(x){x.classList.remove('on');});
      b.classList.add('on');
      if(kind==='tag'){tag=value;}else{status=value;}
      apply();
    });
  });
  apply();
})();
"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _rate_class(rate: float, gate: dict[str, Any] | None) -> str:
    """The pass rate's colour: red below a failed gate, else by ``rate_level``'s thresholds."""
    if gate and not gate["passed"]:
        return "bad"
    return rate_level(rate)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_report(report: dict[str, Any]) -> str:
    title = f"{report['spec']} / {report['eval']}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)} – ftspec eval</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<div class='meta'>model <code>{escape(report['model'])}</code>",
        f" · baseline <code>{escape(report['baseline_model'])}</code>" if report.get("baseline_model") else "",
        f" · sampling <code>{escape(json.dumps(report.get('sampling') or {}, ensure_ascii=False))}</code>",
        f" · matrix <code>{escape(json.dumps(report['matrix'], ensure_ascii=False))}</code>" if report.get("matrix") else "",
        "</div>",
        "".join(f"<p class='warn'>warning: {escape(w)}</p>" for w in report.get("warnings") or []),
        _summary(report),
        _parity(report),
        _histogram(report),
        _loss_curve(report.get("training") or []),
        _cases(report),
        f"<script>{JS}</script></body></html>",
    ]
    return "".join(parts) + "\n"


def _summary(report: dict[str, Any]) -> str:
    s = report["summary"]
    gate = s.get("gate")
    cards = [
        ("pass rate", _pct(s["pass_rate"]), _rate_class(s["pass_rate"], gate)),
        ("passed", str(s["passed"]), "ok"), ("failed", str(s["failed"]), "bad"), ("errored", str(s["errored"]), "err"),
        ("cases", str(s["cases"]), ""), ("mean score", _num(s.get("mean_score")), ""),
    ]
    preference = report.get("preference")
    if preference and preference.get("win_rate") is not None:
        cards.append((f"win rate vs {preference['against']}", f"{_pct(preference['win_rate'])} "
                      f"({preference['wins']}-{preference['losses']}-{preference['ties']})",
                      "ok" if preference["win_rate"] > 0.5 else ("bad" if preference["win_rate"] < 0.5 else "")))
    if gate:
        cards.append(("gate", f"{'pass' if gate['passed'] else 'FAIL'} (≥ {_pct(gate['min_pass_rate'])})",
                      "ok" if gate["passed"] else "bad"))
    compared = base_vs_tuned(s)
    if compared is not None:
        cards.append(("base model pass rate", _pct(compared["base"]["pass_rate"]),
                      rate_level(compared["base"]["pass_rate"])))
        lift = compared["lift_points"]
        cards.append(("lift over base", f"{lift:+.1f} points", "ok" if lift > 0 else ("bad" if lift < 0 else "")))
    elif s.get("baseline"):
        cards.append(("baseline pass rate", _pct(s["baseline"]["pass_rate"]), rate_level(s["baseline"]["pass_rate"])))
    html = ["<section id='summary'><h2>Summary</h2><div class='cards'>"]
    html += [f"<div class='card'><span class='small'>{escape(k)}</span><b class='{c}'>{escape(v)}</b></div>"
             for k, v, c in cards]
    html.append("</div><h2>Scorers</h2><table><thead><tr><th>scorer</th><th>weight</th><th>mean score</th>")
    if s.get("baseline"):
        html.append("<th>baseline mean</th>")
    html.append("</tr></thead><tbody>")
    for scorer in report["scorers"]:
        sid = scorer["id"]
        html.append(f"<tr><td>{escape(sid)} <span class='small'>{escape(json.dumps(scorer['options'], ensure_ascii=False))}</span></td>"
                    f"<td>{scorer['weight']:g}</td><td class='score'>{_num(s['scores'].get(sid))}</td>")
        if s.get("baseline"):
            html.append(f"<td class='score'>{_num(s['baseline']['scores'].get(sid))}</td>")
        html.append("</tr>")
    html.append("</tbody></table>")
    if s.get("variants"):
        html.append("<h2>Sampling variants</h2><table><thead><tr><th>variant</th><th>pass rate</th><th>passed</th>"
                    "<th>failed</th><th>errored</th></tr></thead><tbody>")
        for label, v in s["variants"].items():
            html.append(f"<tr><td>{escape(label)}</td><td>{_pct(v['pass_rate'])}</td><td>{v['passed']}</td>"
                        f"<td>{v['failed']}</td><td>{v['errored']}</td></tr>")
        html.append("</tbody></table>")
    html.append("</section>")
    return "".join(html)


def _parity(report: dict[str, Any]) -> str:
    """Old (the baseline: recorded answers, or a baseline model) against new, the same verdicts
    as ``ftspec diff`` (``ftspec.evals.parity``): pass rate, mean score, the cases that got worse,
    and every case side by side."""
    s = report["summary"]
    p, base = s.get("parity"), s.get("baseline") or {}
    if not p:
        return ""
    from ftspec.evals.parity import parity

    recorded = base.get("recorded_on")
    title = (f"Parity with the recorded baseline (recorded {escape(recorded)})" if recorded
             else "Parity with the baseline model")
    rows = parity(report["cases"], report["cases"], old_key="baseline")["cases"]
    html = [f"<section id='parity'><h2>{title}</h2>",
            f"<p class='small'>old: <code>{escape(report.get('baseline_model') or '')}</code>"
            + (" (answers frozen by <code>ftspec eval --record-baseline</code>; the old model is not called)"
               if recorded else "") + f" · new: <code>{escape(report['model'])}</code> · {p['compared']} cases compared</p>",
            "<table id='parity-summary'><thead><tr><th></th><th>old</th><th>new</th></tr></thead><tbody>",
            f"<tr><td>pass rate</td><td class='{rate_level(p['old']['pass_rate'])}'>{_pct(p['old']['pass_rate'])}</td>"
            f"<td class='{rate_level(p['new']['pass_rate'])}'>{_pct(p['new']['pass_rate'])}</td></tr>",
            f"<tr><td>lift</td><td></td><td>{lift_points(p['old']['pass_rate'], p['new']['pass_rate']):+.1f} points</td></tr>",
            f"<tr><td>mean score</td><td class='score'>{_num(p['old']['mean_score'])}</td>"
            f"<td class='score'>{_num(p['new']['mean_score'])}</td></tr>",
            f"<tr><td>cases worse</td><td></td><td class='{'bad' if p['worse'] else 'ok'}'>{len(p['worse'])}"
            f"{': ' + escape(', '.join(p['worse'])) if p['worse'] else ''}</td></tr>",
            f"<tr><td>cases better</td><td></td><td class='{'ok' if p['better'] else ''}'>{len(p['better'])}"
            f"{': ' + escape(', '.join(p['better'])) if p['better'] else ''}</td></tr></tbody></table>",
            "<table id='parity-cases'><thead><tr><th>case</th><th>change</th><th>old</th><th>new</th></tr></thead><tbody>"]
    marks = {"regressed": "bad", "improved": "ok", "same": ""}
    for row in rows:
        cells = []
        for side in ("old", "new"):
            state = row[side]
            said = "\n---\n".join(state["outputs"]) or state.get("error") or ""
            cells.append(f"<td><span class='{_cls(state['status'])}'>{state['status']}</span> "
                         f"<span class='score'>{state['score']:.3f}</span><pre>{escape(said)}</pre></td>")
        html.append(f"<tr class='parity-{row['change']}'><td><b>{escape(row['id'])}</b></td>"
                    f"<td class='{marks[row['change']]}'>{row['change']}"
                    f"{'<br><span class=small>' + escape(row['reason']) + '</span>' if row['reason'] else ''}</td>"
                    + "".join(cells) + "</tr>")
    html.append("</tbody></table></section>")
    return "".join(html)


def _histogram(report: dict[str, Any]) -> str:
    """Similarity scores (seed 003's picture) with the threshold line; else overall scores."""
    sim = next((sc for sc in report["scorers"] if sc["name"] == "similarity"), None)
    values, threshold, what = [], None, "case score"
    for case in report["cases"]:
        for run in case["results"]:
            if sim and sim["id"] in run["scores"]:
                values.append(run["scores"][sim["id"]]["score"])
            elif not sim and run["scores"]:
                values.append(run["score"])
    if sim:
        threshold, what = float(sim["options"]["threshold"]), "similarity to the ideal"
    bins = 20
    low = min([0.0] + values + ([threshold] if threshold is not None else []))
    low = -1.0 if low < 0 else 0.0
    width, height, pad = 560, 200, 30
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - low) / (1.0 - low) * bins)))] += 1
    top = max(counts) or 1
    bar_w = (width - 2 * pad) / bins
    svg = [f"<svg id='histogram-svg' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 30}' role='img' aria-label='histogram of {escape(what)}'>"]
    for i, count in enumerate(counts):
        h = (height - pad) * count / top
        x = pad + i * bar_w
        start = low + i * (1.0 - low) / bins
        colour = "#b3261e" if threshold is not None and start + (1.0 - low) / bins <= threshold else "#1d4ed8"
        svg.append(f"<rect class='bar' x='{x:.1f}' y='{height - h:.1f}' width='{bar_w - 2:.1f}' height='{h:.1f}' fill='{colour}'>"
                   f"<title>{start:.2f}–{start + (1.0 - low) / bins:.2f}: {count}</title></rect>")
    svg.append(f"<line x1='{pad}' y1='{height}' x2='{width - pad}' y2='{height}' stroke='#5b6475'/>")
    for tick in (low, (low + 1) / 2, 1.0):
        x = pad + (tick - low) / (1.0 - low) * (width - 2 * pad)
        svg.append(f"<text x='{x:.1f}' y='{height + 16}' font-size='11' text-anchor='middle'>{tick:.1f}</text>")
    if threshold is not None:
        x = pad + (threshold - low) / (1.0 - low) * (width - 2 * pad)
        svg.append(f"<line id='threshold' x1='{x:.1f}' y1='10' x2='{x:.1f}' y2='{height}' stroke='#b3261e' stroke-dasharray='4 3' stroke-width='2'/>"
                   f"<text x='{x + 4:.1f}' y='20' font-size='11' fill='#b3261e'>threshold {threshold:g}</text>")
    svg.append("</svg>")
    return (f"<section id='histogram'><h2>Histogram: {escape(what)}</h2>"
            f"<p class='small'>{len(values)} outputs; bars left of the threshold fail.</p>{''.join(svg)}</section>")


def _loss_curve(points: list[dict[str, Any]]) -> str:
    losses = [p[k] for p in points for k in ("train_loss", "valid_loss") if k in p]
    if not losses:  # none recorded, or progress only (Fireworks reports percent done, no loss)
        return "<section id='loss-curve'><h2>Training loss</h2><p class='small'>no training metrics recorded for this model</p></section>"
    width, height, pad = 560, 200, 34
    lo, hi = min(losses), max(losses)
    hi = hi if hi > lo else lo + 1.0
    s0, s1 = points[0]["step"], max(points[-1]["step"], points[0]["step"] + 1)

    def xy(step: float, loss: float) -> str:
        x = pad + (step - s0) / (s1 - s0) * (width - 2 * pad)
        y = height - pad - (loss - lo) / (hi - lo) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    svg = [f"<svg id='loss-svg' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"]
    for key, colour in (("train_loss", "#1d4ed8"), ("valid_loss", "#b3261e")):
        line = " ".join(xy(p["step"], p[key]) for p in points if key in p)
        if line:
            svg.append(f"<polyline class='{key}' fill='none' stroke='{colour}' stroke-width='2' points='{line}'><title>{key}</title></polyline>")
    svg.append(f"<text x='{pad}' y='14' font-size='11'>{hi:.3f}</text><text x='{pad}' y='{height - 6}' font-size='11'>"
               f"{lo:.3f} · steps {s0}–{points[-1]['step']} · <tspan fill='#1d4ed8'>train</tspan> <tspan fill='#b3261e'>valid</tspan></text></svg>")
    return f"<section id='loss-curve'><h2>Training loss</h2>{''.join(svg)}</section>"


def _sort_key(case: dict[str, Any]) -> tuple:
    statuses = [r["status"] for r in case["results"]] or ["errored"]
    worst = min(STATUS_ORDER[s] for s in statuses)
    score = min((r["score"] for r in case["results"]), default=0.0)
    return (worst, score, case["id"])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n— or —\n".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return str(value)


def _cases(report: dict[str, Any]) -> str:
    cases = sorted(report["cases"], key=_sort_key)
    tags = sorted({t for c in cases for t in c.get("tags") or []})
    has_base = any(c.get("baseline") for c in cases)
    html = ["<section id='cases-section'><h2>Cases (failing and lowest-scoring first)</h2><div class='filters'>",
            "<button class='on' data-kind='status' data-value=''>all</button>",
            "<button data-kind='status' data-value='notpassed'>failing</button>"]
    if tags:
        html.append(" · tags: <button class='on' data-kind='tag' data-value=''>any</button>")
        html += [f"<button data-kind='tag' data-value='{escape(t)}'>{escape(t)}</button>" for t in tags]
    html.append(f"</div><p class='small'><span id='shown'>{len(cases)}</span> of {len(cases)} cases shown</p>")
    html.append("<table id='cases'><thead><tr><th>case</th><th>input</th><th>ideal</th><th>output</th>")
    if has_base:
        html.append(f"<th>baseline ({escape(report.get('baseline_model') or '')})</th>")
    html.append("<th>scores</th></tr></thead><tbody>")
    for case in cases:
        status = min((r["status"] for r in case["results"]), key=lambda s: STATUS_ORDER[s], default="errored")
        tag_html = "".join(f"<span class='tag'>{escape(t)}</span>" for t in case.get("tags") or [])
        html.append(f"<tr class='{status}' data-status='{status}' data-tags='{escape(' '.join(case.get('tags') or []))}'>"
                    f"<td><b>{escape(case['id'])}</b><br><span class='{_cls(status)}'>{status}</span><br>{tag_html}</td>"
                    f"<td><pre>{escape(case.get('input_text') or _text(case.get('input')))}</pre></td>"
                    f"<td><pre>{escape(_text(case.get('ideal')))}</pre></td>"
                    f"<td>{_outputs(case['results'])}</td>")
        if has_base:
            html.append(f"<td>{_outputs(case.get('baseline') or [])}</td>")
        html.append(f"<td>{_scores(case['results'])}</td></tr>")
    html.append("</tbody></table></section>")
    return "".join(html)


def _cls(status: str) -> str:
    return {"passed": "ok", "failed": "bad", "errored": "err"}[status]


def _outputs(runs: list[dict[str, Any]]) -> str:
    out = []
    for run in runs:
        label = "" if run["variant"] == "default" else f"<div class='small'>{escape(run['variant'])}</div>"
        body = "\n---\n".join(run["outputs"]) if run["outputs"] else ""
        error = f"<div class='err'>{escape(run['error'])}</div>" if run.get("error") else ""
        out.append(f"{label}<pre class='output'>{escape(body)}</pre>{error}")
    return "".join(out)


def _scores(runs: list[dict[str, Any]]) -> str:
    out = []
    for run in runs:
        lines = []
        for sid, s in run["scores"].items():
            mark = "✓" if s["passed"] else "✗"
            extra = ""
            detail = s.get("detail") or {}
            if "reasoning" in detail:
                extra = f"<div class='small'>judge: {escape(detail['reasoning'])}</div>"
            elif "missing" in detail:
                extra = f"<div class='small'>missing: {escape(', '.join(detail['missing']))}</div>"
            elif "reason" in detail:
                extra = f"<div class='small'>{escape(detail['reason'])}</div>"
            lines.append(f"<div class='score'>{mark} {escape(sid)} {s['score']:.3f}</div>{extra}")
        out.append("".join(lines))
    return "<hr>".join(out)
