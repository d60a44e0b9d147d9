"""``format: csv``: a table whose ``columns`` map to prompt/completion or role/content.

* ``columns: {prompt: question, completion: answer}`` -> one example per row.
* ``columns: {role: speaker, content: text, conversation: chat_id}`` -> consecutive rows with
  the same conversation id form one chat example (no ``conversation`` column: the whole file
  is one conversation). Rows of a conversation must be contiguous.

Without ``columns`` the header decides: ``prompt``/``completion`` or ``role``/``content``
(plus ``conversation``/``conversation_id`` when present). ``.tsv`` files are tab-separated;
``options: {delimiter: ";"}`` sets another delimiter. ``system:`` adds a system message.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftspec.data.encoding import decode_error, locate_decode_error, open_text
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source
from ftspec.data.sources._lines import resolve_encoding
from ftspec.errors import DataError, Location, Problem, did_you_mean

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long answers are normal in chat data


@SOURCES.register("csv")
class CsvSource(Source):
    options = frozenset({"columns", "system", "options"})

    @classmethod
    def check(cls, source, spec):  # type: ignore[no-untyped-def]
        problems = super().check(source, spec)
        delimiter = (source.options.get("options") or {}).get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                      or delimiter in "\"\r\n"):
            problems.append(spec.problem(("sources", source.index, "options", "delimiter"),
                                         f"a CSV delimiter is one character other than a quote or a "
                                         f"newline, got {delimiter!r}"))
        return problems

    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            yield from self._read_file(path)

    def _read_file(self, path: Path) -> Iterator[Example]:
        shown = self.shown(path)
        fh, encoding = open_text(path, resolve_encoding(self, path), shown=shown)
        delimiter = (self.source.options.get("options") or {}).get("delimiter") or (
            "\t" if path.suffix.lower() == ".tsv" else ",")
        self._record_start = 1
        with fh:
            try:
                # strict: a stray quote is an error at its record, never a field that
                # silently swallows the physical rows after it
                reader = csv.reader(fh, delimiter=delimiter, strict=True)
                header = next(reader, None)
                if header is None:
                    return
                header = [h.strip().lstrip("\ufeff") for h in header]
                mapping = self._mapping(header, shown)
                index = {key: header.index(column) for key, column in mapping.items()}
                rows = self._rows(reader, index, shown)
                if "prompt" in index:
                    yield from self._pairs(rows, shown)
                else:
                    yield from self._conversations(rows, shown, "conversation" in index)
            except UnicodeDecodeError as exc:
                raise DataError([locate_decode_error(path, encoding, shown) or decode_error(shown, 1, encoding, exc)]) from None
            except csv.Error as exc:
                start = self._record_start
                spans = f" (the record starting at line {start} runs to line {reader.line_num})" \
                    if reader.line_num > start else ""
                raise DataError([Problem(Location(shown, start),
                                         f"invalid CSV: {exc}; check the quotes{spans}")]) from None

    def _mapping(self, header: list[str], shown: str) -> dict[str, str]:
        columns: dict[str, str] = dict(self.source.options.get("columns") or {})
        if not columns:
            lower = {h.lower(): h for h in header}
            if "prompt" in lower and "completion" in lower:
                columns = {"prompt": lower["prompt"], "completion": lower["completion"]}
            elif "role" in lower and "content" in lower:
                columns = {"role": lower["role"], "content": lower["content"]}
                for name in ("conversation", "conversation_id"):
                    if name in lower:
                        columns["conversation"] = lower[name]
                        break
            else:
                raise DataError([Problem(Location(shown, 1), "header has neither prompt/completion nor role/content columns; set `columns:` on the source")])
        pc, rc = {"prompt", "completion"} & set(columns), {"role", "content"} & set(columns)
        if pc and rc or not (pc == {"prompt", "completion"} or rc == {"role", "content"}):
            raise DataError([Problem(Location(shown, 1), "`columns` must map prompt and completion, or role and content (+ conversation)")])
        for key, column in columns.items():
            if key not in ("prompt", "completion", "role", "content", "conversation"):
                raise DataError([Problem(Location(shown, 1), f"`columns.{key}` is not used by the csv format")])
            if column not in header:
                raise DataError([Problem(Location(shown, 1), f"column '{column}' (columns.{key}) not in the header{did_you_mean(column, header)}; header: {', '.join(header)}")])
        return columns

    def _rows(self, reader, index: dict[str, int], shown: str) -> Iterator[tuple[int, dict[str, str]]]:
        width = max(index.values()) + 1
        previous = reader.line_num
        while True:
            self._record_start = previous + 1
            row = next(reader, None)
            if row is None:
                return
            start, previous = previous + 1, reader.line_num
            self.stats.rows_read += 1
            if not any(cell.strip() for cell in row):
                self.ctx.drop(self.source.name, "blank line")
                continue
            if len(row) < width:
                self.bad_row(shown, start, f"row has {len(row)} columns, the header has at least {width}")
                continue
            yield start, {key: row[i] for key, i in index.items()}

    def _pairs(self, rows, shown: str) -> Iterator[Example]:
        for line, cells in rows:
            yield self.example({"prompt": cells["prompt"], "completion": cells["completion"]}, shown, line)

    def _conversations(self, rows, shown: str, grouped: bool) -> Iterator[Example]:
        seen: set[str] = set()
        current: str | None = None
        messages: list[dict[str, Any]] = []
        first_line = 0
        for line, cells in rows:
            conv = cells.get("conversation", "") if grouped else ""
            if messages and conv != current:
                yield self._chat(messages, shown, first_line)
                messages = []
            if not messages:
                if grouped and conv in seen:
                    self.bad_row(shown, line, f"conversation '{conv}' continues after other rows; sort the file by the conversation column")
                    current = None
                    continue
                seen.add(conv)
                current, first_line = conv, line
            messages.append({"role": cells["role"].strip(), "content": cells["content"]})
        if messages:
            yield self._chat(messages, shown, first_line)

    def _chat(self, messages: list[dict[str, Any]], shown: str, line: int) -> Example:
        rows = len(messages)  # one CSV record per message
        system = self.source.options.get("system")
        if system and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": system}, *messages]
        return self.example({"messages": messages}, shown, line, rows=rows)
