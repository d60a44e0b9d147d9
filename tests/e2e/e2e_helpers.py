"""The real CLI in a subprocess and git, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KEY_ENV = "FTSPEC_E2E_OPENAI_KEY"
API_KEY = "sk-e2e-SECRET-0c1d2e3f4a5b6c7d"


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout


def git_repo(project: Path) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    git(project, "init", "-q")
    git(project, "config", "user.email", "t@example.com")
    git(project, "config", "user.name", "t")
    (project / ".gitignore").write_text(".ftspec/\n")
    return project


def ftspec(project: Path, *args: str, env_extra: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: API_KEY, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)
