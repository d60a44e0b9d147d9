"""Model calls made by data steps (``extract``, ``distill``, ``moderate``): the requests, the
content cache, and the client interface a caller injects.

The data layer never imports providers. A caller that owns them (the graph's dataset task, via
``ftspec.providers.models.spec_models``) puts a ``ModelClient`` on ``BuildContext.models``,
as ``spec_token_counter`` hands in a token counter: the data layer says *what* to ask, the
providers layer says *how*. Without a client (``validate``, ``plan``, ``review``) no call is
made: answers come from the cache and every other call is counted as pending, with its token
estimate, so ``ftspec plan`` can price it before anything is spent.

Every answer is cached by content (``Call.key``: endpoint scope, provider, model, the exact
messages, which hold the chunk, prompt and few-shot, and the sampling), written the moment it
arrives, so a build killed halfway pays again only for the calls that were in flight, a
rebuild after an unrelated change makes no call, and a prompt change re-asks only what it must.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ftspec.util import canonical_json, sha256_text

CACHE_VERSION = 1
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class StepModel:
    """The model one step calls, and where in the spec the step is (for located errors)."""

    step: str  # extract | distill | moderate
    index: int  # position in ``transforms:``
    provider: str
    model: str
    scope: str  # the endpoint (provider + base_url hash): a test server's answers never serve real calls
    kind: str = "chat"  # chat | moderation
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def label(self) -> str:
        return f"transforms[{self.index}].{self.step}"

    @property
    def path(self) -> tuple[str | int, ...]:
        """The spec path of the step's options."""
        return ("transforms", self.index, self.step)


@dataclass
class Call:
    """One request: chat ``messages`` with ``sampling``, or moderation ``inputs``."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    sampling: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] | None = None

    def key(self, model: StepModel) -> str:
        return sha256_text(canonical_json({
            "v": CACHE_VERSION, "scope": model.scope, "provider": model.provider, "model": model.model,
            "kind": model.kind, "messages": self.messages, "sampling": self.sampling, "inputs": self.inputs,
        }))


@dataclass
class Answer:
    """What came back: chat text, or per-input moderation scores; ``error`` when the provider
    refused this one request (its fault, not the connection's), which is never cached."""

    text: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scores: list[dict[str, float]] | None = None  # moderation: category -> score, per input
    flagged: list[list[str]] | None = None  # moderation: the categories the endpoint flagged, per input
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "finish_reason": self.finish_reason,
                               "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}
        if self.scores is not None:
            out["scores"] = self.scores
            out["flagged"] = self.flagged or [[] for _ in self.scores]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(**{k: data[k] for k in ("text", "finish_reason", "prompt_tokens", "completion_tokens",
                                           "scores", "flagged") if k in data})


class ModelClient(Protocol):
    """What the caller injects (``BuildContext.models``)."""

    def prepare(self, model: StepModel) -> None:
        """Check the step can run (provider known, model available, endpoint exists) before any
        paid call; raise a located ``FtspecError`` otherwise."""

    def run(self, model: StepModel, calls: list[Call], on_answer: Callable[[int, Answer], None]) -> None:
        """Make every call, up to ``model.concurrency`` in flight, handing each answer to
        ``on_answer(index, answer)`` in the calling thread as soon as it arrives. A failure that
        is not one request's fault (auth, retries exhausted) raises after the answers so far."""


# ---- the cache ------------------------------------------------------------------------------
_SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, step TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, answer TEXT NOT NULL)"""


class AnswerCache:
    """sqlite under ``.ftspec/cache/generated.sqlite`` (WAL: several builds may share it). Each
    ``put`` commits at once: a SIGKILL loses no answer that had arrived."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    @classmethod
    def for_spec(cls, spec: Any) -> AnswerCache:
        from ftspec.project import project_root, state_dir

        return cls(state_dir(project_root(spec.path)) / "cache" / "generated.sqlite")

    def get(self, key: str) -> Answer | None:
        row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return Answer.from_json(json.loads(row[0])) if row else None

    def put(self, key: str, model: StepModel, answer: Answer) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                             (key, model.step, model.provider, model.model, json.dumps(answer.to_json())))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()


