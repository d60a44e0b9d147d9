"""The loaded, validated spec: plain data with the locations of every node kept."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import Location, Problem
from ftspec.spec.yamlpos import Path_, Positions, format_path
from ftspec.util import is_file, path_problem, sha256_obj

DEFAULT_SEPARATOR = "\n\n###\n\n"
DEFAULT_STOP = " END"


@dataclass
class SourceSpec:
    """One entry of ``sources:`` with its files resolved (globs expanded, sorted)."""

    index: int
    name: str
    format: str
    files: list[Path]
    encoding: str = "auto"
    on_error: str = "fail"
    split: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass
class Spec:
    path: Path
    raw: dict[str, Any]
    positions: Positions
    sources: list[SourceSpec]
    bases: list[Path] = field(default_factory=list)
    """The specs this one ``extends`` (nearest first); ``raw`` is already the merged result."""
    parent: Spec | None = None  # ``base_model: {spec: ...}``: the spec whose model this one continues

    # ---- plain accessors over the raw, schema-validated mapping -------------------------
    @property
    def root(self) -> Path:
        """The spec's folder: relative paths in the spec resolve against it."""
        return self.path.parent

    @property
    def name(self) -> str:
        return self.raw["name"]

    @property
    def provider(self) -> str:
        return self.raw["provider"]

    @property
    def base_model(self) -> str:
        """The base model; for continued training, the root base of the parent chain (its
        tokenizer, limits and prices apply; the graph trains from the parent's model)."""
        value = self.raw["base_model"]
        if isinstance(value, dict):
            return self.parent.base_model if self.parent is not None else str(value.get("spec"))
        return value

    @property
    def template(self) -> dict[str, Any]:
        """The template with defaults filled in, so the lockfile and evals see them."""
        tpl = dict(self.raw["template"])
        tpl.setdefault("train_on", "all")
        if tpl["type"] == "completion":
            tpl.setdefault("separator", DEFAULT_SEPARATOR)
            tpl.setdefault("stop", DEFAULT_STOP)
            tpl.setdefault("user_label", "User")
            tpl.setdefault("assistant_label", "Assistant")
        return tpl

    @property
    def transforms(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(name, options)]`` in spec order; a bare name means no options."""
        out: list[tuple[str, dict[str, Any]]] = []
        for item in self.raw.get("transforms") or []:
            if isinstance(item, str):
                out.append((item, {}))
            else:
                (name, opts), = item.items()
                out.append((name, dict(opts or {})))
        return out

    @property
    def split(self) -> dict[str, Any]:
        return {"validation": 0.0, "salt": "", **(self.raw.get("split") or {})}

    @property
    def hyperparameters(self) -> dict[str, Any]:
        hp = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
        if (self.raw.get("job") or {}).get("method") == "dpo":
            hp["beta"] = "auto"
        hp.update(self.raw.get("hyperparameters") or {})
        return hp

    @property
    def provider_settings(self) -> dict[str, Any]:
        return dict((self.raw.get("providers") or {}).get(self.provider) or {})

    @property
    def job(self) -> dict[str, Any]:
        return dict(self.raw.get("job") or {})

    @property
    def review(self) -> dict[str, Any] | None:
        review = self.raw.get("review")
        if review is None:
            return None
        if isinstance(review, str):
            review = {"path": review}
        return {"required": False, **review, "path": self.resolve(review["path"])}

    @property
    def evals(self) -> list[dict[str, Any]]:
        return list(self.raw.get("evals") or [])

    @property
    def baseline(self) -> Path | None:
        """The recorded baseline file (``baseline:``) the evals compare with, resolved."""
        rel = self.raw.get("baseline")
        return self.resolve(rel) if rel else None

    @property
    def sha256(self) -> str:
        """Hash of the normalised spec (key order and formatting do not matter)."""
        return sha256_obj(self.raw)

    # ---- locations -----------------------------------------------------------------------
    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve() if not Path(relative).is_absolute() else Path(relative)

    def as_written(self, path: Path_, value: str) -> str:
        """A relative path value as the file that wrote it has it: a base's paths are rebased
        to this spec's folder (``extends``), and a message located in the base shows its own."""
        written_in = self.positions.value(path).file
        if written_in == self.positions.file or Path(value).is_absolute():
            return value
        return Path(os.path.relpath(self.root / value, Path(written_in).resolve().parent)).as_posix()

    def locate(self, *path: str | int) -> Location:
        return self.positions.value(tuple(path))

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.positions.value(path), message, format_path(path))

    def file_problem(self, path: Path_, rel: str, what: str = "file") -> Problem | None:
        """The located problem of a file the spec names at ``path``: a path no file system takes
        (too long, a NUL byte) or no such file; None when the file is there."""
        refused = path_problem(rel)
        if refused:
            return self.problem(path, refused)
        if not is_file(self.resolve(rel)):
            return self.problem(path, f"{what} not found: {rel}")
        return None
