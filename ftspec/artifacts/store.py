"""A content-addressed object store on any fsspec filesystem.

Layout under the remote's URL::

    objects/<sha[:2]>/<sha[2:]>        one blob per distinct file content (sha256 of its bytes)
    tmp/<sha>.<random>                 uploads in flight; promoted to objects/ only when complete

A blob appears under its final key only by a copy/rename of a complete temporary upload, so a
killed push never leaves a truncated object where a reader looks. A pull writes a ``.part``
file beside its target, resumes it from its current length on the next run, checks the
sha256 of the whole and only then renames it into place.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftspec.artifacts.config import RemoteSpec
from ftspec.errors import FtspecError

CHUNK_BYTES = 8 << 20
# Object stores pay per request: upload parts and download ranges are this large (one buffer
# per transfer in flight), reads and writes within them go by CHUNK_BYTES.
PART_BYTES = 64 << 20
# Tests slow transfers down to SIGKILL them mid-way; nothing else sets these.
TEST_CHUNK_ENV = "FTSPEC_REMOTE_TEST_CHUNK_BYTES"
TEST_DELAY_ENV = "FTSPEC_REMOTE_TEST_CHUNK_DELAY_S"

CREDENTIAL_HINTS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / ~/.aws/credentials)",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS or run: gcloud auth application-default login",
    "gcs": "set GOOGLE_APPLICATION_CREDENTIALS or run: gcloud auth application-default login",
    "az": "set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME with az login",
    "abfs": "set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME with az login",
    "ssh": "load a key into ssh-agent or ~/.ssh/config",
    "sftp": "load a key into ssh-agent or ~/.ssh/config",
}
CREDENTIAL_ERRORS = {"NoCredentialsError", "PartialCredentialsError", "InvalidAccessKeyId",
                     "SignatureDoesNotMatch", "DefaultCredentialsError", "ClientAuthenticationError",
                     "AuthenticationException"}
EXTRA_FOR = {"s3": "ftspec[remote]", "s3a": "ftspec[remote]"}
# Downloads stay one sequential stream (so a killed pull leaves a prefix it can resume from);
# backends that would split a download into concurrent ranges are told so here.
SEQUENTIAL_GET = {"s3": {"max_concurrency": 1}, "s3a": {"max_concurrency": 1}}


class RemoteError(FtspecError):
    """A remote store refused, failed, or holds bytes that do not match their address."""


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def check_url(url: str) -> None:
    """Fail with one line when no installed fsspec backend serves the URL's scheme."""
    _filesystem_class(url)


def _filesystem_class(url: str):
    import fsspec

    scheme = scheme_of(url)
    try:
        return fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise RemoteError(f"remote URL {url}: no fsspec backend knows the scheme '{scheme}://'") from None
    except ImportError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        package = getattr(cause, "name", None) or _package_from_registry(scheme)
        install = EXTRA_FOR.get(scheme, package)
        raise RemoteError(f"remote URL {url}: the '{scheme}://' scheme needs the package {package}; "
                          f"run: pip install '{install}'") from None


def _package_from_registry(scheme: str) -> str:
    from fsspec.registry import known_implementations

    return known_implementations.get(scheme, {}).get("class", scheme).split(".")[0]


def _is_credential_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in CREDENTIAL_ERRORS:
            return True
        text = str(seen)
        if any(word in text for word in ("InvalidAccessKeyId", "Unable to locate credentials",
                                         "SignatureDoesNotMatch")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def throttle() -> tuple[int, float]:
    """(chunk bytes, seconds to pause after each chunk): the normal chunk and no pause, unless a test says otherwise."""
    chunk = int(os.environ.get(TEST_CHUNK_ENV) or CHUNK_BYTES)
    return max(chunk, 1), float(os.environ.get(TEST_DELAY_ENV) or 0)


class Progress:
    """One line of bytes, rate and ETA on stderr (redrawn in place on a terminal)."""

    def __init__(self, verb: str, total_bytes: int, total_objects: int, *,
                 stream=None, interval_s: float = 1.0) -> None:
        self.verb = verb
        self.total = total_bytes
        self.objects = total_objects
        self.done = 0
        self.done_objects = 0
        self.started = time.monotonic()
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.1 if self.tty else interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self._draw(final=False)

    def object_done(self) -> None:
        with self._lock:
            self.done_objects += 1

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "-" if left == float("inf") else f"{left:.0f}s"
        return (f"{self.verb}: {human_bytes(self.done)} / {human_bytes(self.total)}, "
                f"{human_bytes(rate)}/s, ETA {eta} ({self.done_objects}/{self.objects} objects)")

    def _draw(self, *, final: bool) -> None:
        end = "\n" if final or not self.tty else ""
        prefix = "\r" if self.tty else ""
        self.stream.write(prefix + self.line() + end)
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.objects:
                self._draw(final=True)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@dataclass(frozen=True)
class Blob:
    """A local file (or bytes) to push, addressed by the sha256 of its content."""

    sha256: str
    size: int
    path: Path | None = None
    data: bytes | None = None

    def open(self):
        import io

        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data or b"")


