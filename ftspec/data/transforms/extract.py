"""``extract``: a model turns raw text into chat examples (the few-shot Q/A extraction people
otherwise script by hand: conversation -> GPT with a long prompt -> JSON lines -> human review).

A transform, not a source, because the raw text can come from any source format (``transcript``
files, KakaoTalk or CSV conversations, ...): the source reads and locates it, this step cuts it
into chunks, asks the model, and replaces the chunks with what the model answered; examples of
other sources pass through untouched.

Chunks (``chunk.by``): ``blank_lines`` (one block of a ``transcript`` source), ``session`` (one
example of a conversation source, rendered ``speaker: text`` per turn), ``tokens`` (consecutive
blocks or sessions of one file, up to ``chunk.max_tokens``). Each chunk is sent as the few-shot
pairs (the prompt rendered with each shot's ``input``, then its ``output`` as JSON lines) and
then the prompt rendered with the chunk (``{{ chunk }}``, ``{{ source }}``, ``{{ file }}``,
``{{ first_line }}``, ``{{ last_line }}``). The answer is JSON lines, one chat example each
(code fences are ignored). A line that is not a chat example, an empty answer, or an answer cut
at ``max_tokens`` is a located error of the chunk (``file:FIRST: ... (lines FIRST-LAST)``),
failed or skipped per ``on_error``, and never trained on.

Every example made carries its chunk (``meta.source_chunk``), its origin ``file:FIRST-LAST`` and
the model (``meta.generated_by``), which the manifest (``generated``) and the review pages show;
extracted examples must be reviewed unless the spec's ``review`` says ``required: false``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ftspec.data.generate import Call, in_windows
from ftspec.data.records import Example, Origin
from ftspec.data.transforms import TRANSFORMS, Transform
from ftspec.data.transforms._model import (
    chat_problem,
    note_origin,
    open_calls,
    record_error,
    sampling,
    step_books,
    step_model,
)
from ftspec.errors import DataError, Location, Problem

DEFAULT_CHUNK_TOKENS = 1500
VARIABLES = ("chunk", "source", "file", "first_line", "last_line")


@dataclass
class Chunk:
    source: str
    file: str
    first_line: int
    last_line: int
    text: str
    parts: int  # raw examples it is made of

    @property
    def origin(self) -> Origin:
        return Origin(self.source, self.file, self.first_line, self.last_line)


@TRANSFORMS.register("extract")
class Extract(Transform):
    stage = "pre"
    generates = True
    model_kind = "chat"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from ftspec.data.templates import compile_template

        opts = self.options
        self.model = step_model(self.spec, self.name, opts, self.index)
        self.label = self.model.label
        self.read_from = set(opts.get("sources") or default_sources(self.spec))
        chunk = opts.get("chunk") or {}
        self.by = chunk.get("by", "blank_lines")
        self.chunk_tokens = int(chunk.get("max_tokens", DEFAULT_CHUNK_TOKENS))
        self.on_error = opts.get("on_error", "fail")
        self.sampling = sampling(opts)
        self.prompt = compile_template(prompt_text(self.spec, opts))
        self.shots = few_shot_messages(self.spec, opts, self.index, self.prompt)

    # ---- the stream ---------------------------------------------------------------------------
    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        books = step_books(self.ctx, self.label)
        calls = open_calls(self, self.model, self.sampling.get("max_tokens"))
        books["chunks"] = books.get("chunks", 0)
        try:
            yield from in_windows(self._chunks(items, books), self.model.concurrency,
                                  lambda w: self._ask(w, calls, books), lambda item: isinstance(item, Example))
        finally:
            calls.close()
        self.ctx.raise_if_problems()

    def _chunks(self, items: Iterator[Example], books: dict[str, Any]) -> Iterator[Example | Chunk]:
        pending: Chunk | None = None
        counter = None
        for example in items:
            if example.origin.source not in self.read_from:
                yield example
                continue
            books["consumed"] += 1
            chunk = as_chunk(example)
            if self.by != "tokens":
                yield chunk
                continue
            if counter is None:
                from ftspec.data.tokens import counter_for_model

                counter = counter_for_model(self.model.model)
            if pending is not None and pending.file == chunk.file and pending.source == chunk.source:
                joined = pending.text + "\n\n" + chunk.text
                if counter.count_texts([joined])[0] <= self.chunk_tokens:
                    pending = Chunk(pending.source, pending.file, pending.first_line, chunk.last_line, joined,
                                    pending.parts + chunk.parts)
                    continue
            if pending is not None:
                yield pending
            pending = chunk
        if pending is not None:
            yield pending

    def _ask(self, window: list[Chunk], calls: Any, books: dict[str, Any]) -> Iterator[Example]:
        from ftspec.data.templates import TemplateError

        asked: list[tuple[Chunk, Call]] = []
        for chunk in window:
            books["chunks"] += 1
            try:
                text = render_prompt(self.prompt, chunk, f"{self.label}.prompt")
            except TemplateError as exc:
                record_error(self, books, chunk.source, self.on_error, chunk.file, chunk.first_line,
                             f"prompt_error: {exc} (lines {chunk.first_line}-{chunk.last_line})")
                continue
            asked.append((chunk, Call(messages=[*self.shots, {"role": "user", "content": text}],
                                      sampling=self.sampling)))
        answers = calls.answers([c for _, c in asked])
        for (chunk, _call), answer in zip(asked, answers, strict=True):
            if answer is None:
                continue  # pending: no client (validate, plan, review); counted by the step
            if answer.error is not None:
                self._error(books, chunk, f"refused_request: {answer.error}")
                continue
            if answer.finish_reason == "length":
                self._error(books, chunk, "truncated_answer: the answer was cut at sampling.max_tokens")
                continue
            records, problems = parse_answer(answer.text)
            for problem in problems:
                self._error(books, chunk, problem)
            if not records and not problems:
                self._error(books, chunk, "empty_answer: the model answered no example")
            for record in records:
                example = Example(record=record, origin=chunk.origin,
                                  meta={"generated_by": f"{self.name} {self.model.provider}:{self.model.model}",
                                        "source_chunk": chunk.text})
                note_origin(books, example, self.model.model)
                yield example

    def _error(self, books: dict[str, Any], chunk: Chunk, reason: str) -> None:
        record_error(self, books, chunk.source, self.on_error, chunk.file, chunk.first_line,
                     f"{reason} (chunk lines {chunk.first_line}-{chunk.last_line}, {self.model.model})")

    # ---- spec checks ----------------------------------------------------------------------------
    @classmethod
    def problems(cls, spec: Any, index: int, options: dict[str, Any], check_files: bool) -> list[Problem]:
        base = ("transforms", index, "extract")
        problems: list[Problem] = []
        names = {s.name: s for s in spec.sources}
        for i, name in enumerate(options.get("sources") or []):
            if name not in names:
                problems.append(spec.problem((*base, "sources", i), f"no source named '{name}'"))
        read = [names[n] for n in options.get("sources") or default_sources(spec) if n in names]
        if not read:
            problems.append(spec.problem(base, "extract reads no source: name them in `sources:` "
                                               "(or add a source with `format: transcript`)"))
        by = (options.get("chunk") or {}).get("by", "blank_lines")
        for source in read:
            if by == "blank_lines" and source.format != "transcript":
                problems.append(spec.problem((*base, "chunk", "by"), f"chunk.by: blank_lines needs a transcript "
                                             f"source; '{source.name}' is {source.format} (use session or tokens)"))
            if by == "session" and source.format == "transcript":
                problems.append(spec.problem((*base, "chunk", "by"), f"chunk.by: session needs a conversation "
                                             f"source; '{source.name}' is a transcript (use blank_lines or tokens)"))
        if not check_files:
            return problems
        problems += prompt_problems(spec, options, base)
        return problems

    @classmethod
    def files(cls, spec: Any, options: dict[str, Any]) -> list[Any]:
        return [spec.resolve(options[k]) for k in ("prompt", "few_shot") if isinstance(options.get(k), str)]


# ---- helpers --------------------------------------------------------------------------------------
def default_sources(spec: Any) -> list[str]:
    return [s.name for s in spec.sources if s.format == "transcript"]


def as_chunk(example: Example) -> Chunk:
    origin = example.origin
    if "text" in example.record:
        text = str(example.record["text"])
    else:
        text = "\n".join(f"{m.get('name') or m.get('role')}: {m.get('content') or ''}"
                         for m in example.record.get("messages") or [] if isinstance(m, dict))
    last = origin.end_line or example.meta.get("end_line") or origin.line
    return Chunk(origin.source, origin.file, origin.line, int(last), text, 1)


def prompt_text(spec: Any, options: dict[str, Any]) -> str:
    if "prompt_text" in options:
        return str(options["prompt_text"])
    return spec.resolve(options["prompt"]).read_text(encoding="utf-8-sig")


def render_prompt(template: Any, chunk: Chunk, where: str) -> str:
    from ftspec.data.templates import render_template

    return render_template(template, where, chunk=chunk.text, source=chunk.source, file=chunk.file,
                           first_line=chunk.first_line, last_line=chunk.last_line)


def parse_answer(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """JSON lines -> chat examples, and one problem per line that is not one."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("```"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"malformed_answer: answer line {n} is not JSON ({exc.msg} at column {exc.colno})")
            continue
        problem = chat_problem(value)
        if problem is not None:
            problems.append(f"malformed_answer: answer line {n}: {problem}")
            continue
        records.append({"messages": [{"role": m["role"], "content": m["content"]} for m in value["messages"]]})
    return records, problems


def _shot_problems(path: Any, shown: str) -> tuple[list[tuple[str, str]], list[Problem]]:
    """A few-shot JSONL file: ``{"input": "raw text", "output": [chat example, ...]}`` per line."""
    shots: list[tuple[str, str]] = []
    problems: list[Problem] = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(Location(shown), f"cannot read few-shot file: {exc}")]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem, shot = _shot(line)
        if problem is not None:
            problems.append(Problem(Location(shown, n), f"few-shot example: {problem}"))
        elif shot is not None:
            shots.append(shot)
    if not shots and not problems:
        problems.append(Problem(Location(shown), "few-shot file has no example"))
    return shots, problems


def _shot(line: str) -> tuple[str | None, tuple[str, str] | None]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})", None
    if not isinstance(value, dict) or not isinstance(value.get("input"), str) or not value["input"].strip():
        return "needs 'input' (the raw text) and 'output' (a list of chat examples)", None
    output = value.get("output")
    if not isinstance(output, list) or not output:
        return "'output' must be a non-empty list of chat examples", None
    for i, example in enumerate(output, 1):
        problem = chat_problem(example)
        if problem is not None:
            return f"output {i}: {problem}", None
    answer = "\n".join(json.dumps(e, ensure_ascii=False) for e in output)
    return None, (value["input"], answer)


def few_shot_messages(spec: Any, options: dict[str, Any], index: int, prompt: Any) -> list[dict[str, str]]:
    """The few-shot pairs as chat turns: the prompt with each shot's input, then its output."""
    if not options.get("few_shot"):
        return []
    from ftspec.spec.loader import display_path

    path = spec.resolve(options["few_shot"])
    shots, problems = _shot_problems(path, display_path(path))
    if problems:
        raise DataError(problems)
    messages: list[dict[str, str]] = []
    for n, (text, answer) in enumerate(shots, 1):
        chunk = Chunk("few_shot", display_path(path), n, n, text, 1)
        messages.append({"role": "user", "content": render_prompt(prompt, chunk, "few-shot prompt")})
        messages.append({"role": "assistant", "content": answer})
    return messages


def prompt_problems(spec: Any, options: dict[str, Any], base: tuple[Any, ...]) -> list[Problem]:
    """The prompt compiles and renders on sample values (an undefined variable is located here,
    before any call), the few-shot file holds valid chat examples."""
    from ftspec.data.templates import TemplateError, TemplateRefused, compile_template
    from ftspec.spec.loader import display_path

    key = "prompt_text" if "prompt_text" in options else "prompt"
    missing = spec.file_problem((*base, "prompt"), options["prompt"], "prompt file") if key == "prompt" else None
    if missing:
        return [missing]
    shown = options["prompt"] if key == "prompt" else "prompt_text"
    import jinja2

    try:
        template = compile_template(prompt_text(spec, options))
        render_prompt(template, Chunk("source", "file.txt", 1, 2, "sample text", 1), shown)
    except jinja2.TemplateSyntaxError as exc:
        return [spec.problem((*base, key), f"{shown}: syntax error on its line {exc.lineno}: {exc.message}")]
    except TemplateRefused as exc:
        return [spec.problem((*base, key), f"{shown}: on its line {exc.lineno}: {exc}")]
    except TemplateError as exc:
        message = str(exc)
        if "is undefined" in message:
            message += f"; a prompt has: {', '.join(VARIABLES)}"
        return [spec.problem((*base, key), message)]
    except (OSError, UnicodeDecodeError) as exc:
        return [spec.problem((*base, key), f"cannot read the prompt: {exc}")]
    if "chunk" not in prompt_text(spec, options):
        return [spec.problem((*base, key), f"{shown}: the prompt never uses {{{{ chunk }}}}, so the model would "
                                           "never see the text")]
    if options.get("few_shot"):
        path = spec.resolve(options["few_shot"])
        if not path.is_file():
            return [spec.problem((*base, "few_shot"), f"few-shot file not found: {options['few_shot']}")]
        return _shot_problems(path, display_path(path))[1]
    return []
