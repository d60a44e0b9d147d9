"""For people who prefer ``doit``: the same tasks ``ftspec build`` runs, for every spec in specs/.

    doit list            # support.dataset, support.upload, support.job, ...
    doit support.lock    # build one spec up to its lockfile
    doit                 # build everything

Same state as ``ftspec build`` (``.ftspec/``: doit's sqlite3 database, task state, receipts),
so the two can be mixed. ``ftspec build`` additionally holds the project lock and turns
SIGTERM into Ctrl-C; prefer it when two builds could overlap.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
(ROOT / ".ftspec").mkdir(exist_ok=True)  # doit opens its database before loading tasks

DOIT_CONFIG = {
    "backend": "sqlite3",
    "dep_file": str(ROOT / ".ftspec" / "doit.sqlite3"),
    "verbosity": 2,
}


def _graphs():
    from ftspec.graph.tasks import SpecGraph
    from ftspec.spec import load_spec

    for spec_path in sorted((ROOT / "specs").glob("*.y*ml")):
        yield SpecGraph(load_spec(spec_path), ROOT)


def task_ftspec():
    """The ftspec build graph: dataset -> upload -> job -> wait -> evals -> lock, per spec."""
    for graph in _graphs():
        for task in graph.task_dicts():
            task = dict(task)
            task["basename"] = task.pop("name")  # top-level names, so task_dep resolves
            yield task
