"""The one retry layer: bounded exponential backoff with jitter that honours Retry-After.

Providers wrap each API call in ``call_with_retries``; nothing above the provider layer
(evals, graph) retries again, so attempts never multiply. A provider built on an SDK that
retries by itself turns the SDK's retries off (the OpenAI wrapper sets ``max_retries=0``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from ftspec.errors import ProviderError

T = TypeVar("T")
BASE_DELAY_S = 0.5
MAX_DELAY_S = 60.0


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): the server's Retry-After when
    it sent one, else ``0.5 * 2**attempt`` with full jitter in its upper half, capped at 60 s."""
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), MAX_DELAY_S)
    return min(MAX_DELAY_S, BASE_DELAY_S * 2 ** attempt) * (0.5 + random.random() / 2)


def call_with_retries(fn: Callable[[], T], *, retries: int, sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``; a retryable ``ProviderError`` is retried up to ``retries`` times, then raised."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except ProviderError as exc:
            if not exc.retryable or attempt >= retries:
                raise
            sleep(backoff_delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")
