"""Dataset validation on every build: OpenAI's chat data-prep checks and the legacy
``prepare_data`` checks for prompt/completion data, on the records exactly as written.

Every per-example problem names the source row and the split it went to, e.g.
``data/chats.jsonl:12: missing_content: message 2 (assistant) has no content (train split)``.
A source with ``on_error: skip`` has such examples skipped and counted instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ftspec.data.context import BuildContext
from ftspec.data.preference import SINGLE_TURN_PROVIDERS, is_preference, preference_problems
from ftspec.data.records import Origin, Rendered
from ftspec.errors import Location, Problem

# The notebook's sets, extended by what OpenAI's chat format accepts today (tools).
MESSAGE_KEYS = frozenset({"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight"})
ROLES = frozenset({"system", "user", "assistant", "function", "tool"})
MIN_EXAMPLES = 10  # OpenAI refuses smaller training files
FEW_EXAMPLES = 100  # prepare_data: "at least a few hundred" recommended below this
MAX_SHOWN_ERRORS = 200
COMMON_PROMPT_PREFIX = 12  # prepare_data flags longer shared prompt prefixes
COMMON_COMPLETION_PREFIX = 5
REMOTE_PROVIDERS = ("openai", "azure")


def chat_problems(record: Any) -> list[tuple[str, str]]:
    """``[(check, detail)]`` for one chat record: every check of OpenAI's data-prep notebook."""
    if not isinstance(record, dict):
        return [("data_type", "example is not a JSON object")]
    messages = record.get("messages")
    if not messages or not isinstance(messages, list):
        return [("missing_messages_list", "example has no 'messages' list")]
    if _all_plain(messages):
        return []
    out: list[tuple[str, str]] = []
    for index, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            out.append(("data_type", f"message {index} is not an object"))
            continue
        out.extend(message_problems(index, message))
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        out.append(("example_missing_assistant_message", "example has no assistant message"))
    return out


_PLAIN_KEYS = frozenset({"role", "content", "name"})
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def _all_plain(messages: list[Any]) -> bool:
    """Fast path for the common case: text messages with known roles and an assistant turn."""
    assistant = False
    for m in messages:
        if m.__class__ is not dict or not m.keys() <= _PLAIN_KEYS:
            return False
        content, role = m.get("content"), m.get("role")
        if content.__class__ is not str or not content or role not in _PLAIN_ROLES:
            return False
        assistant = assistant or role == "assistant"
    return assistant


