"""``ftspec build``: doit embedded, behind a project lock, with SIGTERM handled like Ctrl-C.

doit runs with the sqlite3 backend in ``.ftspec/doit.sqlite3`` and no config files read
(``config_filenames=()``), so a stray ``[tool.doit]`` or ``doit.cfg`` cannot change a build.
Independent specs run in parallel threads with ``-j N`` (the work is I/O-bound).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, LockError
from ftspec.graph.observers import notify
from ftspec.graph.state import State, project_lock, sigterm_as_interrupt
from ftspec.graph.tasks import SpecGraph
from ftspec.project import project_root


@dataclass
class BuildResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    locks: dict[str, Path] = field(default_factory=dict)


def _reporter_class(result: BuildResult, echo: Callable[[str], None], verbose: bool):
    from doit.reporter import ConsoleReporter

    class Reporter(ConsoleReporter):
        """Quiet: ftspec's actions say what they do; failures are re-raised by build()."""

        def execute_task(self, task) -> None:
            result.ran.append(task.name)
            if verbose:
                echo(f"run  {task.name}")

        def skip_uptodate(self, task) -> None:
            result.skipped.append(task.name)
            if verbose:
                echo(f"skip {task.name} (up to date)")

        def add_failure(self, task, fail) -> None:
            self.failures.append({"task": task, "exception": fail})

        def runtime_error(self, msg: str) -> None:
            self.runtime_errors.append(msg)

        def complete_run(self) -> None:
            return None

    return Reporter


def build_graphs(specs: Sequence[Any], root: Path, *, echo: Callable[[str], None],
                 live: bool, pull: bool = True) -> list[SpecGraph]:
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LockError(f"two specs share the name '{duplicates[0]}'; names key lockfiles and state")
    graphs = [SpecGraph(s, root, echo=echo, live=live, pull=pull) for s in specs]
    built = {g.spec.name for g in graphs}
    for graph in graphs:  # a continued spec's job waits for its parent's lock (same run)
        if graph.spec.parent is not None and graph.spec.parent.name in built:
            graph.after.append(f"{graph.spec.parent.name}.lock")
    return graphs


def with_parents(specs: Sequence[Any]) -> list[Any]:
    """``specs`` with every continued spec's parents before it, each spec once: building a child
    builds (or finds up to date) its parents first."""
    out: list[Any] = []
    seen: set[Path] = set()

    def add(spec: Any) -> None:
        if spec.parent is not None:
            add(spec.parent)
        path = Path(spec.path).resolve()
        if path not in seen:
            seen.add(path)
            out.append(spec)

    for spec in specs:
        add(spec)
    return out


def run_graphs(graphs: list[SpecGraph], root: Path, *, jobs: int = 1, verbose: bool = False,
               echo: Callable[[str], None] = print) -> BuildResult:
    """Run the doit tasks of ``graphs`` (the caller holds the project lock)."""
    from doit.cmd_base import TaskLoader2
    from doit.doit_cmd import DoitMain
    from doit.task import dict_to_task

    result = BuildResult()
    state = State(root)
    state.dir.mkdir(parents=True, exist_ok=True)
    task_dicts = [t for g in graphs for t in g.task_dicts()]
    config = {
        "dep_file": str(state.doit_db),
        "backend": "sqlite3",
        "verbosity": 2,
        "reporter": _reporter_class(result, echo, verbose),
        "continue": True,  # one spec failing does not stop independent specs
    }

    class Loader(TaskLoader2):
        def setup(self, opt_values) -> None:
            pass

        def load_doit_config(self) -> dict[str, Any]:
            return config

        def load_tasks(self, cmd, pos_args):
            return [dict_to_task(dict(t)) for t in task_dicts]

    argv = ["run"]
    if jobs > 1:
        argv += ["-n", str(jobs), "-P", "thread"]
    try:
        code = DoitMain(Loader(), config_filenames=()).run(argv)
        notify(graphs, echo)  # trackers and other observers: warnings only, never a failure
    finally:
        for graph in graphs:
            graph.close()
    errors = [e for g in graphs for e in g.errors]
    if len(errors) == 1 or (errors and not all(isinstance(e, FtspecError) for e in errors)):
        raise next((e for e in errors if not isinstance(e, FtspecError)), errors[0])
    if errors:
        raise FtspecError("\n".join(line for e in errors if isinstance(e, FtspecError) for line in e.lines()))
    if code != 0:
        raise FtspecError(f"build failed inside doit (exit {code}); see the messages above")
    for graph in graphs:
        result.locks[graph.spec.name] = graph.lock_file
    return result


def build(spec_paths: Sequence[str | Path], *, jobs: int = 1, verbose: bool = False,
          echo: Callable[[str], None] | None = None, live: bool | None = None,
          pull: bool = True) -> BuildResult:
    """Build every spec; a second build of the same project waits for the first.

    ``pull``: a local model the lockfile names under the same job key is pulled from a remote
    (``ftspec.toml``) instead of being trained again."""
    from ftspec.spec import load_spec

    echo = echo or _stderr_echo
    paths = [Path(p) for p in spec_paths]
    if not paths:
        raise FtspecError("no spec given; usage: ftspec build SPEC...")
    specs = with_parents([load_spec(p) for p in paths])
    root = project_root(paths[0])
    if live is None:
        live = jobs == 1 and len(specs) == 1 and sys.stderr.isatty()
    with sigterm_as_interrupt(), project_lock(root, announce=echo):
        graphs = build_graphs(specs, root, echo=echo, live=live, pull=pull)
        for graph in graphs:
            for line in graph.shutdown_warnings():
                echo(f"warning: {line}")
        return run_graphs(graphs, root, jobs=jobs, verbose=verbose, echo=echo)


def _stderr_echo(line: str) -> None:
    print(line, file=sys.__stderr__, flush=True)
