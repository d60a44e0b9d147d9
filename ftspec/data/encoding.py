"""Text decoding for exports from any OS: UTF-8, UTF-8 with BOM, CP949/EUC-KR, or explicit."""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import TextIO

from ftspec.errors import DataError, Location, Problem

_SNIFF_BYTES = 1 << 20


def detect_encoding(path: Path) -> str:
    """Guess from the first MiB: BOM, then strict UTF-8, then CP949 (a superset of EUC-KR)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(head, "utf-8"):
        return "utf-8"
    if _decodes(head, "cp949"):
        return "cp949"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    return best.encoding if best else "utf-8"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the sniff boundary is not a decoding failure
        return len(data) == _SNIFF_BYTES and exc.start >= len(data) - 4


def open_text(path: Path, encoding: str = "auto", *, shown: str | None = None) -> tuple[TextIO, str]:
    """Open for streaming text reads with universal newlines; returns (file, encoding used)."""
    shown = shown or str(path)
    if encoding == "auto":
        encoding = detect_encoding(path)
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataError([Problem(Location(shown), f"unknown encoding '{encoding}'")]) from None
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            encoding = "utf-8-sig"  # a BOM is never content
        bom_problem = missing_bom(path, encoding)
        if bom_problem:
            raise DataError([Problem(Location(shown, 1), bom_problem)])
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller inside the TextIOWrapper
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline=None), encoding


_BOMS = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
         "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}


def missing_bom(path: Path, encoding: str) -> str | None:
    """``utf-16``/``utf-32`` (no byte order given) need a byte-order mark to be read as a stream."""
    name = codecs.lookup(encoding).name
    if name not in _BOMS:
        return None
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head or head.startswith(_BOMS[name]):
        return None
    return (f"the file does not start with a {name.upper()} byte-order mark; set `encoding:` to "
            f"{name}-le or {name}-be (or auto)")


def decode_error(shown: str, line: int, encoding: str, exc: UnicodeDecodeError, col: int | None = None) -> Problem:
    return Problem(
        Location(shown, line, col),
        f"cannot decode as {encoding} ({exc.reason}); set `encoding:` on the source",
    )


def locate_decode_error(path: Path, encoding: str, shown: str) -> Problem | None:
    """The first byte of ``path`` that ``encoding`` cannot decode, at its line and column
    (lines as a universal-newline text stream counts them), or None when it all decodes.

    A text stream decodes ahead in chunks, so where it raises says nothing about the line:
    this rereads the file with an incremental decoder, counting the lines decoded before."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line, column, last = 1, 1, ""
    with open(path, "rb") as fh:
        while chunk := fh.read(_SNIFF_BYTES):
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's pending bytes + this chunk: decode what precedes the error
                decoder.setstate((b"", state[1]))
                try:
                    text = decoder.decode(exc.object[:exc.start])
                except UnicodeDecodeError:
                    text = ""
                line, column, last = _advance(line, column, last, text)
                return decode_error(shown, line, encoding, exc, column)
            line, column, last = _advance(line, column, last, text)
    return None


def _advance(line: int, column: int, last: str, text: str) -> tuple[int, int, str]:
    """(line, column, last character) after ``text``; CR LF, CR and LF each end a line."""
    if last == "\r" and text.startswith("\n"):
        text, last = text[1:], "\n"  # the LF of a CR LF split across two reads: the line was counted
    if not text:
        return line, column, last
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    if breaks:
        tail = max(text.rfind("\n"), text.rfind("\r"))
        return line + breaks, len(text) - tail, text[-1]
    return line, column + len(text), text[-1]
