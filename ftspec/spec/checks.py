"""Spec checks that need a layer above spec: each layer owns its own and the loader runs them.

The spec layer knows YAML, the schema and generic checks only. Sources, templates, providers
and evals each define ``problems(spec, check_files) -> list[Problem]`` in their own package;
the loader finds them by name here (built-ins, in a fixed order so problems print in spec
order) and through the entry-point group ``ftspec.spec_checks`` (plugins), importing each on
first use — the spec layer never imports a layer above it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module, metadata
from typing import Any

from ftspec.errors import Problem

GROUP = "ftspec.spec_checks"
SpecCheck = Callable[[Any, bool], list[Problem]]

# name -> "module:function", run in this order (the order of the sections in a spec)
BUILTIN_CHECKS = {
    "sources": "ftspec.data.sources:source_problems",
    "transforms": "ftspec.data.transforms:transform_problems",
    "template": "ftspec.data.templates:template_problems",
    "provider": "ftspec.providers:provider_problems",
    "model_steps": "ftspec.providers.models:model_step_problems",
    "review": "ftspec.spec.loader:review_problems",
    "evals": "ftspec.evals.spec_checks:eval_problems",
}


@cache
def registered_checks() -> tuple[tuple[str, str], ...]:
    """Built-in checks first, then plugins' by name; a plugin may replace a built-in by name."""
    found = dict(BUILTIN_CHECKS)
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        found[ep.name] = ep.value
    return tuple(found.items())


def _resolve(target: str) -> SpecCheck:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def layer_problems(spec: Any, check_files: bool) -> list[Problem]:
    """Every registered check's problems for ``spec``, in registration order."""
    problems: list[Problem] = []
    for _name, target in registered_checks():
        problems += _resolve(target)(spec, check_files)
    return problems
