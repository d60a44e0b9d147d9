"""Regenerate openai-subset.json from OpenAI's published openapi.yaml (MIT-licensed).

Keeps only the paths the fake server implements and the component schemas they reach, with
``x-oaiMeta`` examples dropped. Run: python tests/graph/openapi/extract.py path/to/openapi.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

PATHS = [
    "/files", "/files/{file_id}", "/files/{file_id}/content",
    "/fine_tuning/jobs", "/fine_tuning/jobs/{fine_tuning_job_id}",
    "/fine_tuning/jobs/{fine_tuning_job_id}/cancel",
    "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints",
    "/fine_tuning/jobs/{fine_tuning_job_id}/events",
    "/models", "/models/{model}",
    "/chat/completions", "/completions", "/embeddings", "/moderations",
]


def _strip(node):
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("x-oaiMeta", "examples", "example")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _normalise(node):
    """OpenAPI 3.0 leftovers -> JSON Schema 2020-12 (``exclusiveMinimum: true``, ``nullable``)."""
    if isinstance(node, dict):
        node = {k: _normalise(v) for k, v in node.items()}
        if node.get("exclusiveMinimum") is True and "minimum" in node:
            node["exclusiveMinimum"] = node.pop("minimum")
        if node.pop("nullable", False):
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
                if "enum" in node and None not in node["enum"]:  # an enum must admit the null too
                    node["enum"] = [*node["enum"], None]
            elif "$ref" in node:  # a nullable reference: the referenced schema, or null
                node["anyOf"] = [{"$ref": node.pop("$ref")}, {"type": "null"}]
        return node
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


def _refs(node, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def main(src: str) -> None:
    doc = yaml.load(Path(src).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    paths = {p: _strip(doc["paths"][p]) for p in PATHS}
    wanted: set[str] = {"ErrorResponse"}
    _refs(paths, wanted)
    schemas: dict = {}
    todo = sorted(wanted)
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = _strip(doc["components"]["schemas"][name])
        more: set[str] = set()
        _refs(schemas[name], more)
        todo.extend(sorted(more - set(schemas)))
    # The spec's own pause example answers "status": "paused" although the enum omits it;
    # the live reference lists pausing/paused too, so the fake server may send them.
    status = schemas["FineTuningJob"]["properties"]["status"]
    status["enum"] = [*status["enum"], "pausing", "paused"]
    out = {
        "license": "MIT; subset of https://github.com/openai/openai-openapi openapi.yaml "
                   f"(info.version {doc['info']['version']}), copyright OpenAI",
        "paths": _normalise(paths),
        "components": {"schemas": _normalise(dict(sorted(schemas.items())))},
    }
    target = Path(__file__).with_name("openai-subset.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{target}: {len(paths)} paths, {len(schemas)} schemas")


def _closure(doc, names: set[str]) -> dict:
    schemas: dict = {}
    todo = sorted(names)
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = _strip(doc["components"]["schemas"][name])
        more: set[str] = set()
        _refs(schemas[name], more)
        todo.extend(sorted(more - set(schemas)))
    return schemas


def preference(src: str) -> None:
    """The DPO training-line schema (``FineTunePreferenceRequestInput``): the 2026-08 description
    dropped the input-format schemas, the 2025-04 one still has it. It names the sides
    ``*_completion``; the fine-tuning guide and every client use ``*_output`` (the fake server
    maps the guide's names onto the schema's before it validates)."""
    doc = yaml.load(Path(src).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas = _closure(doc, {"FineTunePreferenceRequestInput"})
    out = {
        "license": "MIT; subset of https://github.com/openai/openai-openapi openapi.yaml "
                   f"(info.version {doc['info']['version']}), copyright OpenAI",
        "paths": {},
        "components": {"schemas": _normalise(dict(sorted(schemas.items())))},
    }
    target = Path(__file__).with_name("openai-preference-input.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{target}: {len(schemas)} schemas")


if __name__ == "__main__":
    # no default path: a path on one machine means nothing on another
    if sys.argv[1:2] == ["--preference"]:
        if len(sys.argv) != 3:
            sys.exit("usage: python tests/graph/openapi/extract.py --preference path/to/openai-openapi-2025-04.yaml")
        preference(sys.argv[2])
    else:
        if len(sys.argv) != 2:
            sys.exit("usage: python tests/graph/openapi/extract.py path/to/openapi.yaml")
        main(sys.argv[1])
