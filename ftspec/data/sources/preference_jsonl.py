"""``format: preference_jsonl``: DPO preference pairs, one JSON object per line.

OpenAI's DPO line as the fine-tuning guide words it: ``input`` (``messages``, optional
``tools`` and ``parallel_tool_calls``), ``preferred_output`` and ``non_preferred_output`` (lists of
assistant messages; one each where the provider is single-turn). Structure is refused here,
located; message-level checks, identical answers and single-turn run in validation.
"""

from __future__ import annotations

from ftspec.data.preference import shape_problem
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import JsonLinesSource


@SOURCES.register("preference_jsonl")
class PreferenceJsonlSource(JsonLinesSource, Source):
    shape_problem = staticmethod(shape_problem)
