"""Eval cases: read from JSONL, YAML or CSV files, or written inline in the spec.

Every case keeps where it came from (``file:LINE``) so a bad case, or a scorer that needs a
field the case lacks, is reported at the case itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError, Location, Problem, ProblemsError
from ftspec.util import sha256_obj

CASE_KEYS = ("id", "messages", "prompt", "ideal", "must_include", "must_not_include", "regex",
             "json_schema", "tags")
LIST_FIELDS = ("must_include", "must_not_include", "tags")


class CaseError(ProblemsError, EvalError):
    """One or more eval cases are invalid (each located at its file and line)."""


@dataclass
class Case:
    id: str
    data: dict[str, Any]  # the case as written (schema keys only)
    location: Location
    tags: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        return self.data.get("messages")

    @property
    def prompt(self) -> str | None:
        return self.data.get("prompt")

    @property
    def ideal(self) -> str | list[str] | None:
        return self.data.get("ideal")

    @property
    def ideals(self) -> list[str]:
        ideal = self.ideal
        return [] if ideal is None else [ideal] if isinstance(ideal, str) else list(ideal)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def input_text(self) -> str:
        """The last user turn (or the prompt): what a reader of a report wants to see."""
        if self.prompt is not None:
            return self.prompt
        users = [m.get("content") or "" for m in self.messages or [] if m.get("role") == "user"]
        return users[-1] if users else ""


def load_cases(spec, eval_index: int) -> list[Case]:
    """The cases of ``spec.evals[eval_index]``, validated; raises ``CaseError`` listing all."""
    ev = spec.evals[eval_index]
    source = ev["cases"]
    if isinstance(source, list):
        rows = [(item, spec.locate("evals", eval_index, "cases", j)) for j, item in enumerate(source)]
    else:
        path = spec.resolve(source)
        rows = read_case_file(path, _shown(path, spec))
    problems: list[Problem] = []
    cases: list[Case] = []
    seen: dict[str, Location] = {}
    for row, location in rows:
        case = _make_case(row, location, problems)
        if case is None:
            continue
        if case.id in seen:
            problems.append(Problem(location, f"duplicate case id '{case.id}' (first at {seen[case.id]})"))
            continue
        seen[case.id] = location
        cases.append(case)
    if not rows and not problems:
        problems.append(Problem(spec.locate("evals", eval_index, "cases"), "the eval set has no cases"))
    if problems:
        raise CaseError(problems)
    return cases


def _shown(path: Path, spec) -> str:
    from ftspec.spec.loader import display_path

    return display_path(path)


def read_case_file(path: Path, shown: str) -> list[tuple[Any, Location]]:
    """``[(raw case, location)]`` from a .jsonl, .yaml/.yml or .csv file."""
    from ftspec.spec.loader import byte_location

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CaseError([Problem(Location(shown), "eval cases file not found")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseError([Problem(byte_location(shown, raw, exc.start),
                                 f"not UTF-8 text ({exc.reason}, byte 0x{raw[exc.start]:02x})")]) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_jsonl(text, shown)
    if suffix in (".yaml", ".yml"):
        return _read_yaml(text, shown)
    if suffix == ".csv":
        return _read_csv(text, shown)
    raise CaseError([Problem(Location(shown), f"unknown eval cases format '{suffix}'; use .jsonl, .yaml or .csv")])


def _read_jsonl(text: str, shown: str) -> list[tuple[Any, Location]]:
    rows, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((json.loads(line), Location(shown, number)))
        except json.JSONDecodeError as exc:
            problems.append(Problem(Location(shown, number, exc.colno), f"invalid JSON: {exc.msg}"))
    if problems:
        raise CaseError(problems)
    return rows


def _read_yaml(text: str, shown: str) -> list[tuple[Any, Location]]:
    from ftspec.errors import SpecError
    from ftspec.spec.yamlpos import load_yaml_with_positions

    try:
        data, pos = load_yaml_with_positions(text, shown)
    except SpecError as exc:
        raise CaseError(exc.problems) from None
    if isinstance(data, dict) and "cases" in data:
        data, prefix = data["cases"], ("cases",)
    else:
        prefix = ()
    if not isinstance(data, list):
        raise CaseError([Problem(pos.value(prefix), "expected a list of cases")])
    return [(item, pos.value(prefix + (i,))) for i, item in enumerate(data)]


def _read_csv(text: str, shown: str) -> list[tuple[Any, Location]]:
    """Columns are case keys; list fields split on ``|``; messages/json_schema hold JSON."""
    reader = csv.DictReader(io.StringIO(text))
    unknown = [c for c in reader.fieldnames or [] if c not in CASE_KEYS]
    if unknown:
        raise CaseError([Problem(Location(shown, 1), f"unknown column '{unknown[0]}'; known: {', '.join(CASE_KEYS)}")])
    rows, problems = [], []
    for record in reader:
        location = Location(shown, reader.line_num)
        case: dict[str, Any] = {}
        for key, value in record.items():
            if value is None or value == "":
                continue
            if key in LIST_FIELDS:
                case[key] = [v.strip() for v in value.split("|") if v.strip()]
            elif key in ("messages", "json_schema"):
                try:
                    case[key] = json.loads(value)
                except json.JSONDecodeError as exc:
                    problems.append(Problem(location, f"column '{key}': invalid JSON: {exc.msg}"))
            else:
                case[key] = value
        rows.append((case, location))
    if problems:
        raise CaseError(problems)
    return rows


def _make_case(row: Any, location: Location, problems: list[Problem]) -> Case | None:
    if not isinstance(row, dict):
        problems.append(Problem(location, "a case is a mapping with messages or prompt, and ideal"))
        return None
    schema_problem = _schema_problem(row)
    if schema_problem:
        problems.append(Problem(location, schema_problem))
        return None
    if "messages" not in row and "prompt" not in row:
        problems.append(Problem(location, "case has no input: give 'messages' or 'prompt'"))
        return None
    if "messages" in row and "prompt" in row:
        problems.append(Problem(location, "case has both 'messages' and 'prompt'; give one"))
        return None
    bad_message = _message_problem(row.get("messages"))
    if bad_message:
        problems.append(Problem(location, bad_message))
        return None
    data = {k: row[k] for k in CASE_KEYS if k in row}
    content = {k: v for k, v in data.items() if k != "id"}
    case_id = str(data.get("id") or sha256_obj(content)[:12])
    return Case(id=case_id, data=data, location=location, tags=list(data.get("tags") or []))


def _schema_problem(row: dict[str, Any]) -> str | None:
    import jsonschema

    from ftspec.spec.schema import spec_schema

    schema = {**spec_schema()["$defs"]["case"], "$defs": spec_schema()["$defs"]}
    unknown = [k for k in row if k not in CASE_KEYS]
    if unknown:
        from ftspec.errors import did_you_mean

        return f"unknown case key '{unknown[0]}'{did_you_mean(unknown[0], CASE_KEYS)}"
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(row), key=lambda e: list(e.path))
    if not errors:
        return None
    error = errors[0]
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _message_problem(messages: Any) -> str | None:
    if messages is None:
        return None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            return f"messages.{i}: a message is a mapping with 'role' and 'content'"
    if messages[-1].get("role") == "assistant":
        return "the last message is the assistant's; a case ends with the turn the model answers"
    return None
