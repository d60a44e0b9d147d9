"""Training sweeps: one spec, several hyperparameter values, one content-keyed job per variant.

``ftspec build SPEC --sweep hyperparameters.learning_rate_multiplier=1,5,10`` makes one variant
per value (several ``--sweep`` options: their cross product, with a warning). Each variant's
spec is the spec's own YAML text with that value set (``ftspec.spec.edit``), validated like any
spec, so a value the schema refuses is a located one-line error before anything runs.

The variants share the spec's dataset task (a hyperparameter is not a dataset input); each has
its own upload, job, wait and eval tasks, named ``<spec>.sweep.<variant>.<task>``, with state
under ``.ftspec/state/<spec>.sweep/<variant>/``. Uploads and jobs are content-keyed receipts
shared with every other build, so an uploaded file is never uploaded again and a variant already
trained (by this sweep, an earlier one, or the spec's own build) is reused, never retrained.
Reports go to ``reports/<spec>/sweep/<variant>/``; the comparison to ``reports/<spec>/sweep.html``
and ``<spec>.sweep.lock`` beside the spec. The spec's own lockfile is never written by a sweep.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ftspec.errors import FtspecError, SpecError
from ftspec.graph.state import State
from ftspec.graph.tasks import SpecGraph
from ftspec.spec.edit import dump_flow, set_value
from ftspec.spec.model import Spec
from ftspec.util import atomic_write_json, atomic_write_text

SWEEP_VERSION = 1
PREFIX = "hyperparameters."


class SweepError(FtspecError):
    """A ``--sweep`` option or a sweep variant that cannot be used."""


@dataclass
class Axis:
    option: str  # as given, for error messages
    path: tuple[str, ...]
    values: list[Any]

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass
class Variant:
    name: str  # e.g. "learning_rate_multiplier=5"
    values: dict[str, Any]  # "hyperparameters.learning_rate_multiplier" -> 5
    spec: Spec
    text: str

    @property
    def slug(self) -> str:
        """For task names, folders and files: ``learning_rate_multiplier-5`` (doit refuses '=')."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.name.replace("=", "-"))


@dataclass
class SweepResult:
    spec: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock: Path | None = None
    html: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "ran": self.ran, "warnings": self.warnings, "variants": self.rows,
                "sweep_lock": str(self.lock) if self.lock else None, "html": str(self.html) if self.html else None}


# ---- parsing -------------------------------------------------------------------------------------


