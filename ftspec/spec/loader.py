"""Load a spec: YAML -> JSON Schema -> semantic checks, reporting every problem at once.

Each problem is ``file:LINE:COL: key.path: message`` pointing at the offending node.
"""

from __future__ import annotations

import glob
import math
from pathlib import Path
from typing import Any

from ftspec.errors import Location, Problem, SpecError, did_you_mean
from ftspec.spec.extends import Reader, compose, read_from_disk
from ftspec.spec.lineage import load_parent
from ftspec.spec.model import SourceSpec, Spec
from ftspec.spec.schema import spec_schema, spec_validator
from ftspec.spec.yamlpos import Path_, Positions, format_path, load_yaml_with_positions, shown_key
from ftspec.util import is_file, path_problem


def display_path(path: Path) -> str:
    """A path relative to the working directory when possible (what users typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_spec(path: str | Path, *, check_files: bool = True) -> Spec:
    """Read and validate a spec file. Raises ``SpecError`` listing all problems."""
    path = Path(path)
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([Problem(Location(shown), "spec file not found")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(Location(shown), "is a folder, not a spec file")]) from None
    except OSError as exc:
        raise SpecError([Problem(Location(shown), f"cannot read the spec: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(byte_location(shown, raw, exc.start),
                                 f"not UTF-8 text ({exc.reason}, byte 0x{raw[exc.start]:02x})")]) from None
    return load_spec_text(text, path, shown=shown, check_files=check_files)


def byte_location(shown: str, raw: bytes, offset: int) -> Location:
    """The line and column (in characters of the text before it) of byte ``offset``."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    before = raw[line_start:offset].decode("utf-8", errors="replace")
    return Location(shown, raw.count(b"\n", 0, offset) + 1, len(before) + 1)


def load_spec_text(
    text: str, path: Path, *, shown: str | None = None, check_files: bool = True,
    read: Reader = read_from_disk,
) -> Spec:
    """Validate spec text as if it were at ``path`` (used for git revisions too). The bases it
    ``extends`` are read with ``read`` (the disk, or a git revision's tree)."""
    shown = shown or display_path(path)
    data, pos = load_yaml_with_positions(text, shown)
    if data is None:
        raise SpecError([Problem(Location(shown, 1, 1), "spec is empty")])
    if not isinstance(data, dict):
        raise SpecError([Problem(pos.value(()), "a spec is a mapping of keys (ftspec, name, ...)")])
    data, pos, bases = compose(data, pos, path, shown=display_path, read=read)
    spec = Spec(path=path.resolve(), raw=data, positions=pos, sources=[], bases=bases)
    problems = schema_problems(data, pos)
    if problems:
        if check_files:  # missing files are reported in the same run as schema problems
            problems += _missing_source_files(spec, problems)
        raise SpecError(problems)
    spec.sources = _resolve_sources(spec, problems, check_files)
    spec.parent, parent_problems = load_parent(spec, check_files)
    problems += parent_problems
    problems += semantic_problems(spec, check_files)
    if problems:
        raise SpecError(problems)
    return spec


# ---- JSON Schema errors -> located problems ---------------------------------------------------


def _subschema_properties(schema: dict[str, Any]) -> list[str]:
    root = spec_schema()
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


def schema_problems(data: Any, pos: Positions) -> list[Problem]:
    problems: list[Problem] = []
    for error in spec_validator().iter_errors(data):
        problems.extend(_translate(error, pos))
    # one message per node: drop exact duplicates that oneOf branches can produce
    unique = {(p.location, p.key_path, p.message): p for p in problems}
    return list(unique.values())


