"""``format: transcript``: raw text (support conversations, call notes, forum dumps) that only a
model step can turn into training data.

Each block of lines separated by blank lines is one raw example ``{"text": ...}`` with the
block's first and last line (``Origin.end_line``); the ``extract`` transform chunks these
(``by: blank_lines`` or ``by: tokens``) and asks a model for chat examples. A transcript
source that no ``extract`` transform reads is a spec error: raw text is never trained on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ftspec.data.encoding import decode_error, open_text
from ftspec.data.records import Example, Origin
from ftspec.data.sources import SOURCES, Source
from ftspec.errors import DataError


@SOURCES.register("transcript")
class TranscriptSource(Source):
    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            yield from self._read_file(path)
        self.ctx.raise_if_problems()

    def _read_file(self, path: Path) -> Iterator[Example]:
        shown = self.shown(path)
        fh, encoding = open_text(path, self.source.encoding, shown=shown)
        line_no = 0
        block: list[tuple[int, str]] = []
        try:
            with fh:
                for line_no, raw in enumerate(fh, 1):
                    text = raw.rstrip("\r\n").lstrip("\ufeff") if line_no == 1 else raw.rstrip("\r\n")
                    self.stats.rows_read += 1
                    if not text.strip():
                        self.ctx.drop(self.source.name, "blank line")
                        if block:
                            yield self._block(block, shown)
                            block = []
                        continue
                    block.append((line_no, text))
            if block:
                yield self._block(block, shown)
        except UnicodeDecodeError as exc:
            raise DataError([decode_error(shown, line_no + 1, encoding, exc)]) from None

    def _block(self, lines: list[tuple[int, str]], shown: str) -> Example:
        self.stats.examples += 1
        self.stats.rows_kept += len(lines)
        return Example(record={"text": "\n".join(t for _, t in lines)},
                       origin=Origin(self.source.name, shown, lines[0][0], lines[-1][0]))
