"""Observers of a build: each is told about every spec the build left current (its lock
written or up to date), after doit ran. They report (tracking, notifications) and never change
the build's result: an observer's failure is its own warning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ftspec.graph.tasks import SpecGraph


class BuildObserver(Protocol):
    def spec_built(self, graph: SpecGraph, echo: Callable[[str], None]) -> None: ...


def observers() -> list[BuildObserver]:
    from ftspec.graph.track import TrackingObserver

    return [TrackingObserver()]


def notify(graphs: list[SpecGraph], echo: Callable[[str], None]) -> None:
    """Each graph that finished without an error, to each observer."""
    for graph in graphs:
        if graph.errors or not graph.lock_file.is_file():
            continue
        for observer in observers():
            try:
                observer.spec_built(graph, echo)
            except Exception as exc:  # noqa: BLE001 - an observer never fails a build
                echo(f"{graph.spec.name}: warning: {type(observer).__name__} failed: {exc}")
