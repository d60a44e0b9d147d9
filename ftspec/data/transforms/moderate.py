"""``moderate``: screen examples with the provider's moderation endpoint before training.

Every text of an example (each message's content, or prompt and completion) is scored per
category (OpenAI's ``/v1/moderations``). An example is flagged when a category's score reaches
its threshold (``thresholds: {violence: 0.5, "*": 0.9}``; without thresholds, the endpoint's own
flags). Flagged examples are removed (``action: drop``, listed in the manifest under
``removed``) or must be reviewed before they are trained on (``action: review``: the review page
shows the flags). Every flag is counted per category under ``counters.moderation`` in the
manifest and the data report. A provider with no moderation endpoint is a spec error
(``ftspec.providers.models.model_step_problems``), never a screen that passes everything.

Scores are cached by content (the texts and the moderation model), so changing a threshold
rescreens from the cache without a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftspec.data.generate import Call, in_windows
from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform
from ftspec.data.transforms._model import open_calls, step_books, step_model

DEFAULT_MODEL = "omni-moderation-latest"


def texts_of(record: dict[str, Any]) -> list[str]:
    if "messages" in record:
        return [str(m.get("content")) for m in record["messages"] if isinstance(m, dict) and m.get("content")]
    return [str(record.get(k)) for k in ("prompt", "completion", "text") if record.get(k)]


@TRANSFORMS.register("moderate")
class Moderate(Transform):
    stage = "pre"
    model_kind = "moderation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = step_model(self.spec, self.name, self.options, self.index, kind="moderation",
                                default_model=DEFAULT_MODEL)
        self.label = self.model.label
        self.thresholds: dict[str, float] = {k: float(v) for k, v in (self.options.get("thresholds") or {}).items()}
        self.action = self.options.get("action", "drop")

    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        books = step_books(self.ctx, self.label)
        books.update({k: books.get(k, 0) for k in ("screened", "flagged", "unscreened")})
        books["action"] = self.action
        books["thresholds"] = dict(sorted(self.thresholds.items())) or "the endpoint's own flags"
        calls = open_calls(self, self.model, None)
        try:
            yield from in_windows(items, self.model.concurrency, lambda w: self._screen(w, calls, books))
        finally:
            calls.close()

    def _screen(self, window: list[Example], calls: Any, books: dict[str, Any]) -> Iterator[Example]:
        asked = [(e, texts_of(e.record)) for e in window]
        answers = calls.answers([Call(inputs=texts) for _, texts in asked if texts])
        it = iter(answers)
        for example, texts in asked:
            answer = next(it) if texts else None
            if not texts:
                yield example  # nothing to screen (no text at all; drop_empty removes those)
                continue
            if answer is None or answer.error is not None:
                # not screened: without a client (validate, plan, review) or refused. The build
                # always has a client; a refusal stops it rather than train on unscreened text.
                if answer is not None:
                    from ftspec.errors import DataError, Location, Problem

                    raise DataError([Problem(Location(example.origin.file, example.origin.line),
                                             f"{self.label}: moderation refused: {answer.error}")])
                books["unscreened"] += 1
                yield example
                continue
            books["screened"] += 1
            hits = self.flags(answer)
            if not hits:
                yield example
                continue
            books["flagged"] += 1
            for category in hits:
                self.ctx.count("moderation", category)
            if self.action == "drop":
                self.remove(f"flagged by moderation: {', '.join(hits)}", example)
                continue
            yield Example(record=example.record, origin=example.origin,
                          meta={**example.meta, "moderation_flags": ", ".join(hits)})

    def flags(self, answer: Any) -> list[str]:
        """The categories any text of the example reaches (thresholds) or the endpoint flagged."""
        found: set[str] = set()
        for scores, flagged in zip(answer.scores or [], answer.flagged or [], strict=False):
            if not self.thresholds:
                found.update(flagged)
                continue
            for category, score in scores.items():
                limit = self.thresholds.get(category, self.thresholds.get("*"))
                if limit is not None and score >= limit:
                    found.add(category)
        return sorted(found)
