"""``ftspec migrate SPEC --to PROVIDER``: the same model, rebuilt on a provider that keeps running.

Writes a new spec beside the old one (the old spec and its lockfile stay, the record of what
ran): the provider and base model changed, the hyperparameters mapped by the target provider's
own hook (``Provider.migrate_hyperparameters``; no provider is named here), the same sources,
transforms, split, template and eval sets, and ``baseline:`` naming the old model's recorded
answers, so ``ftspec build`` scores the new model beside them and ``ftspec diff OLD NEW`` shows
parity per case without calling the old model. Every decision is a comment in the new spec.

The new spec is written atomically and only when its bytes change: migrating again with nothing
changed rewrites nothing. A file already at the target path is replaced only with ``force``
and only when this command wrote it from this spec, so hand tuning is never lost silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, did_you_mean

HEADER = "# Migrated by `ftspec migrate` from "
# spec keys carried over unchanged (provider, base_model, providers, hyperparameters, baseline
# and name are the migration's own)
CARRIED = ("description", "job", "sources", "transforms", "review", "template", "split")


class MigrateError(FtspecError):
    """A migration that cannot be written without guessing."""


@dataclass
class Migrated:
    path: Path
    rel: str
    provider: str
    base_model: str
    baseline: str | None
    changed: bool
    notes: list[str] = field(default_factory=list)


def default_out(spec_path: Path, provider: str) -> Path:
    return spec_path.with_name(f"{spec_path.stem}-{provider}.yaml")


def migrate_spec(spec_path: Path, to: str, *, base_model: str | None = None, out: Path | None = None,
                 no_baseline: bool = False, force: bool = False) -> Migrated:
    """Write the migrated spec (see the module docstring); returns where and what."""
    from ftspec.evals.baseline import BaselineError, baseline_path, load_baseline
    from ftspec.evals.evaluate import lock_of
    from ftspec.project import project_root
    from ftspec.providers import provider_class, provider_names
    from ftspec.spec.loader import load_spec
    from ftspec.util import atomic_write_text

    spec_path = Path(spec_path)
    spec = load_spec(spec_path, check_files=False)
    label = spec_path.as_posix()
    names = provider_names()
    if to not in names:
        raise MigrateError(f"migrate: unknown provider '{to}'{did_you_mean(to, names)}; known: {', '.join(names)}")
    if to == spec.provider:
        raise MigrateError(f"{label}: the spec is already on provider '{to}'; nothing to migrate")
    target, source = provider_class(to), provider_class(spec.provider)
    chosen = base_model or target.default_base_model()
    if not chosen:
        raise MigrateError(f"migrate: provider '{to}' has no default base model in ftspec's table; "
                           f"pass --base-model MODEL")
    out = Path(out) if out is not None else default_out(spec_path, to)
    if out.resolve().parent != spec_path.resolve().parent:
        raise MigrateError(f"migrate: --out {out} must be in the old spec's folder ({spec_path.parent.as_posix() or '.'}), "
                           "so the spec's relative data and eval paths stay right")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", out.stem):
        raise MigrateError(f"migrate: --out {out}: the file name is the new spec's name, so it must be lowercase "
                           "letters, digits, '-' or '_' (at most 64)")
    if out.resolve() == spec_path.resolve():
        raise MigrateError(f"migrate: --out {out} is the old spec itself; the old spec stays as the record of what ran")
    root = project_root(spec.path)
    lock = lock_of(spec)
    old_model = lock.get("model")

    baseline_rel: str | None = None
    baseline: dict[str, Any] | None = None
    if not no_baseline:
        candidates = [baseline_path(root, spec.name)] + ([spec.baseline] if spec.baseline else [])
        found = next((p for p in candidates if p is not None and p.is_file()), None)
        if found is None:
            raise MigrateError(
                f"{label}: no recorded baseline of the old model ({baseline_path(root, spec.name).relative_to(root).as_posix()} "
                f"is missing); record its answers while it still runs: ftspec eval {label} --record-baseline",
                hint="or migrate with --no-baseline when the old model cannot answer any more")
        try:
            baseline = load_baseline(found)
        except BaselineError as exc:
            raise MigrateError(exc.message) from None
        baseline_rel = _relative(found, out.parent)
        missing = [ev["name"] for ev in spec.evals if ev["name"] not in (baseline.get("evals") or {})]
        if missing:
            raise MigrateError(f"{found.relative_to(root).as_posix()}: the baseline has no answers for eval set(s) "
                               f"{', '.join(missing)}; record them: ftspec eval {label} --record-baseline")

    job = lock.get("job") or {}
    ran = {**{k: v for k, v in spec.hyperparameters.items() if k in ("n_epochs", "batch_size", "learning_rate_multiplier")},
           **{k: v for k, v in (job.get("hyperparameters") or {}).items()
              if k in ("n_epochs", "batch_size", "learning_rate_multiplier")}}
    mapped = target.migrate_hyperparameters(ran, source=source)
    provider_block = (spec.raw.get("providers") or {}).get(to)
    old_options = (spec.raw.get("hyperparameters") or {}).get(to)
    options = {**(old_options or {}), **mapped.options}
    if not getattr(target.capabilities, "completions", False) and spec.template.get("type") == "completion":
        raise MigrateError(f"{label}: template 'completion' (a legacy prompt/completion model) cannot train on "
                           f"provider '{to}', which has no completion models; migrate to one that has")

    text = _spec_text(spec, _show(spec.path, root), _show(out, root), to, chosen, base_model is not None, old_model,
                      baseline_rel, baseline, mapped, options, provider_block, no_baseline)
    changed = not (out.is_file() and out.read_text(encoding="utf-8") == text)
    if changed and out.is_file():
        if not out.read_text(encoding="utf-8").startswith(f"{HEADER}{spec_path.name} "):
            raise MigrateError(f"migrate: {out.as_posix()} already exists and was not written by `ftspec migrate` "
                               f"from {spec_path.name}; not overwritten (pass --out NEW.yaml)")
        if not force:  # edited since, or migrated with other options: never lose someone's tuning
            raise MigrateError(f"migrate: {out.as_posix()} already exists and differs from what this migration "
                               "writes (edited since, or other options); not overwritten (pass --force to "
                               "replace it, or --out NEW.yaml)")
    if changed:
        _check(text, out)
        atomic_write_text(out, text)
    return Migrated(path=out, rel=_show(out, root), provider=to, base_model=chosen, baseline=baseline_rel,
                    changed=changed, notes=mapped.notes)


def _check(text: str, out: Path) -> None:
    """The new spec must load: a migration never leaves a spec that ``ftspec build`` rejects."""
    from ftspec.spec.loader import load_spec_text

    load_spec_text(text, out, check_files=False)


def _relative(path: Path, folder: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def _show(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _yaml(data: Any) -> list[str]:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False).splitlines()


def _spec_text(spec, old_rel: str, new_rel: str, to: str, base_model: str, explicit_base: bool, old_model: str | None,
               baseline_rel: str | None, baseline: dict[str, Any] | None, mapped, options: dict[str, Any],
               provider_block: dict[str, Any] | None, no_baseline: bool) -> str:
    name = Path(new_rel).stem
    lines = [
        f"{HEADER}{spec.path.name} (provider {spec.provider}, base {spec.base_model}"
        + (f", model {old_model})" if old_model else ")"),
        f"# The old spec and its lockfile stay as the record of what ran. Build this one: ftspec build {new_rel}",
        f"# base_model: {base_model} ("
        + ("--base-model" if explicit_base else f"the default for '{to}' in ftspec's base-model table") + ")",
        "# hyperparameters, from what the old job ran with:",
        *[f"#   {note}" for note in mapped.notes],
    ]
    if baseline_rel and baseline is not None:
        lines += [
            f"# baseline: the old model's answers ({baseline.get('model')}, recorded {baseline.get('recorded_on', '?')}),",
            "#   scored by this spec's scorers beside the new model's, without calling the old model.",
            f"#   Compare: ftspec diff {old_rel} {new_rel} [--fail-on-regression]",
        ]
    elif no_baseline:
        lines.append("# baseline: none was recorded (--no-baseline); the evals measure the new model alone")
    if spec.evals:
        lines.append("# evals: the old spec's sets; they run on every build (build: true), so the lock and")
        lines.append("#   the reports hold the new model's answers for ftspec diff")
    body: dict[str, Any] = {"ftspec": spec.raw.get("ftspec", 1), "name": name, "provider": to, "base_model": base_model}
    if provider_block:
        body["providers"] = {to: provider_block}
    for key in CARRIED:
        if key in spec.raw:
            body[key] = spec.raw[key]
    hp = dict(mapped.values)
    if options:
        hp[to] = options
    body["hyperparameters"] = hp
    if spec.evals:
        body["evals"] = [{k: v for k, v in ev.items() if k != "build"} for ev in spec.evals]
    if baseline_rel:
        body["baseline"] = baseline_rel
    lines += _yaml(json.loads(json.dumps(body)))
    return "\n".join(lines) + "\n"
