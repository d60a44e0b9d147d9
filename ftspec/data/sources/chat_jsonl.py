"""``format: chat_jsonl``: OpenAI chat fine-tuning records, one JSON object per line.

Everything OpenAI accepts is kept as written: ``tools``, ``tool_calls``, ``tool_call_id``,
``parallel_tool_calls``, ``functions``/``function_call`` and assistant ``weight``.
"""

from __future__ import annotations

from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import JsonLinesSource, chat_shape_problem


@SOURCES.register("chat_jsonl")
class ChatJsonlSource(JsonLinesSource, Source):
    shape_problem = staticmethod(chat_shape_problem)
