"""Turn shaping for speaker/timestamp sources (KakaoTalk, messages_csv).

A chat log is a stream of ``Message``s. Shaping decides which speaker the model learns
(``assistant:``), merges consecutive messages of one speaker into one turn, cuts sessions at
pauses longer than ``session_gap`` and emits either whole sessions or one example per assistant
turn with up to ``context_turns`` earlier turns. Only one session is held in memory at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ftspec.errors import DataError

if TYPE_CHECKING:
    from ftspec.data.records import Example
    from ftspec.data.sources import Source

SHAPING_OPTIONS = frozenset({"assistant", "session_gap", "context_turns", "keep_names", "system"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SPEAKERS_LISTED = 20


@dataclass(slots=True)
class Message:
    """One chat line after parsing: who, when (``None`` if unknown), what, and where from."""

    speaker: str
    time: datetime | None
    text: str
    file: str
    line: int
    rows: int = 1  # physical records it came from (for the row accounting)


@dataclass(slots=True)
class Turn:
    speaker: str
    text: str
    time: datetime | None
    file: str
    line: int
    rows: int = 1


def parse_duration(text: str) -> timedelta:
    """``30m`` -> 30 minutes (the schema already checked the shape)."""
    match = re.fullmatch(r"(\d+)([smhd])", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{text!r} is longer than 100 years")
    return timedelta(seconds=seconds)


MAX_DURATION_S = 100 * 365 * 86400


class Shaper:
    """Turns a message stream into training examples for one source."""

    def __init__(self, reader: Source) -> None:
        options = reader.source.options
        self.reader = reader
        assistant = options["assistant"]
        self.assistants: list[str] = [assistant] if isinstance(assistant, str) else list(assistant)
        gap = options.get("session_gap")
        self.gap = parse_duration(gap) if gap else None
        self.context_turns: int | None = options.get("context_turns")
        self.keep_names: bool | None = options.get("keep_names")
        self.system: str | None = options.get("system")
        self.speakers: dict[str, int] = {}  # speaker -> messages (for the "never appears" error)

    # ---- public ----------------------------------------------------------------------------
    def shape(self, messages: Iterable[Message]) -> Iterator[Example]:
        session: list[Turn] = []
        last_time: datetime | None = None
        for message in messages:
            self.speakers[message.speaker] = self.speakers.get(message.speaker, 0) + 1
            if (session and self.gap is not None and message.time is not None and last_time is not None
                    and message.time - last_time > self.gap):
                yield from self._emit(session)
                session = []
            if message.time is not None:
                last_time = message.time
            if session and session[-1].speaker == message.speaker:
                session[-1].text += "\n" + message.text
                session[-1].rows += message.rows
            else:
                session.append(Turn(message.speaker, message.text, message.time, message.file, message.line,
                                    message.rows))
        if session:
            yield from self._emit(session)
        self._check_assistants()

    # ---- internals -------------------------------------------------------------------------
    def _check_assistants(self) -> None:
        if any(name in self.speakers for name in self.assistants):
            return
        found = sorted(self.speakers, key=lambda s: (-self.speakers[s], s))
        listed = ", ".join(f"'{s}' ({self.speakers[s]})" for s in found[:MAX_SPEAKERS_LISTED])
        more = f" and {len(found) - MAX_SPEAKERS_LISTED} more" if len(found) > MAX_SPEAKERS_LISTED else ""
        names = ", ".join(f"'{a}'" for a in self.assistants)
        spec, source = self.reader.spec, self.reader.source
        raise DataError([spec.problem(
            ("sources", source.index, "assistant"),
            f"assistant {names} never speaks in this source; speakers found: {listed or 'none'}{more}",
        )])

    def _messages(self, turns: list[Turn], names: bool) -> list[dict[str, Any]]:
        out = []
        for turn in turns:
            if turn.speaker in self.assistants:
                out.append({"role": "assistant", "content": turn.text})
            elif names:
                out.append({"role": "user", "name": turn.speaker, "content": turn.text})
            else:
                out.append({"role": "user", "content": turn.text})
        if self.system:
            out.insert(0, {"role": "system", "content": self.system})
        return out

    def _emit(self, session: list[Turn]) -> Iterator[Example]:
        """Examples of one session; every row of it is either in an example or dropped by name."""
        source = self.reader.source.name
        assistant_at = [i for i, t in enumerate(session) if t.speaker in self.assistants]
        if not assistant_at:
            self.reader.ctx.drop(source, "session without an assistant turn", sum(t.rows for t in session))
            return
        names = self.keep_names
        if names is None:
            names = len({t.speaker for t in session}) > 2
        if self.context_turns is None:
            tail = session[assistant_at[-1] + 1:]
            if tail:
                self.reader.ctx.drop(source, "turns after the last assistant turn", sum(t.rows for t in tail))
            turns = session[: assistant_at[-1] + 1]
            yield self.reader.example({"messages": self._messages(turns, names)}, turns[0].file, turns[0].line,
                                      rows=sum(t.rows for t in turns), end_line=turns[-1].line)
            return
        used: set[int] = set()
        for index in assistant_at:
            start = max(0, index - self.context_turns)
            if index == start and self.context_turns > 0:
                # no example for it; its rows count as dropped below unless a later example
                # holds them as context (then the manifest's counters still show it)
                self.reader.ctx.count("shaping", "assistant turn without earlier turns")
                continue
            turns = session[start: index + 1]
            new = [i for i in range(start, index + 1) if i not in used]
            used.update(new)  # a turn shared as context by several examples is counted once
            yield self.reader.example({"messages": self._messages(turns, names)}, turns[0].file, turns[0].line,
                                      rows=sum(session[i].rows for i in new), end_line=turns[-1].line)
        for i in assistant_at:
            if i not in used:
                self.reader.ctx.drop(source, "assistant turn without earlier turns", session[i].rows)
        rest = sum(t.rows for i, t in enumerate(session) if i not in used and i not in assistant_at)
        if rest:
            self.reader.ctx.drop(source, "turns outside every example", rest)
