"""``format: compare_choices``: the compare page's decisions as preference pairs.

Each left/right decision in a choices file (``ftspec.data.choices``) becomes one pair: the
compared prompt, the chosen answer as ``preferred_output`` and the other as
``non_preferred_output``. Ties and "both bad" carry no preference: they are dropped, by name, in
the manifest's books.
"""

from __future__ import annotations

from collections.abc import Iterator

from ftspec.data.choices import decision_lines, load_choices, preferred_and_rejected
from ftspec.data.preference import preference_record
from ftspec.data.records import Example
from ftspec.data.sources import SOURCES, Source


@SOURCES.register("compare_choices")
class CompareChoicesSource(Source):
    def read(self) -> Iterator[Example]:
        for path in self.source.files:
            shown = self.shown(path)
            lines = decision_lines(path)
            for pair_id, entry in sorted(load_choices(path, shown).items(), key=lambda kv: lines.get(kv[0], 0)):
                self.stats.rows_read += 1
                line = lines.get(pair_id, 1)
                if not isinstance(entry, dict) or not isinstance(entry.get("input"), list):
                    self.bad_row(shown, line, f"decision '{pair_id}' has no 'input' messages")
                    continue
                sides = preferred_and_rejected(entry)
                if sides is None:
                    self.ctx.drop(self.source.name, "tie" if entry.get("choice") == "tie" else "both bad")
                    continue
                chosen, other = sides
                if not isinstance(chosen.get("text"), str) or not isinstance(other.get("text"), str):
                    self.bad_row(shown, line, f"decision '{pair_id}' lacks the text of an answer")
                    continue
                yield self.example(preference_record(entry["input"], chosen["text"], other["text"]), shown, line,
                                   pair=pair_id)
