"""``extends: ./base.yaml``: a spec written as the changes to another spec.

The effective spec is the base (itself possibly extending another) with the child merged on
top, by these rules (docs/spec-extends.md):

- mappings merge key by key, recursively; a child value of ``null`` removes the base's key;
- any other value, lists included, replaces the base's value;
- ``KEY+: [...]`` appends to the base's list instead: items carrying a ``name`` that a base
  item has replace that item in place, the others are added after the base's items;
- relative paths written in a base (``sources[].path``/``paths``, ``review``, ``baseline``,
  ``evals[].cases``, a ``json_schema`` scorer's ``path``, a ``python`` scorer's file, a
  transform's ``prompt``/``few_shot`` file) are
  relative to the base file: they are rewritten relative to the child's folder, so the
  effective spec means what each file meant.

Every node keeps the location it was written at, so a problem in a value that came from a
base is reported at ``base.yaml:LINE:COL``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftspec.errors import Location, Problem, SpecError
from ftspec.spec.yamlpos import Path_, Positions, format_path, load_yaml_with_positions

EXTENDS = "extends"
APPEND = "+"
MAX_CHAIN = 16
"""Deepest chain of bases one spec may stand on."""

TRANSFORM_PATH_KEYS = ("prompt", "few_shot")
"""Options of a transform (``{name: {options}}``) that name a file beside the spec (extract's
prompt and few-shot files)."""

Reader = Callable[[Path], "str | None"]
"""Reads a base spec's text by absolute path; None when there is no such file."""


def read_from_disk(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(Location(str(path)), f"base spec is not UTF-8 text ({exc.reason})")]) from None


def compose(data: dict[str, Any], pos: Positions, path: Path, *, shown: Callable[[Path], str],
            read: Reader = read_from_disk) -> tuple[dict[str, Any], Positions, list[Path]]:
    """The effective mapping and positions of the spec at ``path``, and its bases (nearest
    first). A spec without ``extends`` comes back unchanged."""
    return _compose(data, pos, path.resolve(), shown, read, (path.resolve(),))


def _compose(data: dict[str, Any], pos: Positions, path: Path, shown: Callable[[Path], str],
             read: Reader, chain: tuple[Path, ...]) -> tuple[dict[str, Any], Positions, list[Path]]:
    if EXTENDS not in data:
        return data, pos, []
    ref = data[EXTENDS]
    where = pos.value((EXTENDS,))
    if not isinstance(ref, str) or not ref.strip():
        raise _error(where, "expected the path of a base spec (a string, relative to this file)")
    base_path = (path.parent / ref).resolve() if not Path(ref).is_absolute() else Path(ref)
    if base_path in chain:
        loop = " -> ".join(shown(p) for p in chain[chain.index(base_path):] + (base_path,))
        raise _error(where, f"cycle: {loop}")
    if len(chain) > MAX_CHAIN:
        raise _error(where, f"more than {MAX_CHAIN} specs extend one another")
    text = read(base_path)
    if text is None:
        raise _error(where, f"base spec not found: {ref}")
    base_data, base_pos = load_yaml_with_positions(text, shown(base_path))
    if not isinstance(base_data, dict):
        raise _error(base_pos.value(()), "a base spec is a mapping of keys, like any spec")
    base_data, base_pos, bases = _compose(base_data, base_pos, base_path, shown, read, chain + (base_path,))
    _rebase_paths(base_data, base_path.parent, path.parent)
    child = {k: v for k, v in data.items() if k != EXTENDS}
    merged, merged_pos = merge(base_data, base_pos, child, pos)
    return merged, merged_pos, [base_path, *bases]


def _error(where: Location, message: str) -> SpecError:
    return SpecError([Problem(where, message, EXTENDS)])


# ---- merging --------------------------------------------------------------------------------


def merge(base: dict[str, Any], base_pos: Positions, child: dict[str, Any],
          child_pos: Positions) -> tuple[dict[str, Any], Positions]:
    """``child`` merged onto ``base`` by the module's rules, with every node's location."""
    out_pos = Positions(child_pos.file)
    _copy(base_pos, (), (), out_pos)
    out_pos.values[()] = child_pos.value(())
    problems: list[Problem] = []
    merged = _merge_map(base, child, (), (), child_pos, out_pos, problems)
    if problems:
        raise SpecError(problems)
    return merged, out_pos