class RemoteStore:
    """Push, pull, list and delete blobs in one declared remote."""

    def __init__(self, spec: RemoteSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.scheme = scheme_of(spec.url)
        cls = _filesystem_class(spec.url)
        with self.errors("connect"):
            self.fs = cls(**spec.options)
        self.root = cls._strip_protocol(spec.url).rstrip("/")

    # ---- addresses -------------------------------------------------------------------------
    def object_key(self, sha: str) -> str:
        return f"{self.root}/objects/{sha[:2]}/{sha[2:]}"

    def url_of(self, sha: str) -> str:
        return f"{self.spec.url.rstrip('/')}/objects/{sha[:2]}/{sha[2:]}"

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Backend exceptions become one line naming the remote and what to do."""
        try:
            yield
        except FtspecError:
            raise
        except Exception as exc:  # noqa: BLE001 - every backend raises its own types
            where = f"remote '{self.name}' ({self.spec.url})"
            if _is_credential_error(exc):
                hint = CREDENTIAL_HINTS.get(self.scheme, "configure the backend's credentials")
                raise RemoteError(f"{where}: {action}: no valid credentials; {hint}") from None
            if isinstance(exc, PermissionError):
                raise RemoteError(f"{where}: {action}: access denied ({exc})") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RemoteError(f"{where}: {action} failed: {type(exc).__name__}: {first}") from None

    # ---- queries ---------------------------------------------------------------------------
    def size(self, sha: str) -> int | None:
        """The stored size of blob ``sha``, or None when the remote lacks it."""
        with self.errors(f"look up object {sha[:12]}"):
            try:
                return int(self.fs.info(self.object_key(sha))["size"])
            except FileNotFoundError:
                return None

    def has(self, sha: str, size: int | None = None) -> bool:
        found = self.size(sha)
        return found is not None and (size is None or found == size)

    def list_objects(self) -> dict[str, int]:
        """Every blob under ``objects/``: sha -> size."""
        with self.errors("list objects"):
            try:
                found = self.fs.find(f"{self.root}/objects", detail=True)
            except FileNotFoundError:
                return {}
        out = {}
        for path, info in found.items():
            parts = path.rstrip("/").split("/")
            if len(parts) >= 2 and len(parts[-2]) == 2 and len(parts[-1]) == 62:
                out[parts[-2] + parts[-1]] = int(info.get("size") or 0)
        return out

    def list_temp(self) -> dict[str, int]:
        """Temporary uploads left by killed pushes: key -> size."""
        with self.errors("list temporary uploads"):
            try:
                found = self.fs.find(f"{self.root}/tmp", detail=True)
            except FileNotFoundError:
                return {}
        return {path: int(info.get("size") or 0) for path, info in found.items()}

    def delete(self, key: str) -> None:
        with self.errors(f"delete {key}"):
            self.fs.rm_file(key)

    # ---- transfers -------------------------------------------------------------------------
    def push(self, blob: Blob, progress: Progress | None = None) -> bool:
        """Upload ``blob`` unless the remote has it; returns whether bytes were sent."""
        if self.has(blob.sha256, blob.size):
            if progress:
                progress.add(blob.size)
                progress.object_done()
            return False
        tmp = f"{self.root}/tmp/{blob.sha256}.{uuid.uuid4().hex}"
        chunk, delay = throttle()
        with self.errors(f"upload object {blob.sha256[:12]}"):
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            if delay or blob.path is None:
                self._write_chunks(blob, tmp, chunk, delay, progress)
            else:  # the backend's own upload (multipart on object stores), reporting progress
                self.fs.put_file(str(blob.path), tmp, callback=_ProgressCallback(progress))
            sent = int(self.fs.info(tmp)["size"])
            if sent != blob.size:
                self.fs.rm_file(tmp)
                raise RemoteError(f"remote '{self.name}': upload of {blob.sha256[:12]} stored {sent} "
                                  f"bytes, not {blob.size}; nothing was promoted, push again")
            final = self.object_key(blob.sha256)
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(tmp, final)  # a rename on a filesystem, a server-side copy on object stores
        if progress:
            progress.object_done()
        return True

    def _write_chunks(self, blob: Blob, key: str, chunk: int, delay: float, progress: Progress | None) -> None:
        with blob.open() as src, self.fs.open(key, "wb", block_size=PART_BYTES) as out:
            while data := src.read(chunk):
                out.write(data)
                if progress:
                    progress.add(len(data))
                if delay:
                    time.sleep(delay)

    def pull(self, sha: str, dest: Path, *, size: int | None, origin: str,
             progress: Progress | None = None) -> None:
        """Download blob ``sha`` to ``dest`` (resuming a ``.part`` left by a killed pull).

        ``origin`` locates the expected sha256 (``specs/x.lock:12:5: artifacts.model.sha256``)
        for the error raised when the bytes do not match it; nothing is renamed into place then.
        """
        import hashlib

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.{sha[:16]}.part")
        chunk, delay = throttle()
        digest = hashlib.sha256()
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            part.unlink()
            offset = 0
        if offset:
            with open(part, "rb") as fh:
                while block := fh.read(CHUNK_BYTES):
                    digest.update(block)
            if progress:
                progress.add(offset)
        key = self.object_key(sha)
        with self.errors(f"download object {sha[:12]}"):
            try:
                remote_size = int(self.fs.info(key)["size"])
            except FileNotFoundError:
                raise RemoteError(f"{origin}: remote '{self.name}' has no object {sha}; "
                                  "push it from a machine that has it, or rebuild") from None
            if offset == 0 and not delay:  # one sequential stream; a kill leaves a prefix to resume
                self.fs.get_file(key, str(part), callback=_ProgressCallback(progress),
                                 **SEQUENTIAL_GET.get(self.scheme, {}))
                _fsync(part)
                digest = _sha256_of(part)
            else:
                self._read_range(key, part, offset, remote_size, digest, chunk, delay, progress)
        got = digest.hexdigest()
        if got != sha:
            part.unlink(missing_ok=True)
            raise RemoteError(f"{origin}: remote object {self.url_of(sha)} has sha256 {got}, not {sha}; "
                              "refused (nothing installed); the remote copy is corrupt: delete it and push again")
        os.replace(part, dest)
        if progress:
            progress.object_done()

    def _read_range(self, key: str, part: Path, offset: int, remote_size: int, digest, chunk: int,
                    delay: float, progress: Progress | None) -> None:
        """Append ``key`` from ``offset`` to ``part`` (a resumed or a throttled pull)."""
        with open(part, "ab") as out:
            if offset < remote_size:
                with self.fs.open(key, "rb", block_size=PART_BYTES, cache_type="none") as src:
                    src.seek(offset)
                    while data := src.read(chunk if delay else PART_BYTES):
                        out.write(data)
                        digest.update(data)
                        if progress:
                            progress.add(len(data))
                        if delay:
                            time.sleep(delay)
            out.flush()
            os.fsync(out.fileno())


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _sha256_of(path: Path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            digest.update(block)
    return digest


def _progress_callback_class():
    from fsspec.callbacks import Callback

    class ProgressCallback(Callback):
        """fsspec's per-chunk callback feeding a Progress line."""

        def __init__(self, progress: Progress | None) -> None:
            super().__init__()
            self.progress = progress

        def call(self, *args, **kwargs) -> None:
            return None

        def relative_update(self, inc: int = 1) -> None:
            if self.progress is not None:
                self.progress.add(inc)

    return ProgressCallback


def _ProgressCallback(progress: Progress | None):  # noqa: N802 - reads as the class it builds
    return _progress_callback_class()(progress)


def run_parallel(tasks: list[Callable[[], Any]], jobs: int) -> list[Any]:
    """Run ``tasks`` on at most ``jobs`` threads; the first error is raised after all stop."""
    from concurrent.futures import ThreadPoolExecutor

    if not tasks:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(tasks)))) as pool:
        futures = [pool.submit(t) for t in tasks]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def open_remote(root: Path, name: str | None = None) -> RemoteStore:
    from ftspec.artifacts.config import load_config

    return RemoteStore(load_config(root).remote(name))
