"""Eval sets written for other eval tools (``ftspec evals export SPEC --format NAME``).

One module per format, registered by name in :data:`EVAL_EXPORTS`; each takes the spec, one
eval set, its loaded cases and the endpoint to call, and returns the file's text and the list
of what it could not carry over (a scorer with no equivalent, a sampling matrix, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.registry import Registry


@dataclass(frozen=True)
class Endpoint:
    """Where the exported config sends requests: ``ftspec serve`` or the provider's API."""

    base_url: str | None  # None: the client's default (api.openai.com)
    model: str
    api_key_env: str
    key_required: bool
    via_serve: bool  # ftspec serve applies the spec's template itself; a provider gets it applied


@dataclass
class ExportedEval:
    """One eval set's exported file: its text, and what was left out (one line each)."""

    name: str
    filename: str
    text: str
    not_exported: list[str] = field(default_factory=list)


Exporter = Callable[[Any, dict[str, Any], list[Any], Endpoint], ExportedEval]
EVAL_EXPORTS: Registry[Exporter] = Registry("eval export format", "ftspec.evals.exports")


@dataclass
class ExportResult:
    files: dict[str, Path]
    not_exported: list[str]


SERVE_URL = "http://127.0.0.1:8000/v1"
"""Where ``ftspec serve`` listens by default (docs/serve.md)."""

# provider -> (OpenAI-compatible base URL when the spec sets none, API key variable)
_HOSTED = {
    "openai": (None, "OPENAI_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
}


def endpoint_for(spec: Any, *, model: str | None = None, base_url: str | None = None) -> Endpoint:
    """The endpoint an export calls: ``ftspec serve`` for local models, else the provider's API."""
    from ftspec.errors import EvalError
    from ftspec.evals.evaluate import lock_of

    locked = lock_of(spec).get("model")
    if spec.provider == "local":
        # the spec's name is an alias ftspec serve accepts, so an unbuilt spec exports too
        return Endpoint(base_url or SERVE_URL, model or locked or spec.name, "FTSPEC_SERVE_API_KEY",
                        key_required=False, via_serve=True)
    if spec.provider not in _HOSTED and base_url is None:
        raise EvalError(f"{spec.path.name}: no OpenAI-compatible endpoint known for provider "
                        f"'{spec.provider}'; pass --base-url URL")
    default_url, default_env = _HOSTED.get(spec.provider, (None, "OPENAI_API_KEY"))
    settings = spec.provider_settings
    if not (model or locked):
        raise EvalError(f"{spec.path.name}: no model to export for (the lockfile names none); "
                        f"pass --model ID or run: ftspec build {spec.path.name}")
    return Endpoint(base_url or settings.get("base_url") or default_url, model or locked,
                    settings.get("api_key_env") or default_env, key_required=True, via_serve=False)


def export_evals(spec: Any, fmt: str, out_dir: Path, *, eval_name: str | None = None,
                 model: str | None = None, base_url: str | None = None) -> ExportResult:
    """Write each selected eval set of ``spec`` in format ``fmt`` under ``out_dir``."""
    from ftspec.evals.cases import load_cases
    from ftspec.evals.evaluate import selected_evals
    from ftspec.util import atomic_write_text

    exporter = EVAL_EXPORTS.get(fmt)
    endpoint = endpoint_for(spec, model=model, base_url=base_url)
    files: dict[str, Path] = {}
    notes: list[str] = []
    for ev in selected_evals(spec, eval_name):
        exported = exporter(spec, ev, load_cases(spec, spec.evals.index(ev)), endpoint)
        path = out_dir / exported.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, exported.text)
        files[ev["name"]] = path
        notes += exported.not_exported
    return ExportResult(files, notes)