def _merge_map(base: dict[str, Any], child: dict[str, Any], path: Path_, child_path: Path_,
               child_pos: Positions, out_pos: Positions, problems: list[Problem]) -> dict[str, Any]:
    out = dict(base)
    for raw_key, value in child.items():
        append = raw_key.endswith(APPEND) and len(raw_key) > 1
        key = raw_key[:-1] if append else raw_key
        at, src = path + (key,), child_path + (raw_key,)
        if append and key in child:
            problems.append(Problem(child_pos.key(src), f"both '{key}' and '{raw_key}' given; use one",
                                    format_path(at)))
            continue
        if value is None and not append:
            out.pop(key, None)
            _drop(out_pos, at)
        elif append:
            out[key] = _append(out.get(key), value, at, src, child_pos, out_pos, problems)
        elif isinstance(value, dict):
            # onto the base's mapping, or onto nothing (so `KEY+` deeper down still appends)
            onto = out.get(key)
            if not isinstance(onto, dict):
                onto = {}
                _drop(out_pos, at)
                out_pos.values[at] = child_pos.value(src)
            out_pos.keys[at] = child_pos.key(src)
            out[key] = _merge_map(onto, value, at, src, child_pos, out_pos, problems)
        else:
            _drop(out_pos, at)
            _copy(child_pos, src, at, out_pos)
            out[key] = value
    return out


def _append(base: Any, value: Any, at: Path_, src: Path_, child_pos: Positions, out_pos: Positions,
            problems: list[Problem]) -> Any:
    if not isinstance(value, list):
        problems.append(Problem(child_pos.value(src), f"'{src[-1]}' appends a list to the base's; got a "
                                f"{type(value).__name__}", format_path(at)))
        return base
    if base is None:
        base = []
    if not isinstance(base, list):
        problems.append(Problem(child_pos.key(src), f"'{src[-1]}' appends to a list, but the base's "
                                f"'{at[-1]}' is not a list", format_path(at)))
        return base
    out = list(base)
    names = {item["name"]: i for i, item in enumerate(out) if isinstance(item, dict) and isinstance(item.get("name"), str)}
    out_pos.keys[at] = child_pos.key(src)
    for j, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        index = names[name] if isinstance(name, str) and name in names else len(out)
        if index == len(out):
            out.append(item)
        else:
            out[index] = item
            _drop(out_pos, at + (index,))
        _copy(child_pos, src + (j,), at + (index,), out_pos)
    if not base:
        out_pos.values.setdefault(at, child_pos.value(src))
    return out


def _under(table: dict[Path_, Location], prefix: Path_) -> Iterator[Path_]:
    n = len(prefix)
    return (p for p in list(table) if p[:n] == prefix)


def _copy(src_pos: Positions, src: Path_, dst: Path_, out_pos: Positions) -> None:
    """The locations of the subtree at ``src`` in ``src_pos``, placed at ``dst``."""
    n = len(src)
    for p in _under(src_pos.values, src):
        out_pos.values[dst + p[n:]] = src_pos.values[p]
    for p in _under(src_pos.keys, src):
        out_pos.keys[dst + p[n:]] = src_pos.keys[p]


def _drop(out_pos: Positions, at: Path_) -> None:
    for table in (out_pos.values, out_pos.keys):
        for p in _under(table, at):
            del table[p]


# ---- paths written in a base -----------------------------------------------------------------


def _rebase_paths(data: dict[str, Any], base_dir: Path, child_dir: Path) -> None:
    """Rewrite the base's relative paths so they name the same files from the child's folder."""
    if base_dir == child_dir:
        return

    def rebase(value: Any) -> Any:
        if not isinstance(value, str) or not value or Path(value).is_absolute():
            return value
        return Path(os.path.relpath(base_dir / value, child_dir)).as_posix()

    for source in _dicts(data.get("sources")):
        if "path" in source:
            source["path"] = rebase(source["path"])
        if isinstance(source.get("paths"), list):
            source["paths"] = [rebase(p) for p in source["paths"]]
    for item in _dicts(data.get("transforms")):
        for options in _dicts(list(item.values())):
            for key in TRANSFORM_PATH_KEYS:
                if isinstance(options.get(key), str):
                    options[key] = rebase(options[key])
    review = data.get("review")
    if isinstance(review, str):
        data["review"] = rebase(review)
    elif isinstance(review, dict) and "path" in review:
        review["path"] = rebase(review["path"])
    if "baseline" in data:
        data["baseline"] = rebase(data["baseline"])
    for ev in _dicts(data.get("evals")):
        if isinstance(ev.get("cases"), str):
            ev["cases"] = rebase(ev["cases"])
        for scorer in _dicts(ev.get("scorers")):
            schema = scorer.get("json_schema")
            if isinstance(schema, dict) and "path" in schema:
                schema["path"] = rebase(schema["path"])
            python = scorer.get("python")
            if isinstance(python, dict) and isinstance(python.get("function"), str):
                file, sep, func = python["function"].rpartition(":")
                if sep and file.endswith(".py"):
                    python["function"] = f"{rebase(file)}:{func}"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def effective_yaml(data: dict[str, Any], file: str, bases: list[str]) -> str:
    """The effective spec as YAML (keys in merge order), headed by where it came from."""
    import yaml

    head = [f"# effective spec of {file}"] + ([f"# extends: {' -> '.join(bases)}"] if bases else [])
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return "\n".join(head) + "\n" + body
