"""``ftspec plan``: examples, token distribution, epochs, billed tokens and cost, before any job.

Epochs for ``n_epochs: auto`` follow OpenAI's published default rule (cookbook): target 3,
keep examples x epochs within [100, 25000], clamp to [1, 25]. Billed tokens are
``sum(min(limit, tokens)) x epochs`` over the training file (validation is not billed). An
unknown price or limit is reported as unknown (``None``), never as 0.
"""

from __future__ import annotations

from typing import Any

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
BATCH_FRACTION = 0.002  # batch_size auto: OpenAI's rule is unpublished; ~0.2% of examples
MAX_BATCH = 256


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default ``n_epochs`` for a training file of ``n_examples`` examples."""
    epochs = TARGET_EPOCHS
    if n_examples <= 0:
        return epochs
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


def auto_batch_size(n_examples: int) -> int:
    return max(1, min(MAX_BATCH, round(n_examples * BATCH_FRACTION)))


def resolve_hyperparameters(spec, n_train_examples: int) -> dict[str, Any]:
    """The spec's hyperparameters with every ``"auto"`` replaced by the value ftspec expects.

    n_epochs: OpenAI's rule above. batch_size: ~0.2% of the examples, clamped to [1, 256]
    (OpenAI does not publish its rule; this matches the sizes its jobs report). A provider may
    still send ``"auto"`` to its API; this is the value the plan and local training use.
    learning_rate_multiplier: 1.0 (the local provider multiplies its base learning rate).
    beta (DPO): 0.1, the common DPO default. Provider-specific extras are passed through.
    """
    hp = dict(spec.hyperparameters)
    resolved: dict[str, Any] = {}
    for key, value in hp.items():
        if value != "auto":
            resolved[key] = value
        elif key == "n_epochs":
            resolved[key] = auto_epochs(n_train_examples)
        elif key == "batch_size":
            resolved[key] = auto_batch_size(n_train_examples)
        elif key == "learning_rate_multiplier":
            resolved[key] = 1.0
        elif key == "beta":
            resolved[key] = 0.1
        else:
            resolved[key] = value
    return resolved


def plan(spec, *, result=None, counter=None) -> dict[str, Any]:
    """Build the dataset in memory (no files) and compute the training plan; ``counter`` is
    the caller's exact token counter (see ``ftspec.data.pipeline.build_dataset``)."""
    from ftspec.data.base_models import lookup
    from ftspec.data.pipeline import build_dataset
    from ftspec.data.shutdown import lifecycle, shutdown_warnings
    from ftspec.spec.loader import display_path

    if result is None:
        result = build_dataset(spec, None, counter=counter)
    manifest = result.manifest
    tokens = manifest["tokens"]
    info = lookup(spec.base_model)
    limit = info.context_limit if info else None
    n_train = result.counts.get("train", 0)
    hp = resolve_hyperparameters(spec, n_train)
    epochs = hp["n_epochs"]
    train_tokens = _billable_sum(result, limit)
    billed = train_tokens * epochs
    price = info.training_per_1m if info else None
    cost = round(billed / 1_000_000 * price, 4) if price is not None else None
    return {
        "spec": spec.name,
        "provider": spec.provider,
        "base_model": spec.base_model,
        "examples": dict(result.counts),
        "tokens": {
            "tokenizer": tokens["tokenizer"],
            "exact": tokens["exact"],
            "train": _dist(tokens["train"]),
            "validation": _dist(tokens["validation"]),
        },
        "per_example_limit": limit,
        "over_limit": _over_limit(result, limit),
        "epochs": epochs,
        "epochs_auto": spec.hyperparameters.get("n_epochs") == "auto",
        "hyperparameters": hp,
        "billed_tokens": billed,
        "billed_tokens_note": "sum(min(limit, tokens)) x epochs" if limit else "sum(tokens) x epochs (limit unknown)",
        "price_per_1m_training": price,
        "estimated_cost_usd": cost,
        "price_source": (info.source if info else None),
        "price_checked": (info.checked if info else None),
        "dataset_sha256": manifest["dataset_sha256"],
        "shutdown": lifecycle(spec.base_model, spec.provider).to_json(),
        "model_calls": model_calls(manifest.get("generated") or {}),
        "moderation": moderation_note(spec),
        "warnings": [*result.warnings, *shutdown_warnings(display_path(spec.path), spec.base_model, spec.provider)],
    }


# endpoints that are published as free of charge (price 0, with where it is said)
FREE_ENDPOINTS = {("openai", "moderation"): "OpenAI moderation guide: the moderation endpoint is free to use"}


def moderation_note(spec) -> str:
    """Whether the examples are screened before training, said plainly either way."""
    steps = [o for name, o in spec.transforms if name == "moderate"]
    if not steps:
        return "not configured: examples are not screened (add a `moderate` transform)"
    return "; ".join(f"{o.get('provider') or spec.provider}:{o.get('model') or 'omni-moderation-latest'}, "
                     f"action {o.get('action', 'drop')}" for o in steps)


def model_calls(generated: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model step (extract, distill, moderate): calls in total, answered from the cache,
    still to make, their prompt tokens and the most completion tokens they may bill
    (``sampling.max_tokens`` x calls), and the cost of those at the model's inference prices.
    The upper bound is unknown without ``max_tokens``; an unknown price stays unknown."""
    from ftspec.data.base_models import lookup

    out = []
    for label, books in generated.items():
        kind = "moderation" if books.get("step") == "moderate" else "chat"
        pending = int(books.get("pending", 0))
        prompt, completion = int(books.get("pending_prompt_tokens", 0)), books.get("pending_max_completion_tokens")
        free = FREE_ENDPOINTS.get((books.get("provider"), kind))
        info = lookup(str(books.get("model")))
        price_in = 0.0 if free else (info.inference_input_per_1m if info else None)
        price_out = 0.0 if free or kind == "moderation" else (info.inference_output_per_1m if info else None)
        if pending == 0:
            cost: float | None = 0.0
        elif price_in is None or price_out is None or (kind == "chat" and completion is None):
            cost = None
        else:
            cost = round(prompt / 1e6 * price_in + (completion or 0) / 1e6 * price_out, 4)
        out.append({
            "step": label, "provider": books.get("provider"), "model": books.get("model"),
            "calls": books.get("calls", 0), "cached": books.get("cached", 0), "to_make": pending,
            "prompt_tokens": prompt, "prompt_tokens_exact": bool(books.get("pending_tokens_exact", True)),
            "max_completion_tokens": completion if kind == "chat" else 0,
            "price_per_1m_input": price_in, "price_per_1m_output": price_out,
            "price_source": free or (info.source if info else None),
            "estimated_cost_usd": cost,
        })
    return out


def _dist(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("min", "mean", "p50", "p90", "max", "total")}


def _billable_sum(result, limit: int | None) -> int:
    values = result.token_values.get("train", ()) if hasattr(result, "token_values") else ()
    if values:
        return sum(min(limit, v) if limit else v for v in values)
    return int(result.manifest["tokens"]["train"]["total"])


def _over_limit(result, limit: int | None) -> int | None:
    if limit is None:
        return None
    values = result.token_values.get("train", ()) if hasattr(result, "token_values") else ()
    return sum(1 for v in values if v > limit)
