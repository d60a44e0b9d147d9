"""Checks against OpenAI's published OpenAPI description, for fakes and servers under test.

``SchemaBook(path)`` loads an OpenAPI subset (the tests carry ``tests/graph/openapi/openai-subset.json``,
extracted from OpenAI's MIT-licensed ``openapi.yaml``) and validates request and response bodies
with ``$ref``s resolved. The fake OpenAI server checks what it receives and sends with it;
``ftspec serve``'s tests check every body and streamed chunk the server answers.
Needs jsonschema and referencing (test dependencies, never imported by ftspec itself).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class SchemaBook:
    """Operations of the OpenAPI subset, with validators that resolve ``$ref``s."""

    def __init__(self, path: Path) -> None:
        self.doc = json.loads(Path(path).read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:openai", resource)
        self.routes = [(self._regex(p), p) for p in self.doc["paths"]]
        self._cache: dict[str, Draft202012Validator] = {}

    @staticmethod
    def _regex(template: str) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for regex, template in self.routes:
            if regex.match(path):
                op = self.doc["paths"][template].get(method.lower())
                return (template, op) if op else None
        return None

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._cache:
            ref = schema.get("$ref", "")
            target = {"$ref": "urn:openai" + ref} if ref.startswith("#/") else schema
            self._cache[key] = Draft202012Validator(target, registry=self.registry)
        return self._cache[key]

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in self.validator(schema).iter_errors(instance)][:5]

    def error_schema(self) -> dict[str, Any]:
        return {"$ref": "#/components/schemas/ErrorResponse"}

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """What breaks the schema in a JSON answer to ``method path`` (a path under ``/v1``
        or without it); an error status is checked against ``ErrorResponse``."""
        path = path.removeprefix("/v1")
        if status >= 400:
            return self.errors(self.error_schema(), body)
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path} is not in the OpenAPI subset"]
        schema = (found[1]["responses"].get(str(status), {}).get("content", {})
                  .get("application/json", {}).get("schema"))
        if schema is None:
            return [f"{method} {path} declares no JSON answer for status {status}"]
        return self.errors(schema, body)

    def request_errors(self, method: str, path: str, body: Any) -> list[str]:
        found = self.operation(method, path.removeprefix("/v1"))
        if found is None:
            return [f"{method} {path} is not in the OpenAPI subset"]
        schema = found[1].get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        return self.errors(schema, body) if schema is not None else []
