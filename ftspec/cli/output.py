"""Machine-readable output shared by every command: one ``--json`` option, one strict encoder.

Every command that reports something takes ``--json`` (via :func:`json_option`) and prints
through :func:`emit_json`, so the flag's help, the encoding and the strictness are the same
everywhere: sorted keys, UTF-8 kept, paths as POSIX strings, and never ``NaN``/``Infinity``
(which ``json.loads`` in other languages rejects), so the output always parses as strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Machine-readable JSON on stdout (strict JSON; errors still go to stderr, exit 1)."


def json_option(func: F) -> F:
    """``--json`` as the keyword argument ``as_json``, with the same help on every command."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(func)


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: paths become POSIX strings, non-finite floats become ``null``."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN/Infinity
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_json"):
        return to_jsonable(value.to_json())
    return str(value)


def dumps(data: Any) -> str:
    """The one encoding: strict (``allow_nan=False``), sorted, indented, UTF-8 kept."""
    return json.dumps(to_jsonable(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def emit_json(data: Any) -> None:
    click.echo(dumps(data))
