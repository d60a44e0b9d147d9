"""Helpers: a project folder in tmp_path with fixture data copied in and a spec written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root

    def data(self, *names: str) -> None:
        for name in names:
            (self.root / "data").mkdir(exist_ok=True)
            shutil.copy(FIXTURES / name, self.root / "data" / name)

    def spec(self, sources: str, *, base_model: str = "gpt-4o-mini-2024-07-18", provider: str = "openai",
             template: str = "  type: chat", extra: str = "", name: str = "demo") -> Path:
        text = (f"ftspec: 1\nname: {name}\nprovider: {provider}\nbase_model: {base_model}\n"
                f"sources:\n{sources}\ntemplate:\n{template}\n{extra}")
        path = self.root / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def chat(self, fixture: str, **kw) -> Path:
        self.data(fixture)
        extra_src = kw.pop("source_extra", "")
        return self.spec(f"  - path: data/{fixture}\n    format: chat_jsonl\n{extra_src}", **kw)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)