def parse_axis(option: str) -> Axis:
    """``hyperparameters.PATH=V1,V2,...`` -> an Axis; values are YAML scalars (``5``, ``0.5``, ``auto``)."""
    where = f"--sweep {option}"
    key, sep, values_text = option.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SweepError(f"{where}: expected hyperparameters.NAME=V1,V2,... (e.g. "
                         "hyperparameters.learning_rate_multiplier=1,5,10)")
    if not key.startswith(PREFIX) or not key[len(PREFIX):] or "" in key.split("."):
        raise SweepError(f"{where}: '{key}' is not a hyperparameter path; sweeps vary keys under hyperparameters "
                         "(e.g. hyperparameters.n_epochs)")
    raw = [v.strip() for v in values_text.split(",")]
    if not values_text.strip() or any(v == "" for v in raw):
        raise SweepError(f"{where}: empty value list; give one or more comma-separated values")
    values = []
    for text in raw:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        if isinstance(value, dict | list) or value is None:
            raise SweepError(f"{where}: '{text}' is not a single value")
        values.append(value)
    duplicates = sorted({dump_flow(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise SweepError(f"{where}: value {duplicates[0]} is listed twice")
    return Axis(option, tuple(key.split(".")), values)


def variant_name(values: dict[str, Any]) -> str:
    return ",".join(f"{k[len(PREFIX):]}={dump_flow(v)}" for k, v in values.items())


def make_variants(spec: Spec, axes: list[Axis]) -> list[Variant]:
    """One Variant per combination, each validated as a spec (a located one-line error if not)."""
    from ftspec.spec.loader import display_path, load_spec_text

    if not axes:
        raise SweepError("no --sweep given")
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise SweepError(f"--sweep: {sorted(k for k in keys if keys.count(k) > 1)[0]} is swept twice; "
                         "give its values in one option")
    text = spec.path.read_text(encoding="utf-8-sig")
    shown = display_path(spec.path)
    out = []
    for combo in itertools.product(*[a.values for a in axes]):
        values = dict(zip(keys, combo, strict=True))
        variant_text = text
        for axis, value in zip(axes, combo, strict=True):
            variant_text = set_value(variant_text, axis.path, value, file=shown)
        try:
            variant = load_spec_text(variant_text, spec.path, shown=shown)
        except SpecError as exc:
            problem = _first(exc, axes)
            axis = next((a for a in axes if problem is not None and problem.key_path.startswith(a.key)), axes[0])
            value = combo[axes.index(axis)]
            where = f"{problem.location}: " if problem is not None else f"{shown}: "
            raise SweepError(f"{where}--sweep {axis.option}: {dump_flow(value)} is not valid for {axis.key}: "
                             f"{problem.message if problem is not None else exc}") from None
        out.append(Variant(variant_name(values), values, variant, variant_text))
    return out


def _first(exc: SpecError, axes: list[Axis]):
    """The problem about a swept key (else the first): the one line the user is shown."""
    problems = list(exc.problems)
    for problem in problems:
        if any(problem.key_path.startswith(a.key) or a.key.startswith(problem.key_path + ".") for a in axes):
            return problem
    return problems[0] if problems else None


# ---- the variant graphs --------------------------------------------------------------------------


class _VariantState(State):
    """The project's state, with a variant's own task folder; the dataset task is the spec's."""

    def __init__(self, root: Path, spec_name: str, slug: str) -> None:
        super().__init__(root)
        self._spec_name = spec_name
        self._own = f"{spec_name}.sweep/{slug}"

    def _map(self, spec_name: str, task: str) -> str:
        return spec_name if task == "dataset" else self._own

    def task_path(self, spec_name: str, task: str) -> Path:
        return super().task_path(self._map(spec_name, task), task)

    def log_path(self, spec_name: str, name: str) -> Path:
        return super().log_path(self._own, name)


class VariantGraph(SpecGraph):
    """A sweep variant's upload -> job -> wait -> evals, after the spec's own dataset task."""

    def __init__(self, variant: Variant, root: Path, *, echo: Callable[[str], None], live: bool,
                 pull: bool = True) -> None:
        super().__init__(variant.spec, root, echo=lambda line: echo(f"[{variant.name}] {line}"),
                         live=live, pull=pull)
        self.variant = variant
        self.state = _VariantState(self.root, variant.spec.name, variant.slug)
        self.report_name = f"{variant.spec.name}/sweep/{variant.slug}"

    def name(self, task: str) -> str:
        if task == "dataset":
            return f"{self.spec.name}.dataset"
        return f"{self.spec.name}.sweep.{self.variant.slug}.{task}"

    def task_dicts(self) -> list[dict[str, Any]]:
        # no dataset task (the spec's is shared), no lock task (the spec's lock is not ours)
        return [t for t in super().task_dicts()
                if t["name"] not in (self.name("dataset"), self.name("lock"))]

    def row(self) -> dict[str, Any]:
        """This variant's line of the comparison table (from its recorded state)."""
        from ftspec.evals.compare import comparisons
        from ftspec.evals.runner import training_curve

        job = self.state.task(self.spec.name, "job") or {"outputs": {}}
        wait = self.state.task(self.spec.name, "wait") or {"outputs": {}}
        job_id = job["outputs"].get("id")
        events = self.provider.list_events(job_id) if job_id else []
        curve = training_curve(events)
        train = [p["train_loss"] for p in curve if "train_loss" in p]
        valid = [p["valid_loss"] for p in curve if "valid_loss" in p]
        stamps = [e.created_at for e in events if getattr(e, "created_at", None)]
        evals = {}
        for name in self.eval_names:
            recorded = self.state.task(self.spec.name, f"eval.{name}")
            if recorded is not None:
                evals[name] = recorded["outputs"]
        return {
            "variant": self.variant.name,
            "values": self.variant.values,
            "job": job_id,
            "job_key": job["outputs"].get("key"),
            "model": wait["outputs"].get("fine_tuned_model"),
            "hyperparameters": wait["outputs"].get("hyperparameters"),
            "trained_tokens": wait["outputs"].get("trained_tokens"),
            "train_loss": train[-1] if train else None,
            "valid_loss": valid[-1] if valid else None,
            "train_seconds": (max(stamps) - min(stamps)) if len(stamps) > 1 else None,
            "evals": comparisons(evals),
            "reports": {n: s.get("report") for n, s in evals.items()},
        }


# ---- the sweep -----------------------------------------------------------------------------------


def sweep_lock_path(spec_path: Path) -> Path:
    return Path(spec_path).with_suffix(".sweep.lock")


def run_sweep(spec_path: str | Path, options: list[str], *, verbose: bool = False,
              echo: Callable[[str], None] | None = None, live: bool | None = None,
              pull: bool = True) -> SweepResult:
    """Build every variant (reusing what is already trained) and write the comparison."""
    import sys

    from ftspec.graph.build import project_lock, run_graphs, sigterm_as_interrupt
    from ftspec.project import project_root
    from ftspec.spec import load_spec

    echo = echo or _stderr
    spec = load_spec(spec_path)
    axes = [parse_axis(o) for o in options]
    variants = make_variants(spec, axes)
    result = SweepResult(spec=spec.name)
    if len(axes) > 1:
        result.warnings.append(
            f"{spec.name}: sweeping {len(axes)} hyperparameters at once builds their cross product "
            f"({len(variants)} variants, each a training job); one at a time is usually enough")
    for line in result.warnings:
        echo(f"warning: {line}")
    root = project_root(spec.path)
    if live is None:
        live = sys.stderr.isatty()
    with sigterm_as_interrupt(), project_lock(root, announce=echo):
        main = SpecGraph(spec, root, echo=echo, live=live, pull=pull)
        graphs = [VariantGraph(v, root, echo=echo, live=live, pull=pull) for v in variants]

        class _DatasetOnly:  # the spec's own dataset task, shared by every variant
            def __init__(self, graph: SpecGraph) -> None:
                self.graph, self.spec, self.errors = graph, graph.spec, graph.errors
                self.lock_file = graph.lock_file

            def task_dicts(self) -> list[dict[str, Any]]:
                return [t for t in self.graph.task_dicts() if t["name"] == self.graph.name("dataset")]

            def close(self) -> None:
                self.graph.close()

        built = run_graphs([_DatasetOnly(main), *graphs], root, verbose=verbose, echo=echo)  # type: ignore[list-item]
        result.ran = built.ran
        try:
            result.rows = [g.row() for g in graphs]
        finally:
            for g in graphs:
                g.close()
    result.lock = write_sweep_lock(spec, axes, result.rows)
    from ftspec.evals.sweep_report import render_sweep_html

    result.html = root / "reports" / spec.name / "sweep.html"
    atomic_write_text(result.html, render_sweep_html(spec.name, result.rows))
    return result


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.__stderr__, flush=True)


def write_sweep_lock(spec: Spec, axes: list[Axis], rows: list[dict[str, Any]]) -> Path:
    """``<spec>.sweep.lock``: every variant built so far (this sweep's replace older entries)."""
    import json

    path = sweep_lock_path(spec.path)
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("variants") or {}
        except (ValueError, AttributeError):
            old = {}
    variants = {**old, **{r["variant"]: r for r in rows}}
    atomic_write_json(path, {"ftspec_sweep": SWEEP_VERSION, "spec": spec.name, "base_model": spec.base_model,
                             "last_sweep": [a.option for a in axes], "variants": variants})
    return path


def load_sweep_lock(spec_path: Path) -> dict[str, Any]:
    import json

    from ftspec.spec.loader import display_path

    path = sweep_lock_path(spec_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{display_path(path)}: no sweep recorded for {display_path(Path(spec_path))}; "
                         "run: ftspec build SPEC --sweep hyperparameters.NAME=V1,V2") from None
    except ValueError as exc:
        raise SweepError(f"{display_path(path)}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("ftspec_sweep") != SWEEP_VERSION:
        raise SweepError(f"{display_path(path)}: not an ftspec sweep lock (version {SWEEP_VERSION})")
    return data


def apply_variant(spec_path: str | Path, variant: str) -> dict[str, Any]:
    """Write a recorded variant's values into the spec's YAML (comments kept); returns what changed."""
    from ftspec.errors import did_you_mean
    from ftspec.spec.loader import display_path, load_spec, load_spec_text

    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    data = load_sweep_lock(spec.path)
    known = sorted(data.get("variants") or {})
    if variant not in known:
        raise SweepError(f"{display_path(sweep_lock_path(spec.path))}: no variant '{variant}'"
                         f"{did_you_mean(variant, known)}; known: {', '.join(known) or '(none)'}")
    values = data["variants"][variant]["values"]
    text = original = spec.path.read_text(encoding="utf-8-sig")
    for key, value in values.items():
        text = set_value(text, tuple(key.split(".")), value, file=display_path(spec.path))
    load_spec_text(text, spec.path)  # still a valid spec
    if text != original:
        atomic_write_text(spec.path, text)
    return {"spec": display_path(spec.path), "variant": variant, "values": values, "changed": text != original}
