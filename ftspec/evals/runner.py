"""Run one eval set: cases x sampling variants (x baseline) -> generations -> scores -> reports.

Contract with the build graph:

* ``eval_task_key(spec, eval_cfg, model_id)``: changes exactly when the results could change
  (model id, case contents, sampling/matrix, scorers and the files they read, baseline, the
  template that shapes prompts).
* ``run_eval_set(spec, eval_cfg, model_id, provider, project_root=...)`` writes
  ``reports/<spec>/<eval>.json`` and ``.html`` and returns the summary kept in the lockfile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError, Problem
from ftspec.evals.cache import EvalCache
from ftspec.evals.cases import Case, CaseError, load_cases
from ftspec.evals.generate import GenerationFailed, Generator
from ftspec.evals.sampling import DEFAULT_MAX_TOKENS, Variant, matrix_warnings, stop_list, variants
from ftspec.evals.scorers import SCORERS, Score, ScoreContext, Scorer, scorer_label
from ftspec.util import atomic_write_json, atomic_write_text, sha256_file, sha256_obj

log = logging.getLogger("ftspec.evals")
REPORT_VERSION = 1
DEFAULT_CONCURRENCY = 4


def find_eval(spec, eval_cfg: dict[str, Any] | str) -> int:
    name = eval_cfg if isinstance(eval_cfg, str) else eval_cfg["name"]
    for index, ev in enumerate(spec.evals):
        if ev["name"] == name:
            return index
    from ftspec.errors import did_you_mean

    names = [ev["name"] for ev in spec.evals]
    raise EvalError(f"{spec.path.name}: no eval named '{name}'{did_you_mean(name, names)}; "
                    f"known: {', '.join(names) or '(none)'}")


def build_scorers(spec, index: int, context: ScoreContext) -> list[tuple[str, Scorer]]:
    configs = spec.evals[index]["scorers"]
    out = []
    for i, config in enumerate(configs):
        (name, options), = config.items()
        scorer = SCORERS.get(name)(options or {}, context)
        scorer.name = name
        out.append((scorer_label(configs, i), scorer))
    return out


def scorer_problems(spec) -> list[Problem]:
    """Load-time checks of every scorer's options (used by ``spec_checks``)."""
    problems: list[Problem] = []
    for index, ev in enumerate(spec.evals):
        for i, config in enumerate(ev["scorers"]):
            (name, options), = config.items()
            if name in SCORERS:
                problems += SCORERS.get(name).problems(options or {}, spec, ("evals", index, "scorers", i, name))
    return problems


def field_problems(cases: list[Case], scorers: list[tuple[str, Scorer]]) -> list[Problem]:
    """A scorer that reads a case field the case lacks: located at the case, naming it."""
    problems = []
    for case in cases:
        for label, scorer in scorers:
            for name in scorer.needed_fields():
                if case.get(name) in (None, "", []):
                    problems.append(Problem(
                        case.location, f"case '{case.id}': scorer '{label}' needs field '{name}', which the case lacks"))
            problems += [Problem(case.location, f"case '{case.id}': scorer '{label}': {message}")
                         for message in scorer.case_problems(case)]
    return problems


def baseline_model(spec, eval_cfg: dict[str, Any]) -> str | None:
    baseline = eval_cfg.get("baseline")
    if baseline is True:
        return spec.base_model
    return baseline or None


