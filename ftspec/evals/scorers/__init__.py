"""Scorers: one module per scorer, registered by name in ``SCORERS``.

A scorer turns a model output (and its case) into a ``Score``: a number and a verdict. Adding a
scorer means adding a module here that calls ``@SCORERS.register("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ftspec.errors import Problem
from ftspec.registry import Registry

if TYPE_CHECKING:
    from ftspec.evals.cases import Case


@dataclass
class Score:
    score: float
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the scorer itself failed (e.g. a user function raised)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": round(float(self.score), 6), "passed": bool(self.passed)}
        if self.detail:
            out["detail"] = self.detail
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ScoreContext:
    """What scorers may use besides the output: the spec, the eval's provider, caches."""

    spec: Any
    provider: Any = None
    project_root: Path | None = None
    generate: Any = None  # callable(provider, ChatRequest) -> ChatResult, through the cache
    embed: Any = None  # callable(embedder label, provider, model, texts) -> vectors, cached
    providers: dict[str, Any] = field(default_factory=dict)  # extra providers opened by scorers

    def provider_named(self, name: str | None):
        """The eval's provider (``None``/same name) or another one, opened once."""
        if name is None or (self.provider is not None and name == getattr(self.provider, "name", None)):
            return self.provider
        if name not in self.providers:
            from ftspec.providers import get_provider

            settings = dict((self.spec.raw.get("providers") or {}).get(name) or {})
            self.providers[name] = get_provider(name, settings, project_root=self.project_root)
        return self.providers[name]

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        self.providers.clear()


class Scorer:
    """Base class. ``options`` is the scorer's mapping from the spec (schema-validated)."""

    name: ClassVar[str]
    default_field: ClassVar[str | None] = None  # the case field read when the options give none

    def __init__(self, options: dict[str, Any], context: ScoreContext) -> None:
        self.options = dict(options or {})
        self.context = context

    @classmethod
    def problems(cls, options: dict[str, Any], spec: Any, path: tuple) -> list[Problem]:
        """Load-time checks beyond the schema (bad regex, missing file, ...)."""
        return []

    @property
    def weight(self) -> float:
        return float(self.options.get("weight", 1.0))

    def needed_fields(self) -> list[str]:
        """Case fields this scorer reads; a case lacking one is a located error."""
        field_name = self.options.get("field", self.default_field)
        return [field_name] if field_name else []

    def case_problems(self, case: Case) -> list[str]:
        """What makes a case unusable for this scorer beyond a missing field (checked at load)."""
        return []

    def fingerprint(self) -> Any:
        """What, besides the options, changes this scorer's results (e.g. a file's content)."""
        return None

    def score(self, output: str, case: Case) -> Score:
        raise NotImplementedError

    def score_many(self, items: list[tuple[str, Case]]) -> list[Score]:
        """Score many outputs at once (similarity batches its embeddings)."""
        return [self.score(output, case) for output, case in items]


SCORERS: Registry[type[Scorer]] = Registry("scorer", __name__)


def field_values(case: Case, field_name: str) -> list[str]:
    value = case.get(field_name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def scorer_label(configs: list[dict[str, Any]], index: int) -> str:
    """A stable id per scorer in an eval: its name, or ``name.N`` when the name repeats."""
    name = next(iter(configs[index]))
    names = [next(iter(c)) for c in configs]
    if names.count(name) == 1:
        return name
    return f"{name}.{names[:index + 1].count(name)}"