def message_problems(index: int, message: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    role = message.get("role")
    calls = message.get("tool_calls") or message.get("function_call")
    what = f"message {index}" + (f" ({role})" if isinstance(role, str) else "")
    if "role" not in message:
        out.append(("message_missing_key", f"{what} has no 'role'"))
    if "content" not in message and not calls:
        # counted under both checks, as OpenAI's data-prep notebook counts it
        out.append(("message_missing_key", f"{what} has no 'content' key"))
        out.append(("missing_content", f"{what} has no content"))
    for key in sorted(set(message) - MESSAGE_KEYS):
        out.append(("message_unrecognized_key", f"{what} has an unrecognized key '{key}'"))
    if "role" in message and role not in ROLES:
        out.append(("unrecognized_role", f"{what} has an unrecognized role {role!r} (use system, user, assistant or tool, or map it with `template.roles`)"))
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        out.append(("missing_content", f"{what}: 'content' must be a string (or a list of content parts), "
                                       f"got {_json_type(content)}"))
    elif "content" in message and not content and not calls:
        out.append(("missing_content", f"{what} has no content"))
    if "weight" in message and (message["weight"] not in (0, 1) or isinstance(message["weight"], bool) or role != "assistant"):
        out.append(("invalid_weight", f"{what}: 'weight' must be 0 or 1, on assistant messages only"))
    return out


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


@dataclass
class Tally:
    """A count and the first location (bounded memory however many there are)."""

    count: int = 0
    first: str = ""
    first_at: tuple[str, int] | None = None  # (file, line): orders tallies merged from shards

    def merge(self, other: Tally) -> None:
        self.count += other.count
        if other.first_at is not None and (self.first_at is None or other.first_at < self.first_at):
            self.first, self.first_at = other.first, other.first_at


class DatasetValidator:
    """Checks each rendered record (``check``), then whole-dataset rules (``finish``)."""

    def __init__(self, spec, template, counter, ctx: BuildContext) -> None:
        from ftspec.data.base_models import lookup

        self.spec = spec
        self.kind = template.kind
        self.method = spec.job.get("method", "supervised")
        self.single_turn = spec.provider in SINGLE_TURN_PROVIDERS
        self.template = template
        self.counter = counter
        self.ctx = ctx
        self.on_error = {s.name: s.on_error for s in spec.sources}
        info = lookup(spec.base_model)
        self.limit: int | None = info.context_limit if info else None
        self.lines = {"train": 0, "validation": 0}
        self.max_shown = MAX_SHOWN_ERRORS  # a shard of a parallel run shows its share
        self.shown_errors = 0
        self.hidden_errors = 0
        self.missing_system = Tally()
        self.missing_user = Tally()
        self.untrained = Tally()  # examples whose every assistant message has weight 0
        self.over_limit_estimates = 0
        # completion-only state (bounded: digests and two prefixes)
        self.digests: set[bytes] = set()
        self.duplicates = Tally()
        self.prompt_prefix: str | None = None
        self.completion_prefix: str | None = None
        self.completion_suffix: str | None = None  # shared ending of the completions, before the stop
        self.suffix_repeats = 0  # completions holding that ending more than once
        self.first_prompt: str | None = None
        self.first_completion: str | None = None
        self.same_prompt = self.same_completion = True

    # ---- per example ----------------------------------------------------------------------
    def check(self, item: Rendered) -> bool:
        """Validate one record; False when its source skips bad rows and this one is bad."""
        problems = self._shape_problems(item.record)
        problems += self._limit_problems(item)
        origin = item.example.origin
        if problems and self.on_error.get(origin.source) == "skip":
            # one skipped example, counted once under its first problem; the others are listed
            reasons = [f"{check}: {detail}" for check, detail in problems]
            self.ctx.bad_row(origin.source, "skip", origin.file, origin.line, reasons[0], also=reasons[1:])
            return False
        self.lines[item.split] += 1
        # the split, never an output line: a dataset with errors writes no file to look in
        where = f" ({item.split} split)"
        for check, detail in problems:
            self._error(Problem(Location(origin.file, origin.line), f"{check}: {detail}{where}"))
        if self.method == "dpo" and is_preference(item.record) and isinstance(item.record.get("input"), dict):
            self._chat_stats(item.record["input"], origin)
        elif self.kind == "chat" and isinstance(item.record, dict):
            self._chat_stats(item.record, origin)
        elif self.kind == "completion":
            self._completion_stats(item.record, origin)
        return True

    def _shape_problems(self, record: Any) -> list[tuple[str, str]]:
        if self.method == "dpo":
            if not is_preference(record):
                return [("not_a_preference", "job.method dpo trains on preference pairs (input, preferred_output, "
                                             "non_preferred_output); this example is not one")]
            return preference_problems(record, single_turn=self.single_turn)
        if is_preference(record):
            return [("preference_example", "a preference pair trains only with `job.method: dpo`")]
        return chat_problems(record) if self.kind == "chat" else self._completion_problems(record)

    def _error(self, problem: Problem) -> None:
        if self.shown_errors < self.max_shown:
            self.shown_errors += 1
            self.ctx.problems.append(problem)
        else:
            self.hidden_errors += 1

    def _limit_problems(self, item: Rendered) -> list[tuple[str, str]]:
        if self.limit is None or item.tokens <= self.limit:
            return []
        if not self.counter.exact:
            self.over_limit_estimates += 1
            return []
        return [("over_limit", f"example has {item.tokens} tokens, over the {self.limit}-token "
                 f"per-example limit of {self.spec.base_model} (it would be truncated); shorten it "
                 "or add the transform `max_tokens: {action: drop}`")]

    def _chat_stats(self, record: dict[str, Any], origin: Origin) -> None:
        messages = [m for m in record.get("messages") or [] if isinstance(m, dict)]
        roles = {m.get("role") for m in messages}
        if "system" not in roles:
            self._note(self.missing_system, origin)
        if "user" not in roles:
            self._note(self.missing_user, origin)
        weights = [m.get("weight", 1) for m in messages if m.get("role") == "assistant"]
        if weights and all(w == 0 for w in weights):
            self._note(self.untrained, origin)

    @staticmethod
    def _note(tally: Tally, origin: Origin) -> None:
        tally.count += 1
        if tally.first_at is None:  # formatted once: this runs per example
            tally.first, tally.first_at = str(origin), (origin.file, origin.line)

    def _completion_problems(self, record: Any) -> list[tuple[str, str]]:
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str) or not isinstance(record.get("completion"), str):
            return [("data_type", "example needs string 'prompt' and 'completion'")]
        sep, stop = self.template.separator, self.template.stop[0]
        prompt, completion = record["prompt"], record["completion"]
        out = []
        if not prompt.endswith(sep):
            out.append(("separator", f"prompt does not end with the separator {sep!r}"))
        elif prompt.count(sep) > 1:
            out.append(("separator", f"the separator {sep!r} occurs {prompt.count(sep)} times in the prompt"))
        if not completion.startswith(" ") or completion.startswith("  "):
            out.append(("leading_space", "completion must start with exactly one space"))
        if not completion.endswith(stop):
            out.append(("stop", f"completion does not end with the stop sequence {stop!r}"))
        elif completion.count(stop) > 1:
            out.append(("stop", f"the stop sequence {stop!r} occurs {completion.count(stop)} times in the completion"))
        return out

    def _completion_stats(self, record: Any, origin: Origin) -> None:
        if not isinstance(record, dict):
            return
        prompt, completion = str(record.get("prompt")), str(record.get("completion"))
        digest = hashlib.blake2b(f"{prompt}\x00{completion}".encode(), digest_size=16).digest()
        if digest in self.digests:
            self._note(self.duplicates, origin)
        self.digests.add(digest)
        stop = self.template.stop[0]
        body = completion[: -len(stop)] if stop and completion.endswith(stop) else completion
        if self.first_prompt is None:
            self.first_prompt, self.first_completion = prompt, completion
            self.prompt_prefix, self.completion_prefix = prompt, completion
            self.completion_suffix = body
            return
        suffix = self.completion_suffix = _common_suffix(self.completion_suffix or "", body)
        if suffix and body.count(suffix) > 1:
            self.suffix_repeats += 1
        self.same_prompt &= prompt == self.first_prompt
        self.same_completion &= completion == self.first_completion
        self.prompt_prefix = _common_prefix(self.prompt_prefix or "", prompt)
        self.completion_prefix = _common_prefix(self.completion_prefix or "", completion)

    # ---- parallel validation (chat data) ----------------------------------------------------
    def shard_state(self) -> dict[str, Any]:
        """What ``finish`` needs from one shard (picklable)."""
        return {"lines": dict(self.lines), "hidden_errors": self.hidden_errors,
                "missing_system": self.missing_system, "missing_user": self.missing_user,
                "untrained": self.untrained, "over_limit_estimates": self.over_limit_estimates}

    def merge_shard_state(self, state: dict[str, Any]) -> None:
        for split, n in state["lines"].items():
            self.lines[split] += n
        self.hidden_errors += state["hidden_errors"]
        self.missing_system.merge(state["missing_system"])
        self.missing_user.merge(state["missing_user"])
        self.untrained.merge(state["untrained"])
        self.over_limit_estimates += state["over_limit_estimates"]

    # ---- whole dataset --------------------------------------------------------------------
    def finish(self, counts_by_split: dict[str, int]) -> tuple[list[Problem], list[str]]:
        from ftspec.data.split import empty_validation_warning

        errors: list[Problem] = []
        warnings: list[str] = []
        # dataset-level problems point at the spec's `sources:` key (every error is file:LINE:COL)
        at = self.spec.positions.key(("sources",))
        # (a `sources:` written in a base spec it extends is located in that file)
        spec_loc = at if at.file != self.spec.positions.file else Location(_shown_spec(self.spec), at.line, at.col)
        n = counts_by_split.get("train", 0)
        if self.hidden_errors:
            errors.append(Problem(spec_loc, f"{self.hidden_errors} more validation errors not shown"))
        from ftspec.data.base_models import provider_dataset_limits

        limits = provider_dataset_limits(self.spec.provider)  # what the service publishes
        low, high = limits.get("min_examples"), limits.get("max_examples")
        why = self._rows_note()
        if low is not None and n < low:
            errors.append(Problem(spec_loc, f"only {n} training examples{why}; provider '{self.spec.provider}' "
                                            f"needs at least {low}"))
        if high is not None and n > high:
            errors.append(Problem(spec_loc, f"{n:,} training examples; provider '{self.spec.provider}' "
                                            f"takes at most {high:,}"))
        needs_minimum = self.kind == "completion" or self.spec.provider in REMOTE_PROVIDERS
        if needs_minimum and n < MIN_EXAMPLES:
            errors.append(Problem(spec_loc, f"only {n} training examples{why}; fine-tuning needs at least {MIN_EXAMPLES}"))
        elif n < FEW_EXAMPLES:
            warnings.append(f"{n} training examples; at least {FEW_EXAMPLES} (ideally a few hundred) usually train better")
        if self.kind == "chat":
            warnings += self._chat_warnings()
        else:
            errors_c, warnings_c = self._completion_findings(spec_loc, n, why)
            errors += errors_c
            warnings += warnings_c
        if self.limit is None:
            warnings.append(f"the per-example token limit of {self.spec.base_model} is unknown; examples were not checked against it")
        if self.over_limit_estimates:
            warnings.append(f"{self.over_limit_estimates} examples may exceed the {self.limit}-token limit (token counts are estimates)")
        hashed = any(s.split == "auto" for s in self.spec.sources)
        no_validation = empty_validation_warning(self.spec.split["validation"], counts_by_split, hashed)
        if no_validation:
            warnings.append(no_validation)
        return errors, warnings

    def _rows_note(self) -> str:
        """Why the dataset is smaller than its files: rows skipped (by reason), examples removed,
        or the row errors listed before the dataset-level ones."""
        notes = [note for note in (self.ctx.skipped_summary(), self.ctx.removed_summary()) if note]
        rows = len({p.location for p in self.ctx.problems}) + self.hidden_errors
        if rows:
            notes.append(f"{rows} row{'s' if rows > 1 else ''} with errors listed above")
        return f" ({'; '.join(notes)})" if notes else ""

    def _chat_warnings(self) -> list[str]:
        out = []
        for tally, what in ((self.missing_system, "system"), (self.missing_user, "user")):
            if tally.count:
                out.append(f"{tally.count} examples have no {what} message (first: {tally.first})")
        n = self.untrained.count
        if n:
            out.append(f"{n} example{' has' if n == 1 else 's have'} weight 0 on every assistant message and "
                       f"train{'s' if n == 1 else ''} nothing (first: {self.untrained.first}); "
                       "set weight 1 on the turns to learn")
        return out

    def _completion_findings(self, spec_loc: Location, n: int, why: str) -> tuple[list[Problem], list[str]]:
        errors, warnings = [], []
        if n > 1 and self.same_prompt:
            errors.append(Problem(spec_loc, f"all {n} prompts are identical{why}; the model cannot learn what to answer"))
        if n > 1 and self.same_completion:
            errors.append(Problem(spec_loc, f"all {n} completions are identical{why}; this is not a useful fine-tune"))
        if self.duplicates.count:
            warnings.append(f"{self.duplicates.count} examples repeat an earlier prompt and completion (first: {self.duplicates.first}); add the `dedupe` transform")
        if n > 1 and self.prompt_prefix and len(self.prompt_prefix) > COMMON_PROMPT_PREFIX and not self.same_prompt:
            warnings.append(f"all prompts start with the same {len(self.prompt_prefix)} characters {self.prompt_prefix[:40]!r}; consider removing the shared prefix")
        prefix = (self.completion_prefix or "")[1:]
        if n > 1 and len(prefix) >= COMMON_COMPLETION_PREFIX and not self.same_completion:
            warnings.append(f"all completions start with the same {len(prefix)} characters {prefix[:40]!r}; consider removing the shared prefix")
        suffix, stop = self.completion_suffix or "", self.template.stop[0]
        # the legacy tool's check: an ending every completion shares is a stop in disguise (one
        # punctuation mark ending every sentence is not)
        if n > 1 and not self.same_completion and suffix.strip(" ") and (len(suffix) > 1 or suffix.isspace()):
            many = self.suffix_repeats
            repeats = (f", and {many} hold{'s' if many == 1 else ''} it more than once, so it is no unique stop"
                       if many else f"; if it is your data's own stop, set `template.stop: {suffix!r}`")
            warnings.append(f"all completions end with {suffix[-40:]!r} before the stop {stop!r}{repeats}")
        return errors, warnings


def _common_suffix(a: str, b: str) -> str:
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[-1 - i] == b[-1 - i]:
        i += 1
    return a[len(a) - i:]


def _common_prefix(a: str, b: str) -> str:
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[i] == b[i]:
        i += 1
    return a[:i]


def _shown_spec(spec) -> str:
    from ftspec.spec.loader import display_path

    return display_path(spec.path)
