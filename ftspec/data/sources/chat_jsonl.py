"""``format: chat_jsonl``: OpenAI chat fine-tuning records, one JSON object per line.

Everything OpenAI accepts is kept as written: ``tools``, ``tool_calls``, ``tool_call_id``,
``parallel_tool_calls``, ``functions``/``function_call`` and assistant ``weight``.
"""

from __future__ import annotations

from collections.abc import Iterator

from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import chat_shape_problem, parse_json_line, read_lines


@SOURCES.register("chat_jsonl")
class ChatJsonlSource(Source):
    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            shown = self.shown(path)
            for number, text in read_lines(self, path):
                self.stats.rows_read += 1
                value = parse_json_line(self, shown, number, text)
                if value is None and text.strip() != "null":
                    continue
                problem = chat_shape_problem(value)
                if problem:
                    self.bad_row(shown, number, problem)
                    continue
                yield self.example(value, shown, number)
