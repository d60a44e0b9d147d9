"""``json_schema``: the output is JSON valid against ``schema``, a schema file (``path``), or
the case's ``json_schema``."""

from __future__ import annotations

import json

from ftspec.evals.scorers import SCORERS, Score, Scorer
from ftspec.evals.scorers.json_valid import parse_json_output
from ftspec.util import sha256_file


@SCORERS.register("json_schema")
class JsonSchema(Scorer):
    default_field = "json_schema"

    @classmethod
    def problems(cls, options, spec, path):
        import jsonschema

        schema = options.get("schema")
        if "path" in options:
            missing = spec.file_problem(path + ("path",), options["path"])
            if missing:
                return [missing]
            file = spec.resolve(options["path"])
            try:
                schema = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return [spec.problem(path + ("path",), f"{options['path']}: not a JSON schema ({exc})")]
        if schema is not None:
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                key = "path" if "path" in options else "schema"
                return [spec.problem(path + (key,), f"invalid JSON schema: {exc.message}")]
        return []

    def needed_fields(self):
        return [] if ("schema" in self.options or "path" in self.options) else super().needed_fields()

    def _schema(self, case):
        if "schema" in self.options:
            return self.options["schema"]
        if "path" in self.options:
            return json.loads(self.context.spec.resolve(self.options["path"]).read_text(encoding="utf-8"))
        return case.get(self.options.get("field", "json_schema"))

    def fingerprint(self):
        if "path" in self.options:
            return sha256_file(self.context.spec.resolve(self.options["path"]))
        return None

    def score(self, output, case):
        import jsonschema

        ok, value, error = parse_json_output(output)
        if not ok:
            return Score(0.0, False, {"reason": error})
        validator = jsonschema.validators.validator_for(self._schema(case))(self._schema(case))
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path)
            reason = f"{where}: {errors[0].message}" if where else errors[0].message
            return Score(0.0, False, {"reason": reason})
        return Score(1.0, True)