def recorded_baseline(spec, eval_cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The spec's recorded baseline (``baseline:``) for a set that names no baseline model."""
    if baseline_model(spec, eval_cfg) or spec.baseline is None:
        return None
    from ftspec.evals.baseline import load_baseline

    return load_baseline(spec.baseline)


def eval_task_key(spec, eval_cfg: dict[str, Any], model_id: str) -> str:
    index = find_eval(spec, eval_cfg)
    eval_cfg = spec.evals[index]
    cases = load_cases(spec, index)
    context = ScoreContext(spec=spec)
    scorers = build_scorers(spec, index, context)
    return sha256_obj({
        "version": REPORT_VERSION,
        "model": model_id,
        "provider": spec.provider,
        "template": spec.template,
        "cases": [[c.id, c.data] for c in cases],
        "sampling": eval_cfg.get("sampling") or {},
        "matrix": eval_cfg.get("matrix") or {},
        "scorers": [[label, s.options, s.fingerprint()] for label, s in scorers],
        "baseline": baseline_model(spec, eval_cfg),
        "recorded_baseline": sha256_file(spec.baseline) if recorded_baseline(spec, eval_cfg) else None,
        "min_pass_rate": eval_cfg.get("min_pass_rate"),
    })


def report_paths(project_root: Path, spec_name: str, eval_name: str) -> tuple[Path, Path]:
    folder = Path(project_root) / "reports" / spec_name
    return folder / f"{eval_name}.json", folder / f"{eval_name}.html"


@dataclass
class _Run:
    case: Case
    variant: Variant
    role: str  # "model" | "baseline"
    model: str
    request: Any
    result: Any = None
    outputs: list[str] = field(default_factory=list)
    scores: dict[str, Score] = field(default_factory=dict)
    error: str | None = None
    recorded: bool = False  # a recorded baseline's answer: scored again, never generated


class EvalRun:
    """One eval set against one model; ``run()`` returns the summary for the lockfile."""

    def __init__(self, spec, eval_cfg, model_id: str, provider, *, project_root: Path,
                 events=None, progress=None, report_name: str | None = None) -> None:
        self.spec = spec
        self.report_name = report_name or spec.name  # reports/<report_name>/<eval>.json
        self.index = find_eval(spec, eval_cfg)
        self.cfg = spec.evals[self.index]
        self.model_id = model_id
        self.provider = provider
        self.project_root = Path(project_root)
        self.events = events or []
        self.progress = progress
        self.new_generations = 0
        self.warnings = matrix_warnings(self.cfg)
        self.recorded = recorded_baseline(spec, self.cfg)
        self.baseline = baseline_model(spec, self.cfg) or (self.recorded or {}).get("model")

    def run(self) -> dict[str, Any]:
        for warning in self.warnings:
            log.warning(warning)
        cases = load_cases(self.spec, self.index)
        with EvalCache.for_project(self.project_root) as cache:
            generator = Generator(cache, self.progress)
            context = ScoreContext(spec=self.spec, provider=self.provider, project_root=self.project_root,
                                   generate=generator.one, embed=_embedder(cache))
            try:
                scorers = build_scorers(self.spec, self.index, context)
                problems = field_problems(cases, scorers)
                if problems:
                    raise CaseError(problems)
                runs = self._plan(cases)
                self._generate(generator, runs)
                self._score(scorers, runs)
            finally:
                context.close()
            self.new_generations = generator.new_generations
        return self._write(cases, scorers, runs)

    # ---- generation ------------------------------------------------------------------------
    def _plan(self, cases: list[Case]) -> list[_Run]:
        from ftspec.data.templates import TemplateError, get_template

        template = get_template(self.spec)
        models = [("model", self.model_id)]
        if baseline_model(self.spec, self.cfg):
            models.append(("baseline", baseline_model(self.spec, self.cfg)))
        recorded = None
        if self.recorded is not None:
            from ftspec.evals.baseline import recorded_runs

            recorded = recorded_runs(self.recorded, self.cfg["name"])
        runs, problems = [], []
        for case in cases:
            try:
                payload = template.prompt_for(messages=case.messages, prompt=case.prompt)
            except TemplateError as exc:
                problems.append(Problem(case.location, f"case '{case.id}': {exc}"))
                continue
            for variant in variants(self.cfg):
                for role, model in models:
                    request = eval_request(template, payload, model, variant.sampling)
                    runs.append(_Run(case, variant, role, model, request))
                if recorded is not None and (case.id, variant.label) in recorded:
                    runs.append(_recorded_run(case, variant, self.recorded["model"], recorded[(case.id, variant.label)]))
        if problems:
            raise CaseError(problems)
        return runs

    def _generate(self, generator: Generator, runs: list[_Run]) -> None:
        concurrency = int(self.cfg.get("concurrency", DEFAULT_CONCURRENCY))
        runs = [r for r in runs if not r.recorded]
        results = generator.many(self.provider, [r.request for r in runs], concurrency=concurrency)
        for run, result in zip(runs, results, strict=True):
            if isinstance(result, GenerationFailed):
                run.error = f"generation failed: {result}"
                continue
            run.result = result
            run.outputs = [clean_output(text, run.request.stop or []) for text in result.choices]
            if not run.outputs:
                run.error = "the provider returned no output"

    # ---- scoring ---------------------------------------------------------------------------
    def _score(self, scorers: list[tuple[str, Scorer]], runs: list[_Run]) -> None:
        scored = [r for r in runs if r.error is None]
        for label, scorer in scorers:
            items = [(out, r.case) for r in scored for out in r.outputs]
            scores = scorer.score_many(items) if items else []
            position = 0
            for run in scored:
                mine = scores[position:position + len(run.outputs)]
                position += len(run.outputs)
                run.scores[label] = _combine(mine)

    # ---- reports ---------------------------------------------------------------------------
    def _write(self, cases: list[Case], scorers, runs: list[_Run]) -> dict[str, Any]:
        from ftspec.evals.report_html import render_report

        weights = {label: s.weight for label, s in scorers}
        by_case: dict[str, list[_Run]] = {}
        for run in runs:
            by_case.setdefault(run.case.id, []).append(run)
        case_rows = [case_row(c, by_case.get(c.id, []), weights) for c in cases]
        model_runs = [row for c in case_rows for row in c["results"]]
        summary = _summary(model_runs, weights, len(cases), self.model_id)
        if len(variants(self.cfg)) > 1:
            summary["variants"] = {
                v.label: _counts([r for r in model_runs if r["variant"] == v.label]) for v in variants(self.cfg)}
        baseline = self.baseline
        if baseline:
            from ftspec.evals.parity import parity

            base_runs = [row for c in case_rows for row in c.get("baseline", [])]
            summary["baseline"] = _summary(base_runs, weights, len(cases), baseline)
            if self.recorded is not None:
                summary["baseline"]["recorded_on"] = self.recorded.get("recorded_on")
            compared = parity(case_rows, case_rows, old_key="baseline")
            summary["parity"] = {k: compared[k] for k in ("compared", "old", "new", "worse", "better")}
        if "min_pass_rate" in self.cfg:
            summary["gate"] = {"min_pass_rate": self.cfg["min_pass_rate"],
                               "passed": summary["pass_rate"] >= self.cfg["min_pass_rate"]}
        report = {
            "ftspec_report": REPORT_VERSION,
            "spec": self.spec.name,
            "eval": self.cfg["name"],
            "description": self.cfg.get("description", ""),
            "model": self.model_id,
            "baseline_model": baseline,
            "sampling": self.cfg.get("sampling") or {},
            "matrix": self.cfg.get("matrix") or {},
            "variants": [v.label for v in variants(self.cfg)],
            "scorers": [{"id": label, "name": s.name, "options": s.options, "weight": s.weight}
                        for label, s in scorers],
            "warnings": self.warnings,
            "summary": summary,
            "training": training_curve(self.events),
            "cases": case_rows,
        }
        from ftspec.evals.pairs import eval_preference

        preference = eval_preference(self.project_root, self.spec.name, self.cfg["name"], self.model_id)
        if preference is not None:  # people's choices on the compare pairs (ftspec eval --compare)
            report["preference"] = preference
        json_path, html_path = report_paths(self.project_root, self.report_name, self.cfg["name"])
        atomic_write_json(json_path, report)
        atomic_write_text(html_path, render_report(report))
        summary = dict(summary)
        summary["report"] = json_path.relative_to(self.project_root).as_posix()
        summary["report_sha256"] = sha256_file(json_path)
        return summary


def run_eval_set(spec, eval_cfg, model_id: str, provider, *, project_root, events=None,
                 progress=None, report_name: str | None = None) -> dict[str, Any]:
    """Run one eval set; write its JSON and HTML reports (under ``reports/<report_name or spec
    name>/``); return the lockfile summary."""
    return EvalRun(spec, eval_cfg, model_id, provider, project_root=Path(project_root),
                   events=events, progress=progress, report_name=report_name).run()


def gate_failures(spec_name: str, summaries: dict[str, dict[str, Any]]) -> list[str]:
    """One line per eval whose pass rate is below its ``min_pass_rate``."""
    out = []
    for name, summary in sorted(summaries.items()):
        gate = summary.get("gate")
        if gate and not gate["passed"]:
            out.append(f"{spec_name}: eval '{name}': pass rate {summary['pass_rate']:.1%} is below "
                       f"min_pass_rate {gate['min_pass_rate']:.1%}")
    return out


# ---- helpers ---------------------------------------------------------------------------------


def eval_request(template, payload, model: str, sampling: dict[str, Any]):
    """The ``ChatRequest`` an eval sends for one case (``ftspec serve`` builds requests with it too)."""
    from ftspec.providers.base import ChatRequest

    stop = stop_list(sampling.get("stop"))
    if template.kind == "completion":
        stop = list(dict.fromkeys((stop or []) + list(template.stop or [])))
    common = dict(
        model=model, n=int(sampling.get("n", 1)), temperature=sampling.get("temperature"),
        top_p=sampling.get("top_p"), frequency_penalty=sampling.get("frequency_penalty"),
        presence_penalty=sampling.get("presence_penalty"),
        max_tokens=int(sampling.get("max_tokens", DEFAULT_MAX_TOKENS)), stop=stop, seed=sampling.get("seed"),
    )
    if template.kind == "completion":
        return ChatRequest(prompt=payload, **common)
    return ChatRequest(messages=payload, **common)


def _recorded_run(case: Case, variant: Variant, model: str, row: dict[str, Any]) -> _Run:
    """A baseline run from the recorded file: its outputs are scored by this spec's scorers."""
    run = _Run(case, variant, "baseline", model, None, recorded=True)
    run.outputs = list(row.get("outputs") or [])
    if not run.outputs:
        run.error = row.get("error") or "the recorded baseline has no output for this case"
    return run


def clean_output(text: str, stops: list[str]) -> str:
    """Cut at the first stop sequence (some backends include it) and trim whitespace."""
    for stop in stops:
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text.strip()


def _combine(scores: list[Score]) -> Score:
    """n samples: the mean score; the scorer passes only when every sample passes."""
    if len(scores) == 1:
        return scores[0]
    errors = [s.error for s in scores if s.error]
    failing = next((s for s in scores if not s.passed), scores[0])
    return Score(sum(s.score for s in scores) / len(scores), all(s.passed for s in scores),
                 dict(failing.detail), errors[0] if errors else None)


def _run_row(run: _Run, weights: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {"variant": run.variant.label, "model": run.model, "outputs": run.outputs}
    if run.recorded:
        row["recorded"] = True
    errors = [f"{label}: {s.error}" for label, s in run.scores.items() if s.error]
    if run.error:
        errors.insert(0, run.error)
    total = sum(weights.values()) or 1.0
    row["score"] = round(sum(weights[k] * s.score for k, s in run.scores.items()) / total, 6) if run.scores else 0.0
    row["scores"] = {label: s.to_json() for label, s in run.scores.items()}
    row["status"] = "errored" if errors else ("passed" if all(s.passed for s in run.scores.values()) else "failed")
    if errors:
        row["error"] = "; ".join(errors)
    if run.result is not None:
        row["tokens"] = {"prompt": run.result.prompt_tokens, "completion": run.result.completion_tokens}
        row["latency_s"] = round(float(run.result.latency_s), 3)
    return row


def case_row(case: Case, runs: list[_Run], weights: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": case.id, "input": case.messages if case.messages is not None else case.prompt,
                           "input_text": case.input_text(), "ideal": case.ideal, "tags": case.tags}
    row.update({k: v for k, v in case.data.items() if k not in ("id", "messages", "prompt", "ideal", "tags")})
    row["results"] = [_run_row(r, weights) for r in runs if r.role == "model"]
    base = [_run_row(r, weights) for r in runs if r.role == "baseline"]
    if base:
        row["baseline"] = base
    return row


def _counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(r["status"] == "passed" for r in rows)
    errored = sum(r["status"] == "errored" for r in rows)
    return {"passed": passed, "failed": len(rows) - passed - errored, "errored": errored,
            "pass_rate": round(passed / len(rows), 4) if rows else 0.0}


def _summary(rows: list[dict[str, Any]], weights: dict[str, float], n_cases: int, model: str) -> dict[str, Any]:
    out = {"model": model, "cases": n_cases, "runs": len(rows), **_counts(rows)}
    means = {}
    for label in weights:
        values = [r["scores"][label]["score"] for r in rows if label in r["scores"]]
        means[label] = round(sum(values) / len(values), 4) if values else None
    out["scores"] = means
    scored = [r["score"] for r in rows if r["scores"]]
    out["mean_score"] = round(sum(scored) / len(scored), 4) if scored else None
    return out


def training_curve(events) -> list[dict[str, Any]]:
    """``[{step, train_loss, valid_loss?}]`` from the job's metrics events, by step."""
    points = {}
    for event in events or []:
        kind = event.get("type") if isinstance(event, dict) else event.type
        data = event.get("data") if isinstance(event, dict) else event.data
        if kind != "metrics" or not data or "step" not in data:
            continue
        point = {"step": int(data["step"])}
        for key in ("train_loss", "valid_loss"):
            if data.get(key) is not None:
                point[key] = round(float(data[key]), 6)
        points[point["step"]] = point
    return [points[s] for s in sorted(points)]


def _embedder(cache: EvalCache):
    """Embeddings through the cache: only texts never embedded by this embedder are sent."""

    def embed(label: str, provider, model: str | None, texts: list[str]) -> list[list[float]]:
        key = f"{label}|{model or ''}"
        found = cache.get_embeddings(key, texts)
        missing = list(dict.fromkeys(t for t, v in zip(texts, found, strict=True) if v is None))
        if missing:
            vectors = provider.embed(missing, model=model)
            if len(vectors) != len(missing):
                raise EvalError(f"embedder '{label}' returned {len(vectors)} vectors for {len(missing)} texts")
            cache.put_embeddings(key, missing, vectors)
            fresh = dict(zip(missing, vectors, strict=True))
            found = [v if v is not None else fresh[t] for t, v in zip(texts, found, strict=True)]
        return found

    return embed
