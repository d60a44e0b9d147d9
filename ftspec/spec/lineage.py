"""Continued training: ``base_model: {spec: ./parent.yaml}`` names the spec whose model this one
trains further. The parent is loaded with the child (its own problems located in its own file);
a missing parent or a cycle is located at the child's ``base_model.spec``."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ftspec.errors import Problem, SpecError

_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("ftspec_parent_chain", default=())


def parent_path(spec: Any) -> Path | None:
    """The resolved path of the parent spec, or None for a plain ``base_model`` string."""
    value = spec.raw.get("base_model")
    return spec.resolve(value["spec"]) if isinstance(value, dict) else None


def load_parent(spec: Any, check_files: bool) -> tuple[Any | None, list[Problem]]:
    """The parent ``Spec`` (loaded and checked) or the problems that stop it loading."""
    from ftspec.spec.loader import display_path, load_spec

    path = parent_path(spec)
    if path is None:
        return None, []
    where = ("base_model", "spec")
    chain = _LOADING.get()
    me = Path(spec.path).resolve()
    if path == me or path in chain:
        loop = (*chain, me)
        loop = loop[loop.index(path):] if path in loop else loop
        cycle = " -> ".join(display_path(p) for p in (*loop, path))
        return None, [spec.problem(where, f"continued-training cycle: {cycle}")]
    if not path.is_file():
        return None, [spec.problem(where, f"parent spec not found: {display_path(path)}")]
    token = _LOADING.set((*chain, me))
    try:
        parent = load_spec(path, check_files=check_files)
    except SpecError as exc:
        if any("continued-training cycle" in p.message for p in exc.problems):
            return None, list(exc.problems)
        raise  # the parent's own problems, located in the parent's file
    finally:
        _LOADING.reset(token)
    if parent.name == spec.name:
        return None, [spec.problem(where, f"the parent spec has this spec's name '{spec.name}'; "
                                          "names key lockfiles and state")]
    return parent, []
