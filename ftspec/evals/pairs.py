"""``ftspec eval SPEC --compare``: two answers per eval case, for a person (or a judge) to choose.

Three ways to get the two answers: two samples of one model (``n=2``, the chat product's "which
answer is better?"), one answer each from two models (``--against``: the parent, the base
model, a candidate), or the model's answer beside the answer a recorded baseline froze
(``--against baseline``: the old OpenAI model's ``baselines/<spec>.json``, which answers without
the old model running). A case the baseline did not record gets no pair, and is counted. The pairs are written to ``reports/<spec>/compare.json``; the compare page
(``ftspec.evals.compare_server``) shows them side by side and saves each choice in the choices
file (``ftspec.data.choices``), which a spec reads back as a preference source.

Each pair has a stable id (``<eval>:<case id>``); which model is shown on the left is decided by
a hash of that id, so neither model always sits on the same side. Generation is resumable: the
pairs file is rewritten (atomically) after every case, and a rerun asks only for the cases it
does not hold yet, so a crash never pays for an answer twice.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError
from ftspec.util import atomic_write_text, sha256_text

PAIRS_VERSION = 1
AGAINST_BASELINE = "baseline"  # ``--against baseline``: the spec's recorded baseline answers


@dataclass
class Pairs:
    path: Path
    spec_name: str
    models: tuple[str, str]  # (candidate, other): the same model twice for n=2
    pairs: list[dict[str, Any]] = field(default_factory=list)
    new_generations: int = 0
    not_recorded: int = 0  # ``--against baseline``: cases the baseline has no answer for


def pairs_path(project_root: Path, spec_name: str) -> Path:
    return Path(project_root) / "reports" / spec_name / "compare.json"


def load_pairs(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no compare pairs yet; make them with: ftspec eval SPEC --compare") from None
    except json.JSONDecodeError as exc:
        raise EvalError(f"{path}:{exc.lineno}:{exc.colno}: compare pairs are not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("ftspec_pairs") != PAIRS_VERSION:
        raise EvalError(f"{path}: not an ftspec compare file (version {PAIRS_VERSION})")
    return data


def left_is_first(pair_id: str) -> bool:
    return int(sha256_text(pair_id)[:2], 16) % 2 == 0


def make_pairs(spec, *, eval_name: str | None = None, model: str | None = None, against: str | None = None,
               provider: Any = None) -> Pairs:
    """Two answers per case of ``spec``'s eval sets: ``model`` (default: the lockfile's) twice,
    or ``model`` and ``against``; written to the pairs file as they arrive."""
    from ftspec.data.templates import get_template
    from ftspec.evals.cases import load_cases
    from ftspec.evals.evaluate import lock_of, selected_evals
    from ftspec.evals.runner import eval_request, find_eval
    from ftspec.project import project_root
    from ftspec.providers import provider_for_spec

    model = model or lock_of(spec).get("model")
    if not model:
        raise EvalError(f"{spec.path.name}: no model to compare (the lockfile names none); build it or pass --model ID")
    root = project_root(spec.path)
    recorded = _recorded_baseline(spec, root) if against == AGAINST_BASELINE else None
    other = str(recorded["model"]) if recorded is not None else (against or model)
    out = Pairs(pairs_path(root, spec.name), spec.name, (model, other))
    kept = _kept(out.path, out.models)
    template = get_template(spec)
    own = provider is None
    try:
        for ev in selected_evals(spec, eval_name):
            sampling = dict(ev.get("sampling") or {})
            frozen = recorded_answers(recorded, ev["name"]) if recorded is not None else None
            for case in load_cases(spec, find_eval(spec, ev["name"])):
                pair_id = f"{ev['name']}:{case.id}"
                if frozen is not None and case.id not in frozen:
                    out.not_recorded += 1
                    continue
                if pair_id in kept:
                    out.pairs.append(kept[pair_id])
                    continue
                payload = template.prompt_for(messages=case.messages, prompt=case.prompt)
                if provider is None:  # only when something is to be generated: a resumed run may need none
                    provider = provider_for_spec(spec, project_root=root)
                request = eval_request(template, payload, model, sampling)
                if frozen is not None:
                    first, second = provider.chat(dataclasses.replace(request, n=1)).choices[0], frozen[case.id]
                    out.new_generations += 1
                else:
                    first, second = _answers(provider, request, other)
                    out.new_generations += 2
                out.pairs.append(_pair(pair_id, ev["name"], payload, (model, first), (other, second)))
                _write(out)
    finally:
        if own and provider is not None:
            provider.close()
    _write(out)
    return out


def _recorded_baseline(spec, root: Path) -> dict[str, Any]:
    """The spec's recorded baseline (its ``baseline:`` file, else ``baselines/<spec>.json``)."""
    from ftspec.evals.baseline import baseline_path, load_baseline

    return load_baseline(spec.baseline or baseline_path(root, spec.name))


