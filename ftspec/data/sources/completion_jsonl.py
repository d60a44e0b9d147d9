"""``format: completion_jsonl``: ``{"prompt": ..., "completion": ...}`` per line (legacy models)."""

from __future__ import annotations

from collections.abc import Iterator

from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import completion_shape_problem, parse_json_line, read_lines


@SOURCES.register("completion_jsonl")
class CompletionJsonlSource(Source):
    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            shown = self.shown(path)
            for number, text in read_lines(self, path):
                self.stats.rows_read += 1
                value = parse_json_line(self, shown, number, text)
                if value is None and text.strip() != "null":
                    continue
                problem = completion_shape_problem(value)
                if problem:
                    self.bad_row(shown, number, problem)
                    continue
                yield self.example(value, shown, number)
