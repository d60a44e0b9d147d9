"""Fixtures: moto's standalone S3 server on 127.0.0.1 and a project trained once on the tiny model.

The server is moto's own (``moto[server]`` from PyPI), spoken to by s3fs/aiobotocore exactly as
a real bucket would be. Credentials are dummy values in the environment only; the endpoint is
a non-secret remote option in the committed ``ftspec.toml``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

BUCKET = "ftspec-test"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "moto.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, **S3_ENV}
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {(tmp / 'moto.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        self.fs().mkdir(BUCKET)

    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=self.endpoint,
                                 use_listings_cache=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def remote_url(s3) -> str:
    """A fresh prefix in the bucket per test, so tests never see each other's objects."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}"


def cli_env(store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **S3_ENV, "FTSPEC_LOCAL_STORE": str(store), "FTSPEC_RAISE_ERRORS": "",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, **extra}


def ftspec(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def records(n: int = 12) -> list[dict]:
    return [{"messages": [
        {"role": "user", "content": f"How do I reset my password on device {i}?"},
        {"role": "assistant", "content": f"Go to Settings, then Account, then Reset password on device {i}."},
    ]} for i in range(n)]


def write_project(project: Path, tiny_model: str) -> Path:
    """A git repo with one local spec on the tiny model, one eval, data committed."""
    (project / "data").mkdir(parents=True)
    (project / "data" / "support.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records()), encoding="utf-8")
    (project / "evals").mkdir()
    cases = [{"id": f"c{i}", "messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"}],
              "must_include": ["Settings"]} for i in range(3)]
    (project / "evals" / "smoke.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    (project / "specs").mkdir()
    spec = project / "specs" / "support.yaml"
    spec.write_text(f"""ftspec: 1
name: support
provider: local
base_model: {tiny_model}
sources:
  - {{name: faq, path: ../data/support.jsonl, format: chat_jsonl}}
template: {{type: chat, system: "You are Acme support."}}
split: {{validation: 0.2}}
hyperparameters:
  n_epochs: 1
  batch_size: 4
  learning_rate_multiplier: 5
  local: {{lora_r: 4, seed: 3, target_modules: [q_proj, v_proj]}}
evals:
  - name: smoke
    cases: ../evals/smoke.jsonl
    sampling: {{temperature: 0, max_tokens: 8}}
    scorers:
      - contains: {{field: must_include}}
""", encoding="utf-8")
    (project / ".gitignore").write_text(".ftspec/\n", encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    return spec


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """Project A, built once per module (one real training run of the tiny model) and committed."""
    base = tmp_path_factory.mktemp("trained")
    project, store = base / "a", base / "store-a"
    write_project(project, tiny_model)
    out = ftspec(["build", "specs/support.yaml"], project, cli_env(store))
    assert out.returncode == 0, out.stderr
    git(project, "add", "-A")
    git(project, "commit", "-qm", "built")
    return {"project": project, "store": store, "lock": project / "specs" / "support.lock"}


def clone(trained: dict, dest: Path, remote_url: str, endpoint: str, store: Path | None = None) -> Path:
    """A clone of project A pointed at ``remote_url``. With A's store it is A's machine: it
    gets A's build state (the dataset) too; with another store it is a teammate's."""
    git(dest.parent, "clone", "-q", str(trained["project"]), dest.name)
    if store is None:
        shutil.copytree(trained["project"] / ".ftspec", dest / ".ftspec")
    out = ftspec(["remote", "add", "origin", remote_url, "-o", f"endpoint_url={endpoint}"], dest,
                 cli_env(store or trained["store"]))
    assert out.returncode == 0, out.stderr
    git(dest, "add", "ftspec.toml")
    git(dest, "commit", "-qm", "remote")
    return dest


def copy_store(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest
