"""ftspec: a declarative, spec-driven build system for fine-tuned language models.

The public Python API; the CLI is one client of it. Modules are imported on first use, so
``import ftspec`` stays fast and imports neither torch nor openai.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "build", "build_dataset", "diff", "evaluate", "load_spec", "plan", "status"]

_EXPORTS = {
    "build": ("ftspec.graph.build", "build"),
    "build_dataset": ("ftspec.data.pipeline", "build_dataset"),
    "diff": ("ftspec.evals.diff", "diff_revisions"),
    "evaluate": ("ftspec.evals.evaluate", "evaluate"),
    "load_spec": ("ftspec.spec", "load_spec"),
    "plan": ("ftspec.graph.status", "plan_actions"),
    "status": ("ftspec.graph.status", "spec_status"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(name)
    from importlib import import_module

    module, attr = _EXPORTS[name]
    return getattr(import_module(module), attr)
