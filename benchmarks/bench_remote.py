"""Benchmark: push and pull of a 250 MB artifact against moto's S3 server on 127.0.0.1.

ftspec's transfer (temporary key, then a server-side copy to the final key; pull to a ``.part``
file with sha256 checked while reading, then a rename) against a plain single-stream copy
through the same library (s3fs ``put_file``/``get_file`` with ``max_concurrency=1``: what
``aws s3 cp`` does on one stream). Prints MB/s for each and the ftspec / plain ratio.
Needs ``pip install 'ftspec[remote]' 'moto[server]'``.

    .venv/bin/python benchmarks/bench_remote.py [--mb 250] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **ENV})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return proc, endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"moto did not start: {log.read_text()[-1000:]}") from None
            time.sleep(0.2)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(ENV)
    import s3fs

    from ftspec.artifacts.config import RemoteSpec
    from ftspec.artifacts.store import Blob, RemoteStore
    from ftspec.util import sha256_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        proc, endpoint = start_moto(tmp_path / "moto.log")
        try:
            fs = s3fs.S3FileSystem(endpoint_url=endpoint, use_listings_cache=False)
            fs.mkdir("bench")
            src = tmp_path / "artifact.bin"
            with src.open("wb") as fh:
                for _ in range(args.mb):
                    fh.write(os.urandom(1 << 20))
            size = src.stat().st_size
            hash_s = timed(lambda: sha256_file(src))
            blob = Blob(sha256_file(src), size, path=src)
            store = RemoteStore(RemoteSpec("bench", "s3://bench/ftspec", {"endpoint_url": endpoint}))
            best = {"push": float("inf"), "plain put": float("inf"), "pull": float("inf"), "plain get": float("inf")}
            for _ in range(args.repeat):
                best["plain put"] = min(best["plain put"], timed(
                    lambda: fs.put_file(str(src), "bench/plain/artifact.bin", max_concurrency=1)))
                best["plain get"] = min(best["plain get"], timed(
                    lambda: fs.get_file("bench/plain/artifact.bin", str(tmp_path / "plain.bin"), max_concurrency=1)))
                fs.rm_file("bench/plain/artifact.bin")
                (tmp_path / "plain.bin").unlink()
                best["push"] = min(best["push"], timed(lambda: store.push(blob)))
                best["pull"] = min(best["pull"], timed(
                    lambda: store.pull(blob.sha256, tmp_path / "pulled.bin", size=size, origin="bench")))
                assert sha256_file(tmp_path / "pulled.bin") == blob.sha256
                (tmp_path / "pulled.bin").unlink()
                store.delete(store.object_key(blob.sha256))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    mb = size / 1e6

    def rate(name: str) -> float:
        return mb / best[name]

    print(f"artifact: {mb:.0f} MB, moto S3 server on 127.0.0.1, best of {args.repeat}")
    print(f"sha256 of the file (done once before a push): {mb / hash_s:.0f} MB/s")
    print(f"push   ftspec {rate('push'):7.1f} MB/s   plain put_file {rate('plain put'):7.1f} MB/s   "
          f"ratio {rate('push') / rate('plain put'):.2f}")
    print(f"pull   ftspec {rate('pull'):7.1f} MB/s   plain get_file {rate('plain get'):7.1f} MB/s   "
          f"ratio {rate('pull') / rate('plain get'):.2f}")


if __name__ == "__main__":
    main()
