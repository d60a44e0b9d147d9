"""Imports point one way: spec < data < providers < evals < tracking < graph < cli.

Every module under ``ftspec/`` is parsed (imports inside functions included). A module in a
layer package may import its own layer and the ones before it. A top-level module
(``errors``, ``registry``, ``util``, ``project``, ``revisions``, ``lockfile``, ``__init__``, ...)
belongs to no layer: its rank is the highest layer it imports (directly or through other
top-level modules), and a layer module may import it only when that rank is not above its own.
So ``errors``/``util`` (which import no layer) are usable everywhere, and a top-level module that
reaches into ``graph`` is usable only from ``graph`` and ``cli``.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import ftspec

LAYERS = ["spec", "data", "providers", "evals", "tracking", "graph", "cli"]
PACKAGE = Path(ftspec.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out[".".join(["ftspec", *parts])] = path
    return out


MODULES = _modules()


@cache
def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported ftspec module, line) for every import statement in ``module``."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("ftspec")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("ftspec"):
                out += [(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base, node.lineno)
                        for a in node.names]
    return out


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS and (len(parts) > 2 or module in MODULES):
        return LAYERS.index(parts[1])
    return None


@cache
def rank(module: str, _seen: frozenset[str] = frozenset()) -> int:
    """A layer module's layer; a top-level module's highest imported layer (-1: none)."""
    layer = layer_of(module)
    if layer is not None:
        return layer
    if module not in MODULES or module in _seen:
        return -1
    return max([rank(m, _seen | {module}) for m, _ in imports_of(module)], default=-1)


def violations() -> list[str]:
    out = []
    for module, path in MODULES.items():
        layer = layer_of(module)
        if layer is None:
            continue
        for target, line in imports_of(module):
            if target == "ftspec":  # the package itself: only its __version__ is read below cli
                continue
            if rank(target) > layer:
                where = path.relative_to(PACKAGE.parent)
                out.append(f"{where}:{line}: {LAYERS[layer]} imports {target} ({LAYERS[rank(target)]})")
    return out


# Upward imports that remain, listed exactly so the test fails on any new one and on any of
# these once fixed (then the entry is removed here).
KNOWN: set[str] = set()  # every upward import is gone; keep it that way


def test_imports_point_one_way() -> None:
    found = set(violations())
    assert found <= KNOWN, "upward imports:\n" + "\n".join(sorted(found - KNOWN))


def test_known_violations_are_still_real() -> None:
    assert set(violations()) >= KNOWN, "fixed; remove from KNOWN: " + ", ".join(sorted(KNOWN - set(violations())))


def private_imports() -> list[str]:
    """``from M import _name`` of another module's private name, and imports of a private
    module (``pkg._mod``) from outside its package."""
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("ftspec"):
                continue
            target = node.module or ""
            private_parts = [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
            if private_parts and not module.startswith(target.rpartition(".")[0] + "."):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: imports private module {target}")
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and target != module \
                        and f"{target}.{alias.name}" not in MODULES:
                    out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: imports {target}.{alias.name}")
    return out


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports() == []
