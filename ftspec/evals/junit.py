"""JUnit XML from eval reports (``ftspec eval --junit PATH``), so any CI lists eval cases as tests.

One ``<testsuite>`` per eval set, one ``<testcase>`` per eval case (``classname`` is
``<spec>.<eval>``, ``name`` the case id). A case whose runs (one per sampling variant) all
passed is a pass; a failed run is a ``<failure>`` whose message names each failing scorer and
why; a run that errored (the model call or a scorer failed) is an ``<error>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ftspec.util import atomic_write_text


def junit_xml(reports: list[dict[str, Any]]) -> str:
    """The JUnit document for these eval reports (``reports/<spec>/<eval>.json`` contents)."""
    root = ET.Element("testsuites", name="ftspec eval")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for report in reports:
        suite = _suite(report)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(report: dict[str, Any]) -> ET.Element:
    classname = f"{report['spec']}.{report['eval']}"
    suite = ET.Element("testsuite", name=classname)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="model", value=str(report.get("model") or ""))
    counts = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for case in report.get("cases") or []:
        runs = case.get("results") or []
        elapsed = sum(float(r.get("latency_s") or 0.0) for r in runs)
        seconds += elapsed
        test = ET.SubElement(suite, "testcase", classname=classname, name=str(case["id"]), time=f"{elapsed:.3f}")
        counts["tests"] += 1
        errored = [r for r in runs if r.get("status") == "errored"]
        failed = [r for r in runs if r.get("status") == "failed"]
        if errored:
            counts["errors"] += 1
            _outcome(test, "error", errored, len(runs))
        elif failed or not runs:
            counts["failures"] += 1
            _outcome(test, "failure", failed, len(runs))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{seconds:.3f}")
    return suite


def _outcome(test: ET.Element, tag: str, runs: list[dict[str, Any]], total: int) -> None:
    reasons = [_run_reason(r, total) for r in runs] or ["no result for this case"]
    element = ET.SubElement(test, tag, message=reasons[0], type=f"ftspec.{tag}")
    element.text = "\n".join(reasons + [f"output: {o}" for r in runs for o in r.get("outputs") or []])


def _run_reason(run: dict[str, Any], total: int) -> str:
    variant = f"[{run['variant']}] " if total > 1 and run.get("variant") else ""
    if run.get("status") == "errored":
        return variant + str(run.get("error") or "errored")
    parts = [f"{label}: {_detail(score)}" for label, score in (run.get("scores") or {}).items()
             if not score.get("passed")]
    return variant + ("; ".join(parts) or "failed")


def _detail(score: dict[str, Any]) -> str:
    detail = score.get("detail") or {}
    if "reason" in detail:
        return str(detail["reason"])
    if detail:
        return ", ".join(f"{k} {json.dumps(v, ensure_ascii=False)}" for k, v in detail.items())
    return f"score {score.get('score')}"


def write_junit(path: Path, report_paths: list[Path]) -> None:
    """Read the eval reports just written and write their JUnit XML to ``path`` atomically."""
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in report_paths]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, junit_xml(reports))