def _translate(error, pos: Positions) -> list[Problem]:
    path: Path_ = tuple(error.absolute_path)
    where = format_path(path)
    if error.validator == "additionalProperties":
        allowed = _subschema_properties(error.schema)
        extras = [k for k in error.instance if k not in allowed]
        return [
            Problem(pos.key(path + (k,)), f"unknown key {_quoted_key(k)}{did_you_mean(k, allowed)}",
                    format_path(path + (k,)))
            for k in extras
        ]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _translate_alternatives(error, pos)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Problem(pos.value(path), f"missing required key '{missing}'", where)]
    if error.validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        got = error.instance
        hint = did_you_mean(str(got), allowed) if isinstance(got, str) else ""
        return [Problem(pos.value(path), f"'{got}' is not one of {', '.join(allowed)}{hint}", where)]
    if error.validator == "const":
        return [Problem(pos.value(path), f"must be {error.validator_value!r}, got {error.instance!r}", where)]
    if error.validator == "type":
        return [Problem(pos.value(path), f"expected {error.validator_value}, got {_type_name(error.instance)}", where)]
    if error.validator == "pattern":
        return [Problem(pos.value(path), _pattern_message(path, error), where)]
    return [Problem(pos.value(path), error.message, where)]


# What each `pattern` in the schema means, in words (keyed by the last key of the path).
_PATTERN_WORDS = {
    "name": "use lowercase letters, digits, '-' and '_' (at most 64 characters, starting with a letter or digit)",
    "api_key_env": "an environment variable name: uppercase letters, digits and '_', e.g. OPENAI_API_KEY",
    "session_gap": "a number and a unit s, m, h or d, e.g. 30m",
}


def _pattern_message(path: Path_, error) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if key == "name" and len(path) > 1 and path[0] == "sources":
        words: str | None = "letters, digits, '_', '.' and '-', starting with a letter or digit"
    else:
        words = _PATTERN_WORDS.get(key)
    if words is None:
        return error.message
    return f"{error.instance!r} is not a valid {key.replace('_', ' ')}: {words}"


def _translate_alternatives(error, pos: Positions) -> list[Problem]:
    """For oneOf/anyOf, report the branch that got furthest (deepest path, fewest errors)."""
    path: Path_ = tuple(error.absolute_path)
    instance = error.instance
    # a transform written as an unknown name: say so with a suggestion
    if len(path) == 2 and path[0] == "transforms":
        names = sorted(spec_schema()["$defs"]["transform"]["oneOf"][0]["enum"])
        name = instance if isinstance(instance, str) else (
            next(iter(instance)) if isinstance(instance, dict) and len(instance) == 1 else None
        )
        if name is not None and name not in names:
            return [Problem(pos.key(path + (name,)) if isinstance(instance, dict) else pos.value(path),
                            f"unknown transform '{name}'{did_you_mean(name, names)}; known: {', '.join(names)}",
                            format_path(path))]
    if isinstance(instance, str) and instance == "auto":
        pass
    branches: dict[int, list] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def depth(errors: list) -> tuple[int, int]:
        return (max(len(e.absolute_path) for e in errors), -len(errors))

    best = max(branches.values(), key=depth)
    if depth(best)[0] == len(path) and all(e.validator in ("type", "const", "enum") for e in best):
        # every branch failed at this very node on its type: one combined message
        wanted = _describe_alternatives(error.validator_value)
        return [Problem(pos.value(path), f"expected {wanted}, got {_type_name(instance)} {instance!r}", format_path(path))]
    out: list[Problem] = []
    for sub in best:
        out.extend(_translate(sub, pos))
    return out


def _describe_alternatives(options: list[dict[str, Any]]) -> str:
    parts = []
    for option in options:
        if "const" in option:
            parts.append(repr(option["const"]))
        elif "enum" in option:
            parts.append("one of " + ", ".join(map(str, option["enum"])))
        elif "type" in option:
            bounds = []
            if "minimum" in option:
                bounds.append(f">= {option['minimum']}")
            if "exclusiveMinimum" in option:
                bounds.append(f"> {option['exclusiveMinimum']}")
            if "maximum" in option:
                bounds.append(f"<= {option['maximum']}")
            parts.append(option["type"] + (f" ({', '.join(bounds)})" if bounds else ""))
        elif "required" in option:
            parts.append("key '" + "', '".join(option["required"]) + "'")
    return " or ".join(parts) or "a valid value"


