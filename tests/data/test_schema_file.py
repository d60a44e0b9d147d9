"""The spec schema file itself: valid JSON Schema 2020-12, and what editors are told."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from ftspec.spec.schema import schema_path, spec_schema


def test_schema_is_valid_2020_12() -> None:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False  # unknown keys are errors


def test_schema_documents_the_editor_line() -> None:
    assert "yaml-language-server: $schema=" in spec_schema()["description"]
    assert schema_path().name == "ftspec.schema.json"