def recorded_answers(baseline: dict[str, Any], eval_name: str) -> dict[str, str]:
    """``case id -> answer`` the baseline recorded for one eval set (its default variant)."""
    from ftspec.evals.baseline import recorded_runs

    return {case_id: run["outputs"][0] for (case_id, variant), run in recorded_runs(baseline, eval_name).items()
            if variant == "default" and run.get("outputs")}


def _answers(provider, request, other: str) -> tuple[str, str]:
    """The candidate's answer and the other's: n=2 in one call where the provider takes it."""
    if request.model == other:
        if getattr(provider.capabilities, "multiple_choices", False):
            choices = provider.chat(dataclasses.replace(request, n=2)).choices
            if len(choices) >= 2:
                return choices[0], choices[1]
        seed = (request.seed or 0) + 1  # a second sample, not a cached copy of the first
        return (provider.chat(dataclasses.replace(request, n=1)).choices[0],
                provider.chat(dataclasses.replace(request, n=1, seed=seed)).choices[0])
    return (provider.chat(dataclasses.replace(request, n=1)).choices[0],
            provider.chat(dataclasses.replace(request, n=1, model=other)).choices[0])


def _pair(pair_id: str, eval_name: str, payload: Any, a: tuple[str, str], b: tuple[str, str]) -> dict[str, Any]:
    messages = payload if isinstance(payload, list) else [{"role": "user", "content": str(payload)}]
    left, right = (a, b) if left_is_first(pair_id) else (b, a)
    return {"id": pair_id, "eval": eval_name, "input": messages,
            "left": {"model": left[0], "text": left[1]}, "right": {"model": right[0], "text": right[1]}}


def _kept(path: Path, models: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """Pairs an earlier (maybe interrupted) run made for the same two models."""
    try:
        data = load_pairs(path)
    except EvalError:
        return {}
    if tuple(data.get("models") or ()) != models:
        return {}
    return {p["id"]: p for p in data.get("pairs") or []}


def _write(out: Pairs) -> None:
    data = {"ftspec_pairs": PAIRS_VERSION, "spec": out.spec_name, "models": list(out.models), "pairs": out.pairs}
    atomic_write_text(out.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def eval_preference(project_root: Path, spec_name: str, eval_name: str, model: str) -> dict[str, Any] | None:
    """``model``'s record on the compare pairs of one eval set, from the choices file: wins,
    losses, ties, both bad, the win rate and the other model; None before any choice."""
    from ftspec.data.choices import choices_path, load_choices, win_rate

    path = choices_path(project_root, spec_name)
    if not path.is_file():
        return None
    decisions = {k: v for k, v in load_choices(path).items() if isinstance(v, dict) and v.get("eval") == eval_name}
    record = win_rate(decisions, model)
    if record["wins"] + record["losses"] + record["ties"] + record["both_bad"] == 0:
        return None
    others = sorted({v[s].get("model") for v in decisions.values() for s in ("left", "right")} - {model})
    return {**record, "against": others[0] if len(others) == 1 else others,
            "choices": path.relative_to(project_root).as_posix()}
