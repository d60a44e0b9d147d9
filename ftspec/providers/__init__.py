"""Layer 3: providers, discovered through the entry-point group ``ftspec.providers``.

The built-ins (openai, azure, local, together, fireworks) register through the same entry points as any plugin;
``_BUILTIN`` only covers running from a source tree that was never pip-installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, ProviderNotFoundError, SpecError, did_you_mean

GROUP = "ftspec.providers"
_BUILTIN = {
    "openai": "ftspec.providers.openai:OpenAIProvider",
    "azure": "ftspec.providers.openai:AzureOpenAIProvider",
    "local": "ftspec.providers.local:LocalProvider",
    "together": "ftspec.providers.together:TogetherProvider",
    "fireworks": "ftspec.providers.fireworks:FireworksProvider",
}
_EXTRAS = {"local": "pip install 'ftspec[local]'", "together": "pip install 'ftspec[together]'",
           "fireworks": "pip install 'ftspec[fireworks]'"}


@cache
def _entry_points() -> dict[str, str]:
    found = dict(_BUILTIN)
    for ep in metadata.entry_points(group=GROUP):
        found[ep.name] = ep.value
    return found


def provider_names() -> list[str]:
    return sorted(_entry_points())


def provider_class(name: str):
    import importlib

    targets = _entry_points()
    if name not in targets:
        raise ProviderNotFoundError(
            f"unknown provider '{name}'{did_you_mean(name, targets)}; known: {', '.join(sorted(targets))}"
        )
    module_name, _, attr = targets[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        install = _EXTRAS.get(name, f"install the package that provides '{name}'")
        raise ProviderNotFoundError(
            f"provider '{name}' is not installed ({exc.name or exc}); run: {install}"
        ) from None
    return getattr(module, attr)


def get_provider(name: str, settings: dict[str, Any] | None = None, *, project_root: Path | None = None):
    return provider_class(name)(dict(settings or {}), project_root=project_root)


def provider_for_spec(spec, *, project_root: Path | None = None):
    from ftspec.project import project_root as find_root

    return get_provider(spec.provider, spec.provider_settings, project_root=project_root or find_root(spec.path))


@contextmanager
def spec_token_counter(spec) -> Iterator[Any]:
    """The exact token counter for ``spec``'s dataset, for ``build_dataset(counter=...)``.

    Models in the base-model table count with tiktoken and never start a provider. Otherwise
    the spec's provider is asked for its counter (the local provider loads the model's own
    tokenizer); the provider is closed on exit. A tokenizer that fails to load is a located
    error on ``base_model``, never a silent estimate; a provider without ``exact_tokens`` gives
    a labelled estimate (``exact: false``) without being started.
    """
    from ftspec.data.tokens import counter_for, table_counter

    if table_counter(spec.base_model) is not None or not provider_class(spec.provider).capabilities.exact_tokens:
        yield counter_for(spec)
        return
    provider = provider_for_spec(spec)
    try:
        try:
            inner = provider.token_counter(spec.base_model)
        except Exception as exc:  # noqa: BLE001 - any load failure becomes the located error below
            text = exc.message if isinstance(exc, FtspecError) else str(exc)
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise SpecError([spec.problem(("base_model",), f"tokenizer for '{spec.base_model}' "
                                          f"failed to load: {reason}")]) from None
        yield counter_for(spec, inner)
    finally:
        provider.close()


def provider_problems(spec, check_files: bool) -> list:
    """The spec check for ``provider``: a registered provider name."""
    names = provider_names()
    if spec.provider not in names:
        return [spec.problem(("provider",), f"unknown provider '{spec.provider}'"
                                            f"{did_you_mean(spec.provider, names)}; known: {', '.join(names)}")]
    try:
        cls = provider_class(spec.provider)
    except ProviderNotFoundError:
        return []  # reported where the provider is first needed, with the install line
    own = list(cls.spec_problems(spec))
    said = {str(p.location) for p in own}  # a provider that words its own refusal keeps it
    return [p for p in _parent_problems(spec, cls) + _method_problems(spec, cls) if str(p.location) not in said] + own


def _method_problems(spec, cls) -> list:
    """``job.method`` against what the provider trains, and ``beta`` only with DPO."""
    method = spec.job.get("method", "supervised")
    problems = []
    if method == "dpo" and not cls.capabilities.dpo:
        problems.append(spec.problem(("job", "method"), f"provider '{spec.provider}' does not train method dpo"))
    if method != "dpo" and "beta" in (spec.raw.get("hyperparameters") or {}):
        problems.append(spec.problem(("hyperparameters", "beta"), "beta is a DPO setting; set `job: {method: dpo}` or remove it"))
    return problems


def _parent_problems(spec, cls) -> list:
    """``base_model: {spec: ...}``: the parent's model must be this provider's, and the provider
    must be able to start a job from one of its fine-tunes."""
    parent = getattr(spec, "parent", None)
    if parent is None:
        return []
    where = ("base_model", "spec")
    if parent.provider != spec.provider:
        return [spec.problem(where, f"the parent spec trains on provider '{parent.provider}'; a model can be "
                                    f"trained further only on the provider that made it, not '{spec.provider}'")]
    if not cls.capabilities.continued_training:
        return [spec.problem(where, f"provider '{spec.provider}' cannot start a job from a fine-tuned model")]
    return []
