"""Layer 5 (beside graph): a remote store for content-addressed artifacts, on fsspec.

``config.py`` reads and writes the committed ``ftspec.toml`` (named remotes, never
credentials); ``store.py`` is the object store on any fsspec URL (atomic, resumable transfers,
sha256 verified, a progress line); ``tree.py`` addresses a folder of files by one sha256;
``kinds/`` holds one module per provider whose model lives on this machine (``local``);
``sync.py`` pushes, pulls, restores before a build and reports where each artifact is;
``gc.py`` lists remote objects no lockfile on any branch references.
"""

from __future__ import annotations

__all__ = ["add_remote", "artifact_status", "gc_remote", "pull", "push"]


def __getattr__(name: str):
    if name == "add_remote":
        from ftspec.artifacts.config import add_remote

        return add_remote
    if name in ("push", "pull", "artifact_status"):
        from ftspec.artifacts import sync

        return getattr(sync, name)
    if name == "gc_remote":
        from ftspec.artifacts.gc import gc_remote

        return gc_remote
    raise AttributeError(name)
