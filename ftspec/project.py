"""Where a project's state lives: the root (nearest folder with .git or .ftspec) and .ftspec/."""

from __future__ import annotations

from pathlib import Path


def project_root(start: Path) -> Path:
    """The nearest ancestor of ``start`` holding ``.git`` or ``.ftspec``; else ``start``'s parent
    when it is a ``specs`` folder; else ``start`` itself."""
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / ".ftspec").is_dir():
            return folder
    return start.parent if start.name == "specs" else start


def state_dir(root: Path) -> Path:
    """Git-ignored build state: datasets, doit's database, receipts, caches."""
    return root / ".ftspec"


def dataset_dir(root: Path, spec_name: str) -> Path:
    return state_dir(root) / "datasets" / spec_name
