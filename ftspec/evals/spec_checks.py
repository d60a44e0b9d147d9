"""Load-time checks of the spec's ``evals:`` section that JSON Schema cannot express."""

from __future__ import annotations

from ftspec.errors import Problem
from ftspec.util import is_file, path_problem


def eval_problems(spec, check_files: bool) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, ev in enumerate(spec.evals):
        if ev["name"] in seen:
            problems.append(spec.problem(("evals", index, "name"), f"duplicate eval name '{ev['name']}'"))
        seen.add(ev["name"])
        cases = ev["cases"]
        if isinstance(cases, str) and path_problem(cases):
            problems.append(spec.problem(("evals", index, "cases"), path_problem(cases) or ""))
        elif check_files and isinstance(cases, str) and not is_file(spec.resolve(cases)):
            where = ("evals", index, "cases")
            problems.append(spec.problem(where, f"file not found: {spec.as_written(where, cases)}"))
        elif check_files or not isinstance(cases, str):
            problems += _case_problems(spec, index)
    return problems + _scorer_problems(spec) + _baseline_problems(spec, check_files)


def _baseline_problems(spec, check_files: bool) -> list[Problem]:
    """``baseline:`` names a recorded baseline file that exists and parses."""
    from ftspec.evals.baseline import BaselineError, load_baseline

    path = spec.baseline
    if path is None or not check_files:
        return []
    if path_problem(str(spec.raw["baseline"])):
        return [spec.problem(("baseline",), path_problem(str(spec.raw["baseline"])) or "")]
    if not is_file(path):
        return [spec.problem(("baseline",), f"baseline file not found: {spec.raw['baseline']} "
                                            "(record it with: ftspec eval OLD_SPEC --record-baseline)")]
    try:
        load_baseline(path)
    except BaselineError as exc:
        return [spec.problem(("baseline",), exc.message)]
    return []


def _scorer_problems(spec) -> list[Problem]:
    from ftspec.evals.runner import scorer_problems

    return scorer_problems(spec)


def _case_problems(spec, index: int) -> list[Problem]:
    """Cases without input, bad case keys, and scorers needing fields a case lacks."""
    from ftspec.evals.cases import CaseError, load_cases
    from ftspec.evals.runner import build_scorers, field_problems
    from ftspec.evals.scorers import ScoreContext

    try:
        cases = load_cases(spec, index)
    except CaseError as exc:
        return list(exc.problems)
    return field_problems(cases, build_scorers(spec, index, ScoreContext(spec=spec)))