def _type_name(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"non-finite number {value}"
    return {
        dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
        float: "number", type(None): "null",
    }.get(type(value), type(value).__name__)


# ---- semantic checks (after the schema passed) ----------------------------------------------


def _resolve_sources(spec: Spec, problems: list[Problem], check_files: bool) -> list[SourceSpec]:
    """Expand each source's paths; the format and its options are checked by the data layer."""
    out = []
    common = {"name", "path", "paths", "format", "encoding", "on_error", "split"}
    seen_names: dict[str, int] = {}
    for index, raw in enumerate(spec.raw["sources"]):
        fmt = raw["format"]
        patterns = [raw["path"]] if "path" in raw else list(raw["paths"])
        files: list[Path] = []
        for pattern_index, pattern in enumerate(patterns):
            key: Path_ = ("sources", index, "path") if "path" in raw else ("sources", index, "paths", pattern_index)
            refused = path_problem(pattern)
            if refused:
                problems.append(spec.problem(key, refused))
                continue
            matched = _expand(spec, pattern)
            if not matched and check_files:
                what = "no file matches" if glob.has_magic(pattern) else "file not found"
                problems.append(spec.problem(key, f"{what}: {spec.as_written(key, pattern)}"))
            files.extend(matched)
        name = raw.get("name") or (Path(patterns[0]).stem if patterns else f"source{index}")
        if name in seen_names:
            problems.append(spec.problem(("sources", index, "name"), f"duplicate source name '{name}'"))
        seen_names[name] = index
        source = SourceSpec(
            index=index, name=name, format=fmt, files=files,
            encoding=raw.get("encoding", "auto"), on_error=raw.get("on_error", "fail"),
            split=raw.get("split", "auto"),
            options={k: v for k, v in raw.items() if k not in common},
            location=spec.locate("sources", index),
        )
        out.append(source)
    return out


def _missing_source_files(spec: Spec, schema_errors: list[Problem]) -> list[Problem]:
    """File checks for the ``sources`` entries the schema accepted, when other parts of the
    spec failed it: the user sees every problem of the spec in one run."""
    sources = spec.raw.get("sources")
    if not isinstance(sources, list):
        return []
    failed = {p.key_path for p in schema_errors}
    out: list[Problem] = []
    for index, raw in enumerate(sources):
        prefix = f"sources[{index}]"
        if not isinstance(raw, dict) or any(k == prefix or k.startswith(prefix + ".") for k in failed):
            continue
        patterns = [raw["path"]] if isinstance(raw.get("path"), str) else list(raw.get("paths") or [])
        for pattern_index, pattern in enumerate(patterns):
            key: Path_ = ("sources", index, "path") if "path" in raw else ("sources", index, "paths", pattern_index)
            if isinstance(pattern, str) and path_problem(pattern):
                out.append(spec.problem(key, path_problem(pattern) or ""))
            elif isinstance(pattern, str) and not _expand(spec, pattern):
                what = "no file matches" if glob.has_magic(pattern) else "file not found"
                out.append(spec.problem(key, f"{what}: {spec.as_written(key, pattern)}"))
    return out


def _expand(spec: Spec, pattern: str) -> list[Path]:
    full = spec.resolve(pattern)
    if glob.has_magic(pattern):
        return sorted(Path(p) for p in glob.glob(str(full), recursive=True) if is_file(Path(p)))
    return [full] if is_file(full) else []


def semantic_problems(spec: Spec, check_files: bool) -> list[Problem]:
    """Rules JSON Schema cannot express, each from the layer that owns the section
    (``ftspec.spec.checks``)."""
    from ftspec.spec.checks import layer_problems

    return layer_problems(spec, check_files)


def review_problems(spec: Spec, check_files: bool) -> list[Problem]:
    """The spec check for ``review``: a missing decisions file is fine (``ftspec review``
    creates it); a folder is not."""
    review, review_cfg = spec.raw.get("review"), spec.review
    if review_cfg is None:
        return []
    key = ("review",) if isinstance(review, str) else ("review", "path")
    refused = path_problem(str(review if isinstance(review, str) else (review or {}).get("path")))
    if refused:
        return [spec.problem(key, refused)]
    if check_files and review_cfg["path"].is_dir():
        return [spec.problem(key, "review decisions path is a folder")]
    return []


def _quoted_key(key: str) -> str:
    shown = shown_key(key)
    return f"'{key}'" if shown == key else shown  # escaped and quoted already
