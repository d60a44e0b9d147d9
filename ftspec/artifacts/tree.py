"""A tree: the files of one artifact, addressed by the sha256 of its canonical listing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ftspec.artifacts.store import Blob
from ftspec.util import sha256_file


@dataclass(frozen=True)
class Entry:
    path: str  # relative, forward slashes
    blob: Blob


@dataclass(frozen=True)
class Tree:
    entries: tuple[Entry, ...]

    @classmethod
    def of(cls, files: dict[str, Path | bytes]) -> Tree:
        entries = []
        for rel in sorted(files):
            source = files[rel]
            if isinstance(source, bytes):
                blob = Blob(hashlib.sha256(source).hexdigest(), len(source), data=source)
            else:
                blob = Blob(sha256_file(source), source.stat().st_size, path=source)
            entries.append(Entry(rel, blob))
        return cls(tuple(entries))

    def listing(self) -> bytes:
        rows = [{"path": e.path, "sha256": e.blob.sha256, "bytes": e.blob.size} for e in self.entries]
        return (json.dumps({"tree": 1, "files": rows}, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @property
    def blob(self) -> Blob:
        data = self.listing()
        return Blob(hashlib.sha256(data).hexdigest(), len(data), data=data)

    @property
    def sha256(self) -> str:
        return self.blob.sha256

    @property
    def size(self) -> int:
        return sum(e.blob.size for e in self.entries)


def parse_listing(data: bytes, origin: str) -> list[dict]:
    """The ``files`` of a pulled tree listing (its sha256 was checked by the pull)."""
    from ftspec.artifacts.store import RemoteError

    try:
        rows = json.loads(data)["files"]
        return [{"path": str(r["path"]), "sha256": str(r["sha256"]), "bytes": int(r["bytes"])} for r in rows]
    except (ValueError, KeyError, TypeError):
        raise RemoteError(f"{origin}: the remote tree listing is not a valid ftspec tree") from None
