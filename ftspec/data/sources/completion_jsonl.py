"""``format: completion_jsonl``: ``{"prompt": ..., "completion": ...}`` per line (legacy models)."""

from __future__ import annotations

from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import JsonLinesSource, completion_shape_problem


@SOURCES.register("completion_jsonl")
class CompletionJsonlSource(JsonLinesSource, Source):
    shape_problem = staticmethod(completion_shape_problem)
