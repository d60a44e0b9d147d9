"""``python``: a user function ``score(output, case) -> float | bool``.

``function`` is ``path/to/file.py:name`` (relative to the spec) or ``package.module:name``. A
bool is the verdict; a number passes when it reaches ``threshold`` (default 0.5). A function
that raises marks that case errored with the exception's message; the run goes on.
"""

from __future__ import annotations

import importlib
import importlib.util
from numbers import Real

from ftspec.errors import EvalError
from ftspec.evals.scorers import SCORERS, Score, Scorer
from ftspec.util import sha256_file


def _split(target: str) -> tuple[str, str]:
    where, _, name = target.rpartition(":")
    return where, name


@SCORERS.register("python")
class Python(Scorer):
    @classmethod
    def problems(cls, options, spec, path):
        where, _ = _split(options["function"])
        missing = spec.file_problem(path + ("function",), where) if where.endswith(".py") else None
        return [missing] if missing else []

    def fingerprint(self):
        where, _ = _split(self.options["function"])
        return sha256_file(self.context.spec.resolve(where)) if where.endswith(".py") else where

    def function(self):
        if not hasattr(self, "_function"):
            target = self.options["function"]
            try:
                self._function = _load(self.context.spec, target)
            except Exception as exc:  # noqa: BLE001 - user code: say what failed, once
                raise EvalError(f"python scorer '{target}': cannot load: {type(exc).__name__}: {exc}") from None
        return self._function

    def score(self, output, case):
        function = self.function()
        try:
            result = function(output, {"id": case.id, **case.data})
        except Exception as exc:  # noqa: BLE001 - user code: the case errors, the run continues
            return Score(0.0, False, error=f"{self.options['function']} raised {type(exc).__name__}: {exc}")
        if isinstance(result, bool):
            return Score(1.0 if result else 0.0, result)
        if isinstance(result, Real):
            threshold = float(self.options.get("threshold", 0.5))
            return Score(float(result), float(result) >= threshold, {"threshold": threshold})
        return Score(0.0, False, error=f"{self.options['function']} returned {type(result).__name__}, not a float or bool")


def _load(spec, target: str):
    where, name = _split(target)
    if where.endswith(".py"):
        file = spec.resolve(where)
        module_spec = importlib.util.spec_from_file_location(f"ftspec_user_scorer_{file.stem}", file)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    function = getattr(module, name)
    if not callable(function):
        raise TypeError(f"'{name}' is not a function")
    return function
