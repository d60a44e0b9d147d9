"""promptfoo: one eval set as a ``promptfooconfig`` YAML (promptfoo 0.121's config format).

Each eval case becomes a test (``description`` = the case id, the messages or prompt as vars),
each scorer with a promptfoo equivalent an assertion on it, named by ``metric`` (the scorer's
label in ftspec's report) and carrying its ``weight``. The provider is promptfoo's ``openai``
one pointed at ``ftspec serve`` (local models) or the provider's OpenAI-compatible endpoint,
with the eval set's sampling, so promptfoo asks the model what ``ftspec eval`` asks it.

Assertion types were checked against promptfoo 0.121.20's ``BaseAssertionTypesSchema``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ftspec.evals.exports import EVAL_EXPORTS, Endpoint, ExportedEval
from ftspec.evals.scorers import field_values, scorer_label

PROMPTFOO_VERSION = "0.121.20"
"""The promptfoo release the export is tested with (``npx promptfoo@0.121.20``)."""

TRIM = "output.trim()"  # ftspec scorers compare the stripped output
CHAT_PROMPT = "{{ messages | dump }}"  # promptfoo parses a JSON array prompt as chat messages
COMPLETION_PROMPT = "{{ prompt }}"

# scorer -> why promptfoo cannot check it the same way
NOT_EXPORTED = {
    "similarity": "promptfoo's `similar` embeds with its own provider, so its scores are not ftspec's",
    "judge": "promptfoo's `llm-rubric` grades with its own prompt and grader, so its verdicts are not ftspec's",
    "python": "ftspec's python scorers take (output, case), promptfoo's python assertions get_assert(output, context)",
}

Assertion = dict[str, Any]
AssertionMaker = Callable[[dict[str, Any], Any, Any], "list[Assertion]"]


def _exact(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    ideals = [w.strip() for w in field_values(case, options.get("field", "ideal"))]
    if len(ideals) == 1 and not options.get("ignore_case"):
        return [{"type": "equals", "value": ideals[0], "transform": TRIM}]
    fold = ".toLowerCase()" if options.get("ignore_case") else ""
    wanted = json.dumps([w.lower() if fold else w for w in ideals], ensure_ascii=False)
    return [{"type": "javascript", "value": f"{wanted}.includes(output.trim(){fold})"}]


def _keywords(options: dict[str, Any], case: Any, default_field: str) -> list[str]:
    if "values" in options:
        return [str(v) for v in options["values"]]
    return field_values(case, options.get("field", default_field))


def _contains(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    words = _keywords(options, case, "must_include")
    kind = "icontains-all" if options.get("ignore_case", True) else "contains-all"
    return [{"type": kind, "value": words}] if words else []


def _not_contains(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    words = _keywords(options, case, "must_not_include")
    kind = "not-icontains-any" if options.get("ignore_case", True) else "not-contains-any"
    return [{"type": kind, "value": words}] if words else []


def _regex(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    pattern = options.get("pattern") or case.get(options.get("field", "regex"))
    return [{"type": "regex", "value": pattern}] if pattern else []


def _json_valid(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    return [{"type": "is-json", "transform": TRIM}]


def _json_schema(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    if "schema" in options:
        schema = options["schema"]
    elif "path" in options:
        schema = json.loads(spec.resolve(options["path"]).read_text(encoding="utf-8"))
    else:
        schema = case.get(options.get("field", "json_schema"))
    return [{"type": "is-json", "value": schema, "transform": TRIM}] if schema is not None else []


def _length(options: dict[str, Any], case: Any, spec: Any) -> list[Assertion]:
    low, high = options.get("min"), options.get("max")
    if options.get("unit") == "words":
        bounds = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        return [{"type": "word-count", "value": bounds}]
    checks = ([f"output.trim().length >= {int(low)}"] if low is not None else []) + (
        [f"output.trim().length <= {int(high)}"] if high is not None else [])
    return [{"type": "javascript", "value": " && ".join(checks)}]


ASSERTIONS: dict[str, AssertionMaker] = {
    "exact": _exact, "contains": _contains, "not_contains": _not_contains, "regex": _regex,
    "json_valid": _json_valid, "json_schema": _json_schema, "length": _length,
}
"""ftspec scorer -> the promptfoo assertions that check the same thing."""


@EVAL_EXPORTS.register("promptfoo")
def export_promptfoo(spec: Any, ev: dict[str, Any], cases: list[Any], endpoint: Endpoint) -> ExportedEval:
    from ftspec.data.templates import get_template
    from ftspec.evals.runner import eval_request

    template = get_template(spec)
    scorers = list(ev.get("scorers") or [])
    notes = _not_exported(ev, scorers)
    sampling = dict(ev.get("sampling") or {})
    tests = []
    request = None
    for case in cases:
        payload = template.prompt_for(messages=case.messages, prompt=case.prompt)
        request = eval_request(template, payload, endpoint.model, sampling)
        tests.append(_test(case, spec, scorers, _vars(template.kind, case, payload, endpoint)))
    config = {
        "description": f"{spec.name}/{ev['name']}" + (f": {ev['description']}" if ev.get("description") else ""),
        "prompts": [COMPLETION_PROMPT if template.kind == "completion" else CHAT_PROMPT],
        "providers": [_provider(spec, template.kind, endpoint, request)],
        "tests": tests,
    }
    return ExportedEval(ev["name"], f"{ev['name']}.yaml", _render(spec, ev, config, notes), notes)


def _vars(kind: str, case: Any, payload: Any, endpoint: Endpoint) -> dict[str, Any]:
    """What the prompt renders: the case as written for ftspec serve (it applies the spec's
    template), the template's output for a provider's API (as ``ftspec eval`` sends it)."""
    if kind == "completion":
        return {"prompt": case.prompt if endpoint.via_serve else payload}
    if not endpoint.via_serve:
        return {"messages": payload}
    return {"messages": case.messages if case.messages is not None else [{"role": "user", "content": case.prompt}]}


def _test(case: Any, spec: Any, scorers: list[dict[str, Any]], variables: dict[str, Any]) -> dict[str, Any]:
    asserts: list[Assertion] = []
    for index, config in enumerate(scorers):
        (name, options), = config.items()
        maker = ASSERTIONS.get(name)
        if maker is None:
            continue
        for item in maker(dict(options or {}), case, spec):
            item["metric"] = scorer_label(scorers, index)
            if (options or {}).get("weight") is not None:
                item["weight"] = options["weight"]
            asserts.append(item)
    test: dict[str, Any] = {"description": case.id, "vars": variables, "assert": asserts,
                            "metadata": {"ftspec_case": case.id}}
    if case.tags:
        test["metadata"]["tags"] = list(case.tags)
    return test


def _provider(spec: Any, kind: str, endpoint: Endpoint, request: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if endpoint.base_url:
        config["apiBaseUrl"] = endpoint.base_url
    config["apiKeyEnvar"] = endpoint.api_key_env
    if not endpoint.key_required:
        config["apiKeyRequired"] = False
    if request is not None:
        for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "seed"):
            value = getattr(request, key, None)
            if value is not None:
                config[key] = value
        if request.stop:
            config["stop"] = list(request.stop)
    return {"id": f"openai:{'completion' if kind == 'completion' else 'chat'}:{endpoint.model}",
            "label": spec.name, "config": config}


def _not_exported(ev: dict[str, Any], scorers: list[dict[str, Any]]) -> list[str]:
    notes = []
    for index, config in enumerate(scorers):
        name = next(iter(config))
        if name not in ASSERTIONS:
            why = NOT_EXPORTED.get(name, "no promptfoo equivalent")
            notes.append(f"{ev['name']}: scorer '{scorer_label(scorers, index)}' not exported: {why}")
    if ev.get("matrix"):
        notes.append(f"{ev['name']}: matrix not exported: only the eval set's own sampling is")
    if int((ev.get("sampling") or {}).get("n", 1)) > 1:
        notes.append(f"{ev['name']}: sampling.n not exported: promptfoo scores one output per test")
    if "min_pass_rate" in ev:
        notes.append(f"{ev['name']}: min_pass_rate not exported: promptfoo has no pass-rate gate per config")
    return notes


def _render(spec: Any, ev: dict[str, Any], config: dict[str, Any], notes: list[str]) -> str:
    import yaml

    head = [f"# promptfoo config for the eval set '{ev['name']}' of spec '{spec.name}', written by",
            "# `ftspec evals export --format promptfoo` (regenerate it rather than editing it).",
            f"# Tested with promptfoo {PROMPTFOO_VERSION}: npx promptfoo@{PROMPTFOO_VERSION} eval -c <this file>"]
    head += [f"# {note}" for note in notes]
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body
