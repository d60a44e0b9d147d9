"""``format: messages_csv``: any chat log as CSV (Slack, Discord, LINE exports converted to CSV).

``columns: {speaker, time, text}`` maps the file's header names (defaults: speaker, time, text;
``time`` is optional unless ``session_gap`` is set); ``time_format`` is a strptime format
(default: ISO 8601). Rows stream into the shared ``Shaper``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime

from ftspec.data.shaping import SHAPING_OPTIONS, Message
from ftspec.data.sources import SOURCES
from ftspec.data.sources._speaker import LineCounter, SpeakerSource
from ftspec.errors import DataError, Location, Problem, did_you_mean

ROLES = ("speaker", "time", "text")


@SOURCES.register("messages_csv")
class MessagesCsvSource(SpeakerSource):
    options = SHAPING_OPTIONS | {"columns", "time_format"}

    @classmethod
    def check(cls, source, spec):
        problems = super().check(source, spec)
        for key in source.options.get("columns") or {}:
            if key not in ROLES:
                problems.append(spec.problem(
                    ("sources", source.index, "columns", key),
                    f"messages_csv maps only {', '.join(ROLES)}; '{key}' is not one of them",
                ))
        return problems


    def _columns(self) -> dict[str, str]:
        mapping = {role: role for role in ROLES}
        mapping.update(self.source.options.get("columns") or {})
        return mapping

    def _parse(self, reader: LineCounter, shown: str) -> Iterator[Message]:
        try:
            yield from self._rows(csv.reader(reader, strict=True), reader, shown)
        except csv.Error as exc:
            raise DataError([Problem(Location(shown, reader.line), f"malformed CSV: {exc}")]) from None

    def _header(self, header: list[str], shown: str) -> dict[str, int | None]:
        names = [h.strip() for h in header]
        index: dict[str, int | None] = {}
        problems = []
        for role, column in self._columns().items():
            if column in names:
                index[role] = names.index(column)
            elif role == "time" and "time" not in (self.source.options.get("columns") or {}) \
                    and "session_gap" not in self.source.options:
                index[role] = None  # no time column and none needed
            else:
                problems.append(Problem(Location(shown, 1), f"column '{column}' ({role}) not in the header"
                                        f"{did_you_mean(column, names)}; columns: {', '.join(names)}"))
        if problems:
            raise DataError(problems)
        return index

    def _rows(self, rows, reader: LineCounter, shown: str) -> Iterator[Message]:
        header = next(rows, None)
        if header is None:
            raise DataError([Problem(Location(shown, 1), "empty file: expected a header row")])
        index = self._header(header, shown)
        time_format = self.source.options.get("time_format")
        start = reader.line + 1
        aware: bool | None = getattr(self, "_aware", None)  # did the first time (any file) have a zone?
        for row in rows:
            line, start = start, reader.line + 1
            self.stats.rows_read += 1
            if not row or row == [""]:
                self.ctx.drop(self.source.name, "blank line")
                continue
            if len(row) != len(header):
                self.bad_row(shown, line, f"expected {len(header)} fields, got {len(row)}")
                continue
            when = None
            if index["time"] is not None:
                stamp = row[index["time"]].strip()
                try:
                    when = datetime.strptime(stamp, time_format) if time_format else datetime.fromisoformat(stamp)
                except ValueError:
                    self.bad_row(shown, line, f"time '{stamp}' does not match {time_format or 'ISO 8601'}")
                    continue
                has_zone = when.utcoffset() is not None
                if aware is None:
                    aware = self._aware = has_zone
                elif has_zone != aware:
                    first = "have a timezone" if aware else "have no timezone"
                    self.bad_row(shown, line, f"time '{stamp}' {'has' if has_zone else 'has no'} timezone but "
                                 f"earlier times in this file {first}; write every time the same way")
                    continue
            speaker, text = row[index["speaker"]].strip(), row[index["text"]]
            if not speaker:
                self.bad_row(shown, line, "empty speaker")
                continue
            if not text.strip():
                self.ctx.drop(self.source.name, "empty message")
                continue
            yield Message(speaker, when, text, shown, line)
