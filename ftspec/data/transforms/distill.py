"""``distill``: a teacher model answers the user turns of the examples, and its answers become
the training targets (a larger model teaching a smaller one; or the OpenAI fine-tune a team is
about to lose teaching its replacement: ``provider: openai, model: ft:...``).

For each assistant turn of a chat example the teacher sees the conversation up to the user turn
before it (earlier turns as written, so the calls are independent and run in parallel) and its
answer replaces that turn (``mode: replace``) or the example is kept and a copy with the
teacher's answers is added (``mode: add``). An example that ends on a user turn gets the
teacher's answer appended. Answers are cached by content, carry the teacher model in
``meta.generated_by``, and need review like extracted ones; an empty or cut-off answer is a
located error of the example under ``on_error``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftspec.data.generate import Call, in_windows
from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform
from ftspec.data.transforms._model import (
    note_origin,
    open_calls,
    record_error,
    sampling,
    step_books,
    step_model,
)


def targets(messages: list[dict[str, Any]]) -> list[int]:
    """Indexes the teacher answers: each assistant turn after a user turn, and a final user turn."""
    out = [i for i, m in enumerate(messages) if m.get("role") == "assistant" and i > 0
           and messages[i - 1].get("role") == "user"]
    if messages and messages[-1].get("role") == "user":
        out.append(len(messages))
    return out


@TRANSFORMS.register("distill")
class Distill(Transform):
    stage = "pre"
    generates = True
    model_kind = "chat"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = step_model(self.spec, self.name, self.options, self.index)
        self.label = self.model.label
        self.read_from = set(self.options.get("sources") or [s.name for s in self.spec.sources])
        self.mode = self.options.get("mode", "replace")
        self.on_error = self.options.get("on_error", "fail")
        self.sampling = sampling(self.options)

    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        books = step_books(self.ctx, self.label)
        books["mode"] = self.mode
        calls = open_calls(self, self.model, self.sampling.get("max_tokens"))
        try:
            yield from in_windows(items, self.model.concurrency, lambda w: self._teach(w, calls, books),
                                  lambda e: e.origin.source not in self.read_from or e.kind != "chat")
        finally:
            calls.close()
        self.ctx.raise_if_problems()

    def _teach(self, window: list[Example], calls: Any, books: dict[str, Any]) -> Iterator[Example]:
        plan = [(e, targets(e.record["messages"])) for e in window]
        asked = [Call(messages=[dict(m) for m in e.record["messages"][:i]], sampling=self.sampling)
                 for e, idx in plan for i in idx]
        answers = iter(calls.answers(asked))
        for example, idx in plan:
            got = [next(answers) for _ in idx]
            if not idx:
                yield example  # no user turn to answer
                continue
            if any(a is None for a in got):
                if self.mode == "add":
                    yield example
                else:
                    books["consumed"] += 1
                continue  # pending (no client): the teacher's version is not known yet
            problem = next((self._problem(a) for a in got if self._problem(a)), None)
            if problem is not None:
                if self.mode == "add":
                    record_error(self, books, example.origin.source, self.on_error, example.origin.file,
                                 example.origin.line, f"{problem} ({self.model.model})")
                    yield example
                else:  # the example itself is not trained on without its teacher's answer
                    self.ctx.bad_row(example.origin.source, self.on_error, example.origin.file,
                                     example.origin.line, f"{problem} ({self.model.model})")
                    books["errors"][problem.split(":")[0]] += 1
                continue
            taught = self._with_answers(example, idx, [a.text for a in got if a is not None])
            if self.mode == "add":
                yield example
            else:
                books["consumed"] += 1  # the original leaves the stream, the taught one joins it
            note_origin(books, taught, self.model.model)
            yield taught

    @staticmethod
    def _problem(answer: Any) -> str | None:
        if answer is None:
            return None
        if answer.error is not None:
            return f"refused_request: {answer.error}"
        if answer.finish_reason == "length":
            return "truncated_answer: the teacher's answer was cut at sampling.max_tokens"
        if not answer.text.strip():
            return "empty_answer: the teacher answered nothing"
        return None

    def _with_answers(self, example: Example, idx: list[int], texts: list[str]) -> Example:
        messages = [dict(m) for m in example.record["messages"]]
        for i, text in zip(idx, texts, strict=True):
            if i == len(messages):
                messages.append({"role": "assistant", "content": text})
            else:
                messages[i] = {**messages[i], "content": text}
        meta = {**example.meta, "generated_by": f"{self.name} {self.model.provider}:{self.model.model}"}
        return Example(record={**example.record, "messages": messages}, origin=example.origin, meta=meta)
