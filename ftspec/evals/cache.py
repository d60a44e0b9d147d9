"""A sqlite cache of generations and embeddings under ``.ftspec/cache/evals.sqlite``.

Generations are keyed by (model, messages or prompt, sampling, seed), so adding a case runs one
new generation and a rerun with nothing changed runs none. sqlite makes concurrent builds of
several specs safe (WAL, busy timeout).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ftspec.util import canonical_json, sha256_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, model TEXT NOT NULL, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector TEXT NOT NULL);
"""


def generation_key(request) -> str:
    fields = {
        "model": request.model, "messages": request.messages, "prompt": request.prompt, "n": request.n,
        "temperature": request.temperature, "top_p": request.top_p,
        "frequency_penalty": request.frequency_penalty, "presence_penalty": request.presence_penalty,
        "max_tokens": request.max_tokens, "stop": request.stop, "seed": request.seed,
    }
    return sha256_text(canonical_json(fields))


class EvalCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def for_project(cls, root: Path) -> EvalCache:
        from ftspec.project import state_dir

        return cls(state_dir(root) / "cache" / "evals.sqlite")

    # ---- generations ---------------------------------------------------------------------
    def get_generation(self, key: str):
        from ftspec.providers.base import ChatResult

        row = self._db.execute("SELECT result FROM generations WHERE key = ?", (key,)).fetchone()
        return ChatResult(**json.loads(row[0])) if row else None

    def put_generation(self, key: str, model: str, result) -> None:
        data = {"choices": list(result.choices), "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens, "latency_s": result.latency_s,
                "finish_reasons": list(result.finish_reasons)}
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?)", (key, model, json.dumps(data)))

    # ---- embeddings ----------------------------------------------------------------------
    def get_embeddings(self, embedder: str, texts: list[str]) -> list[list[float] | None]:
        out: list[list[float] | None] = []
        for text in texts:
            row = self._db.execute("SELECT vector FROM embeddings WHERE key = ?",
                                   (sha256_text(embedder + "\0" + text),)).fetchone()
            out.append(json.loads(row[0]) if row else None)
        return out

    def put_embeddings(self, embedder: str, texts: list[str], vectors: list[list[float]]) -> None:
        rows = [(sha256_text(embedder + "\0" + t), json.dumps([float(x) for x in v]))
                for t, v in zip(texts, vectors, strict=True)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)

    def count(self, table: str = "generations") -> int:
        assert table in ("generations", "embeddings")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EvalCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