# ---- one step's calls -------------------------------------------------------------------------
class StepCalls:
    """A step's calls through the cache and the injected client, with the step's books in
    ``ctx.steps[label]`` (what the manifest and ``ftspec plan`` show)."""

    def __init__(self, spec: Any, ctx: Any, model: StepModel, *, max_tokens: int | None) -> None:
        self.spec = spec
        self.ctx = ctx
        self.model = model
        self.max_tokens = max_tokens
        self.cache = AnswerCache.for_spec(spec)
        self._prepared = False
        self._counter: Any = None
        self.books: dict[str, Any] = ctx.steps.setdefault(model.label, {})
        for key, value in {
            "step": model.step, "provider": model.provider, "model": model.model,
            "calls": 0, "cached": 0, "called": 0, "pending": 0, "refused": 0,
            "prompt_tokens": 0, "completion_tokens": 0,
            "pending_prompt_tokens": 0, "pending_max_completion_tokens": 0 if max_tokens else None,
            "pending_tokens_exact": True,
        }.items():
            self.books.setdefault(key, value)

    def answers(self, calls: list[Call]) -> list[Answer | None]:
        """One answer per call, in order: cached, fresh, or None (pending: no client)."""
        keys = [c.key(self.model) for c in calls]
        out: list[Answer | None] = [self.cache.get(k) for k in keys]
        self.books["calls"] += len(calls)
        self.books["cached"] += sum(a is not None for a in out)
        todo = [i for i, a in enumerate(out) if a is None]
        if not todo:
            return out
        client = self.ctx.models
        if client is None:
            self._count_pending([calls[i] for i in todo])
            return out
        if not self._prepared:
            client.prepare(self.model)
            self._prepared = True

        def arrived(j: int, answer: Answer) -> None:
            i = todo[j]
            out[i] = answer
            if answer.error is not None:
                self.books["refused"] += 1
                return
            self.cache.put(keys[i], self.model, answer)  # first, so a crash right after loses nothing
            self.books["called"] += 1
            self.books["prompt_tokens"] += answer.prompt_tokens
            self.books["completion_tokens"] += answer.completion_tokens

        client.run(self.model, [calls[i] for i in todo], arrived)
        return out

    def _count_pending(self, calls: list[Call]) -> None:
        """Token estimates for calls not made: what ``ftspec plan`` prices."""
        if self._counter is None:
            from ftspec.data.tokens import counter_for_model

            self._counter = counter_for_model(self.model.model)
            self.books["pending_tokens_exact"] = bool(self._counter.exact)
        self.books["pending"] += len(calls)
        if self.model.kind == "moderation":
            texts = [t for c in calls for t in c.inputs or ()]
            self.books["pending_prompt_tokens"] += sum(self._counter.count_texts(texts)) if texts else 0
            return
        self.books["pending_prompt_tokens"] += sum(self._counter.count_records([{"messages": c.messages}
                                                                               for c in calls]))
        if self.max_tokens:
            self.books["pending_max_completion_tokens"] += self.max_tokens * len(calls)

    def close(self) -> None:
        self.cache.close()


def step_scope(spec: Any, provider: str) -> str:
    """Which endpoint a step's provider talks to, as ``graph.inputs.provider_scope`` names it."""
    settings = (spec.raw.get("providers") or {}).get(provider) or {}
    where = settings.get("base_url") or settings.get("endpoint") or settings.get("store") or ""
    return f"{provider}-{sha256_text(canonical_json(where))[:8]}"


def pending_warning(books: dict[str, Any], label: str) -> str | None:
    if not books.get("pending"):
        return None
    return (f"{label}: {books['pending']} of {books['calls']} model call(s) not made yet (no calls outside "
            f"`ftspec build`); their examples are missing here. `ftspec plan` shows their cost")


WINDOW = 64  # items asked for together (up to ``concurrency`` in flight): memory stays flat


def in_windows(items: Iterable[Any], concurrency: int, answer: Callable[[list[Any]], Iterator[Any]],
               passes: Callable[[Any], bool] = lambda item: False) -> Iterator[Any]:
    """``answer`` over ``items`` a window at a time (at least ``WINDOW``, and 4 x ``concurrency`` so
    every slot stays busy); an item ``passes`` marks is not the model's and goes straight out."""
    window: list[Any] = []
    for item in items:
        if passes(item):
            yield item
            continue
        window.append(item)
        if len(window) >= max(WINDOW, 4 * concurrency):
            yield from answer(window)
            window = []
    if window:
        yield from answer(window)
