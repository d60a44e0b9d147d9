"""The model client the data layer's model steps (extract, distill, moderate) call.

The data layer says what to ask (``ftspec.data.generate``: ``StepModel``, ``Call``, ``Answer``)
and never imports a provider; this module is the other half, injected by the caller that owns
providers (the graph's dataset task): ``with spec_models(spec) as models:
build_dataset(spec, out, models=models)``, as ``spec_token_counter`` injects a counter. Each
step's provider (which may differ from the spec's training provider) is opened on first use
with that provider's ``providers.<name>`` settings and closed on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from ftspec.errors import FtspecError, ProviderError, SpecError

# a request the provider refused on its own merits (too long, bad content): that one call's
# error, reported at its chunk; anything else (auth, 5xx after retries) stops the step
_REQUEST_FAULTS = frozenset({400, 413, 422})


class ProviderModels:
    """``ftspec.data.generate.ModelClient`` over the registered providers."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self._providers: dict[str, Any] = {}
        self._checked: set[tuple[str, str]] = set()

    def provider(self, name: str) -> Any:
        if name not in self._providers:
            from ftspec.project import project_root
            from ftspec.providers import get_provider

            settings = (self.spec.raw.get("providers") or {}).get(name) or {}
            self._providers[name] = get_provider(name, settings, project_root=project_root(self.spec.path))
        return self._providers[name]

    def prepare(self, model: Any) -> None:
        """Before the step's first paid call: the provider exists and has the model."""
        if (model.provider, model.model) in self._checked:
            return
        try:
            provider = self.provider(model.provider)
            known = model.kind == "moderation" or provider.has_model(model.model)
        except ProviderError as exc:
            raise SpecError([self.spec.problem((*model.path, "model"),
                                               f"cannot check model '{model.model}': {exc.message}")]) from None
        if not known:
            raise SpecError([self.spec.problem((*model.path, "model"),
                                               f"provider '{model.provider}' has no model '{model.model}'")])
        self._checked.add((model.provider, model.model))

    def run(self, model: Any, calls: list[Any], on_answer: Callable[[int, Any], None]) -> None:
        provider = self.provider(model.provider)
        if model.kind == "chat" and provider.capabilities.native_batching:
            self._batched(provider, model, calls, on_answer)
            return
        one = self._moderate_one if model.kind == "moderation" else self._chat_one
        with ThreadPoolExecutor(max_workers=max(1, model.concurrency)) as pool:
            futures: dict[Future, int] = {pool.submit(one, provider, model, call): j for j, call in enumerate(calls)}
            try:
                while futures:
                    done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                    for future in done:
                        j = futures.pop(future)
                        on_answer(j, future.result())  # in this thread: the cache write is serial
            finally:
                for future in futures:
                    future.cancel()

    def _batched(self, provider: Any, model: Any, calls: list[Any], on_answer: Callable[[int, Any], None]) -> None:
        size = max(1, model.concurrency)
        for start in range(0, len(calls), size):
            part = calls[start:start + size]
            results = provider.chat_batch([_request(model, c) for c in part], concurrency=size)
            for j, result in enumerate(results):
                on_answer(start + j, _answer(result))

    @staticmethod
    def _chat_one(provider: Any, model: Any, call: Any) -> Any:
        from ftspec.data.generate import Answer

        try:
            return _answer(provider.chat(_request(model, call)))
        except ProviderError as exc:
            if exc.status in _REQUEST_FAULTS:
                return Answer(error=exc.message)
            raise

    @staticmethod
    def _moderate_one(provider: Any, model: Any, call: Any) -> Any:
        from ftspec.data.generate import Answer

        try:
            results = provider.moderate(list(call.inputs or []), model=model.model or None)
        except ProviderError as exc:
            if exc.status in _REQUEST_FAULTS:
                return Answer(error=exc.message)
            raise
        return Answer(scores=[r.scores for r in results], flagged=[list(r.flagged) for r in results])

    def close(self) -> None:
        providers, self._providers = self._providers, {}
        for provider in providers.values():
            provider.close()


def _request(model: Any, call: Any) -> Any:
    from ftspec.providers.base import ChatRequest

    known = {k: v for k, v in call.sampling.items() if k in ("temperature", "top_p", "frequency_penalty",
                                                              "presence_penalty", "max_tokens", "seed")}
    stop = call.sampling.get("stop")
    return ChatRequest(model=model.model, messages=call.messages, stop=[stop] if isinstance(stop, str) else stop,
                       **known)


def _answer(result: Any) -> Any:
    from ftspec.data.generate import Answer

    return Answer(text=result.choices[0] if result.choices else "",
                  finish_reason=result.finish_reasons[0] if result.finish_reasons else "",
                  prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)


@contextmanager
def spec_models(spec: Any) -> Iterator[ProviderModels | None]:
    """The client for ``spec``'s model steps, or None when it has none (nothing is opened)."""
    if not model_steps(spec):
        yield None
        return
    models = ProviderModels(spec)
    try:
        yield models
    finally:
        models.close()


def model_steps(spec: Any) -> list[tuple[int, str, dict[str, Any], str]]:
    """``(index, name, options, kind)`` of each transform that calls a model."""
    from ftspec.data.transforms import TRANSFORMS

    out = []
    for index, (name, options) in enumerate(spec.transforms):
        if name in TRANSFORMS:
            kind = getattr(TRANSFORMS.get(name), "model_kind", None)
            if kind:
                out.append((index, name, options, kind))
    return out


def model_step_problems(spec: Any, check_files: bool) -> list[Any]:
    """The spec check for model steps: the step's provider exists and has the endpoint it needs
    (a moderation step on a provider without one is an error, never a pass-everything)."""
    from ftspec.errors import did_you_mean
    from ftspec.providers import provider_class, provider_names

    problems = []
    names = provider_names()
    for index, name, options, kind in model_steps(spec):
        provider = options.get("provider") or spec.provider
        where = ("transforms", index, name, "provider") if options.get("provider") else ("transforms", index, name)
        if provider not in names:
            problems.append(spec.problem(where, f"unknown provider '{provider}'{did_you_mean(provider, names)}; "
                                                f"known: {', '.join(names)}"))
            continue
        try:
            caps = provider_class(provider).capabilities
        except FtspecError:
            continue  # reported with its install line where it is first needed
        if kind == "moderation" and not caps.moderation:
            with_one = [n for n in names if _has_moderation(n)]
            problems.append(spec.problem(where, f"provider '{provider}' has no moderation endpoint, so nothing "
                                                f"would be screened; name one that has ({', '.join(with_one)}) "
                                                "with `provider:`"))
        if kind == "chat" and not caps.chat:
            problems.append(spec.problem(where, f"provider '{provider}' has no chat models"))
    return problems


def _has_moderation(name: str) -> bool:
    from ftspec.providers import provider_class

    try:
        return bool(provider_class(name).capabilities.moderation)
    except FtspecError:
        return False
