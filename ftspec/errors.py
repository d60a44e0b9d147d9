"""One exception root for everything a user can cause; the CLI turns these into exit codes.

Messages are complete, located, one-line sentences: the CLI prints them verbatim and never
shows a traceback for an ``FtspecError``.
"""

from __future__ import annotations

from dataclasses import dataclass


class FtspecError(Exception):
    """An error the user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        if not message:
            raise ValueError("FtspecError needs a message")
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """The lines the CLI prints, one problem per line."""
        return [self.message] + ([f"hint: {self.hint}"] if self.hint else [])


@dataclass(frozen=True, order=True)
class Location:
    """Where something came from: a file and, when known, a 1-based line and column."""

    file: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.col is not None:
                out += f":{self.col}"
        return out


@dataclass(frozen=True)
class Problem:
    """One located problem: ``file:LINE:COL: key.path: message``."""

    location: Location
    message: str
    key_path: str = ""

    def __str__(self) -> str:
        key = f"{self.key_path}: " if self.key_path else ""
        return f"{self.location}: {key}{self.message}"


class ProblemsError(FtspecError):
    """Several located problems found in one pass, reported together: sorted by location, then
    ``then`` in its own order (conclusions such as "too few examples" follow the rows causing them)."""

    def __init__(self, problems: list[Problem], *, hint: str | None = None,
                 then: list[Problem] | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.location, p.key_path, p.message)) + list(then or ())
        super().__init__("\n".join(str(p) for p in self.problems), hint=hint)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems] + ([f"hint: {self.hint}"] if self.hint else [])


class SpecError(ProblemsError):
    """The spec file is invalid (YAML, schema, or a semantic rule)."""


class DataError(ProblemsError):
    """A data file has bad rows (``file:LINE: reason``) or fails dataset validation."""


RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class ProviderError(FtspecError):
    """A provider refused or failed a request.

    ``status`` is the HTTP status (None when there was no response, or no HTTP at all);
    ``retryable`` says whether the same request may succeed later (rate limits, 5xx,
    timeouts, dropped connections); ``retry_after`` is the server's Retry-After in seconds.
    """

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None,
                 retryable: bool | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retryable = (status in RETRYABLE_STATUS) if retryable is None else retryable
        self.retry_after = retry_after


class ProviderNotFoundError(FtspecError):
    """No provider is registered under the requested name (or its extra is missing)."""


class NeedsKeyError(ProviderError):
    """The provider needs an API key that is not set (never retryable)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, retryable=False)


class JobFailedError(ProviderError):
    """A training job ended in ``failed`` or ``cancelled``."""


class LockError(FtspecError):
    """The lockfile or the project state is unreadable or inconsistent."""


class EvalError(FtspecError):
    """An eval set or case is invalid, or an eval gate failed."""


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str:
    """A " (did you mean 'x'?)" suffix for near misses, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
