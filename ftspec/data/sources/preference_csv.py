"""``format: preference_csv``: preference pairs as a table, one pair per row.

``columns: {prompt: question, preferred: good, non_preferred: bad, system: sys}`` maps the
header (defaults: ``prompt``, ``preferred``, ``non_preferred``; ``system`` is optional). The
source-level ``system:`` option adds a system message to every row without a system column.
Quoting, encodings and located row errors are the ``csv`` format's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftspec.data.preference import preference_record
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES
from ftspec.data.sources.csv_table import CsvSource
from ftspec.errors import DataError, Location, Problem, did_you_mean

REQUIRED = ("prompt", "preferred", "non_preferred")
OPTIONAL = ("system",)


@SOURCES.register("preference_csv")
class PreferenceCsvSource(CsvSource):
    @classmethod
    def check(cls, source, spec):  # type: ignore[no-untyped-def]
        problems = super().check(source, spec)
        for key in source.options.get("columns") or {}:
            if key not in REQUIRED + OPTIONAL:
                problems.append(spec.problem(
                    ("sources", source.index, "columns", key),
                    f"preference_csv maps {', '.join(REQUIRED + OPTIONAL)}; '{key}' is not one of them"
                    f"{did_you_mean(key, REQUIRED + OPTIONAL)}"))
        return problems

    def _mapping(self, header: list[str], shown: str) -> dict[str, str]:
        given: dict[str, str] = dict(self.source.options.get("columns") or {})
        columns = {key: given.get(key, key) for key in REQUIRED}
        if "system" in given or "system" in header:
            columns["system"] = given.get("system", "system")
        for key, column in columns.items():
            if column not in header:
                raise DataError([Problem(Location(shown, 1), f"column '{column}' (columns.{key}) not in the header"
                                                             f"{did_you_mean(column, header)}; header: {', '.join(header)}")])
        return columns

    def _pairs(self, rows, shown: str) -> Iterator[Example]:
        default_system = self.source.options.get("system")
        for line, cells in rows:
            missing = next((k for k in REQUIRED if not cells[k].strip()), None)
            if missing is not None:
                side = {"preferred": "preferred_output", "non_preferred": "non_preferred_output"}.get(missing, "input")
                self.bad_row(shown, line, f"missing_{side}: the '{missing}' cell is empty (a pair needs a prompt and both answers)")
                continue
            messages: list[dict[str, Any]] = []
            system = cells.get("system") or default_system
            if system:
                messages.append({"role": "system", "content": system})
            messages.append({"role": "user", "content": cells["prompt"]})
            yield self.example(preference_record(messages, cells["preferred"], cells["non_preferred"]), shown, line)
