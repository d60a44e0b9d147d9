"""Load-time checks of the spec's ``evals:`` section that JSON Schema cannot express."""

from __future__ import annotations

from ftspec.errors import Problem


def eval_problems(spec, check_files: bool) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, ev in enumerate(spec.evals):
        if ev["name"] in seen:
            problems.append(spec.problem(("evals", index, "name"), f"duplicate eval name '{ev['name']}'"))
        seen.add(ev["name"])
        cases = ev["cases"]
        if check_files and isinstance(cases, str) and not spec.resolve(cases).is_file():
            problems.append(spec.problem(("evals", index, "cases"), f"file not found: {cases}"))
    return problems
