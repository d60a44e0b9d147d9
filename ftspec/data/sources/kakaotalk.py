"""``format: kakaotalk``: KakaoTalk chat exports, PC CSV or mobile/text, detected from the file.

PC CSV: header ``Date,User,Message``; quoted fields may hold newlines, quotes and commas.
Mobile/text: a title line, a "saved on" line, date separator lines (``2022년 12월 17일 토요일`` /
``Saturday, December 17, 2022``) and message lines (``2022. 12. 17. 오후 1:55, 이름 : 메시지`` or
``[이름] [오후 1:55] 메시지``); any other line continues the previous message.
System lines (joins, leaves, invitations, deleted messages) and media placeholders are dropped
and counted by kind. Messages stream into ``Shaper``, so memory stays flat.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date, datetime

from ftspec.data.shaping import Message
from ftspec.data.sources import SOURCES
from ftspec.data.sources._speaker import LineCounter, SpeakerSource
from ftspec.errors import DataError, Location, Problem

RECOGNISED = (
    "recognised KakaoTalk exports: PC CSV (header 'Date,User,Message'), "
    "mobile/text export (title, 'saved on' line, date lines, "
    "'2022. 12. 17. 오후 1:55, 이름 : 메시지' or '[이름] [오후 1:55] 메시지' lines)"
)
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"), 1)}
_MON = r"(January|February|March|April|May|June|July|August|September|October|November|December|" \
       r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
_AMPM = {"오전": "AM", "오후": "PM", "AM": "AM", "PM": "PM", "am": "AM", "pm": "PM"}

# date separator lines, optionally framed by dashes (PC text export)
_DATE_KO = re.compile(r"^-*\s*(\d{4})년 (\d{1,2})월 (\d{1,2})일(?: \S+요일)?\s*-*$")
_DATE_EN = re.compile(rf"^-*\s*(?:[A-Z][a-z]+day, )?{_MON} (\d{{1,2}}), (\d{{4}})\s*-*$")
# "2022. 12. 17. 오후 1:55, 이름 : 메시지" (iOS), "2022년 12월 17일 오후 1:55, 이름 : 메시지" (Android)
_STAMP_KO = r"(\d{4})(?:\.|년) ?(\d{1,2})(?:\.|월) ?(\d{1,2})(?:\.|일) (오전|오후) (\d{1,2}):(\d{2})"
_STAMP_EN = rf"{_MON} (\d{{1,2}}), (\d{{4}}),? (?:at )?(\d{{1,2}}):(\d{{2}}) ?(AM|PM|am|pm)"
_MSG_KO = re.compile(rf"^{_STAMP_KO}, (.+?) : (.*)$")
_MSG_EN = re.compile(rf"^{_STAMP_EN}, (.+?) : (.*)$")
_SYS_KO = re.compile(rf"^{_STAMP_KO}(?:,|:) (.*)$")  # a stamped line without "name : "
_SYS_EN = re.compile(rf"^{_STAMP_EN}(?:,|:) (.*)$")
# "[이름] [오후 1:55] 메시지" (PC text export)
_MSG_BRACKET = re.compile(r"^\[(.+?)\] \[(?:(오전|오후|AM|PM) )?(\d{1,2}):(\d{2})(?: ?(AM|PM))?\] ?(.*)$")
_CSV_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")  # naive, to the second: nothing else
_SAVED = re.compile(r"^(저장한 날짜|Date Saved|Saved on|Saved)\s*:", re.IGNORECASE)

_SYSTEM = (
    ("system: join", re.compile(r"님이 들어왔습니다\.?$|joined this chatroom\.?$|entered the chatroom\.?$")),
    ("system: leave", re.compile(r"님이 나갔습니다\.?$|left this chatroom\.?$|left the chatroom\.?$")),
    ("system: invitation", re.compile(r"님을 초대했습니다\.?$|님을 초대하였습니다\.?$|invited .+ to this chatroom\.?$")),
    ("system: deleted message", re.compile(r"^(삭제된 메시지입니다\.?|This message was deleted\.?|메시지가 삭제되었습니다\.?)$")),
    ("system: kicked", re.compile(r"님을 내보냈습니다\.?$|removed .+ from this chatroom\.?$")),
)
_MEDIA = (
    ("media: photo", re.compile(r"^(사진|사진 \d+장|Photo|Photos|\d+ photos)$", re.IGNORECASE)),
    ("media: video", re.compile(r"^(동영상|Video)$", re.IGNORECASE)),
    ("media: emoticon", re.compile(r"^(이모티콘|\(이모티콘\)|Emoticon|Sticker)$", re.IGNORECASE)),
    ("media: file", re.compile(r"^(파일|File)(:\s*.*)?$", re.IGNORECASE)),
    ("media: voice", re.compile(r"^(음성메시지|Voice Message|음성 메시지)$", re.IGNORECASE)),
    ("media: shared contact", re.compile(r"^(연락처|Contact)(:\s*.*)?$", re.IGNORECASE)),
    ("media: map", re.compile(r"^(지도|Map|Location)(:\s*.*)?$", re.IGNORECASE)),
)


def _combined(kinds: tuple[tuple[str, re.Pattern[str]], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    """One alternation with a named group per kind: one regex call per message, not twelve."""
    names = {f"k{i}": kind for i, (kind, _) in enumerate(kinds)}
    flags = re.IGNORECASE if any(p.flags & re.IGNORECASE for _, p in kinds) else 0
    return re.compile("|".join(f"(?P<k{i}>{p.pattern})" for i, (_, p) in enumerate(kinds)), flags), names


_SYSTEM_RE, _SYSTEM_NAMES = _combined(_SYSTEM)
_MEDIA_RE, _MEDIA_NAMES = _combined(_MEDIA)


def system_kind(text: str) -> str | None:
    """The kind of a system line ("system: join", ...), or ``None`` for a real message."""
    match = _SYSTEM_RE.search(text.strip())
    return _SYSTEM_NAMES[match.lastgroup] if match else None


def media_kind(text: str) -> str | None:
    stripped = text.strip()
    if len(stripped) > 80:  # placeholders are short; long text is never one
        return None
    match = _MEDIA_RE.match(stripped)
    return _MEDIA_NAMES[match.lastgroup] if match else None


def _hour24(hour: int, ampm: str | None) -> int:
    if ampm is None:
        return hour
    ampm = _AMPM[ampm]
    return hour % 12 + (12 if ampm == "PM" else 0)


def _month(name: str) -> int:
    name = name.lower()
    found = _MONTHS.get(name) or next((v for k, v in _MONTHS.items() if k.startswith(name[:3])), None)
    if found is None:
        raise ValueError(f"unknown month {name!r}")
    return found


@SOURCES.register("kakaotalk")
class KakaoTalkSource(SpeakerSource):
    def _parse(self, reader: LineCounter, shown: str) -> Iterator[Message]:
        first = reader.peek_first()
        header = first.lstrip("\ufeff").strip().replace('"', "").replace(" ", "").lower()
        if header == "date,user,message":
            yield from self._read_csv(reader, shown)
        else:
            yield from self._read_text(reader, shown)

    # ---- PC CSV ----------------------------------------------------------------------------
    def _read_csv(self, reader: LineCounter, shown: str) -> Iterator[Message]:
        rows = csv.reader(reader, strict=True)
        try:
            next(rows)  # header
            start = reader.line + 1
            for row in rows:
                line, start = start, reader.line + 1
                self.stats.rows_read += 1
                message = self._csv_row(row, shown, line)
                if message is not None:
                    yield message
        except csv.Error as exc:
            raise DataError([Problem(Location(shown, reader.line), f"malformed CSV: {exc}")]) from None

    def _csv_row(self, row: list[str], shown: str, line: int) -> Message | None:
        if not row or row == [""]:
            self.ctx.drop(self.source.name, "blank line")
            return None
        if len(row) != 3:
            self.bad_row(shown, line, f"expected 3 fields (Date,User,Message), got {len(row)}")
            return None
        stamp, user, text = row
        stamp = stamp.strip()
        try:
            if not _CSV_STAMP.fullmatch(stamp):  # fromisoformat alone takes "13:16+00" (an aware time)
                raise ValueError(stamp)
            when = datetime.fromisoformat(stamp)
        except ValueError:
            self.bad_row(shown, line, f"date '{stamp}' is not YYYY-MM-DD HH:MM:SS")
            return None
        return self._keep(user.strip(), when, text, shown, line)

    def _keep(self, user: str, when: datetime | None, text: str, shown: str, line: int) -> Message | None:
        """Drop (and count) system lines and media placeholders; others become messages."""
        kind = media_kind(text) or system_kind(text) or (None if user else "system: other")
        if kind is not None:
            self.ctx.drop(self.source.name, kind)
            return None
        return Message(user, when, text, shown, line)

    # ---- mobile / text ---------------------------------------------------------------------
    def _read_text(self, reader: LineCounter, shown: str) -> Iterator[Message]:
        day: date | None = None
        pending: Message | None = None
        seen_message = False
        blanks = 0  # blank lines belong to a message only if more of it follows
        for raw in reader:
            line_no = reader.line
            text = raw.rstrip("\n").lstrip("\ufeff")
            if line_no == 1 and not self._is_message(text):
                continue  # the title ("홍길동 님과 카카오톡 대화", "Talk_2022.12.17 ...")
            if not text.strip():
                blanks += 1
                continue
            try:
                parsed = self._parse_line(text, day, shown, line_no)
            except ValueError as exc:  # a date or time that cannot exist (Feb 30, month 13, 25:61)
                if pending is not None:
                    kept = self._keep(pending.speaker, pending.time, pending.text, pending.file, pending.line)
                    pending = None
                    if kept is not None:
                        yield kept
                blanks = 0
                if _DATE_KO.match(text.strip()) or _DATE_EN.match(text.strip()):
                    day = None  # a bad date line is no record; its messages get no date
                    self.ctx.warn(f"{shown}:{line_no}: impossible date ({exc}); the messages after it have no date")
                else:
                    self.stats.rows_read += 1
                    seen_message = True
                    self.bad_row(shown, line_no, f"impossible date or time in the message line ({exc})")
                continue
            if parsed is None:  # continuation (or, before any message, an unknown layout)
                if pending is not None:
                    pending.text += "\n" * (blanks + 1) + text
                    blanks = 0
                elif not seen_message:
                    raise DataError([Problem(
                        Location(shown, line_no),
                        f"unknown KakaoTalk export layout; {RECOGNISED}; first unparseable line: {text.strip()[:80]!r}",
                    )])
                else:
                    self.stats.rows_read += 1
                    self.bad_row(shown, line_no, "line follows a system line but is not a message")
                continue
            blanks = 0
            kind, value = parsed
            if pending is not None:
                kept = self._keep(pending.speaker, pending.time, pending.text, pending.file, pending.line)
                pending = None
                if kept is not None:
                    yield kept
            if kind == "date":
                day = value
            elif kind == "system":
                self.stats.rows_read += 1
                self.ctx.drop(self.source.name, value)
            elif kind == "message":
                self.stats.rows_read += 1
                seen_message = True
                pending = value
        if pending is not None:
            kept = self._keep(pending.speaker, pending.time, pending.text, pending.file, pending.line)
            if kept is not None:
                yield kept
        if not seen_message:
            raise DataError([Problem(Location(shown, 1), f"no KakaoTalk messages found; {RECOGNISED}")])

    @staticmethod
    def _is_message(text: str) -> bool:
        return bool(_MSG_KO.match(text) or _MSG_EN.match(text) or _MSG_BRACKET.match(text))

    def _parse_line(self, text: str, day: date | None, shown: str, line: int):
        """("date", date) | ("system", kind) | ("message", Message) | ("skip", None) | None."""
        stripped = text.strip()
        if _SAVED.match(stripped):
            return ("skip", None)
        if m := _DATE_KO.match(stripped):
            return ("date", date(int(m[1]), int(m[2]), int(m[3])))
        if m := _DATE_EN.match(stripped):
            return ("date", date(int(m[3]), _month(m[1]), int(m[2])))
        if m := _MSG_KO.match(text):
            when = datetime(int(m[1]), int(m[2]), int(m[3]), _hour24(int(m[5]), m[4]), int(m[6]))
            return ("message", Message(m[7].strip(), when, m[8], shown, line))
        if m := _MSG_EN.match(text):
            when = datetime(int(m[3]), _month(m[1]), int(m[2]), _hour24(int(m[4]), m[6]), int(m[5]))
            return ("message", Message(m[7].strip(), when, m[8], shown, line))
        if m := _MSG_BRACKET.match(text):
            ampm = m[2] or m[5]
            when = None
            if day is not None:
                when = datetime(day.year, day.month, day.day, _hour24(int(m[3]), ampm), int(m[4]))
            return ("message", Message(m[1].strip(), when, m[6], shown, line))
        if m := (_SYS_KO.match(text) or _SYS_EN.match(text)):
            return ("system", system_kind(m[m.re.groups]) or "system: other")
        if kind := system_kind(stripped):
            return ("system", kind)
        return None
