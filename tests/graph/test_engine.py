"""``ftspec status`` and ``ftspec build`` agree by construction: both read one engine.

For each kind of input, build, change it, then assert that the tasks ``status`` calls stale
(each with a reason) are exactly the tasks the next build reruns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ftspec.graph.build import build
from ftspec.graph.status import spec_status
from ftspec.spec import load_spec

from .conftest import write_spec
from .graph_helpers import SMOKE_EVALS, write_examples

EVALS = SMOKE_EVALS


def _source_bytes(root: Path, url: str) -> None:
    write_examples(root / "data" / "train.jsonl", n=13)


def _base_model(root: Path, url: str) -> None:
    spec = write_spec(root, url, extra=EVALS)
    spec.write_text(spec.read_text().replace("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14"))


CHANGES = {
    "source bytes": _source_bytes,
    "system prompt": lambda root, url: write_spec(root, url, system="You are terse.", extra=EVALS),
    "hyperparameter": lambda root, url: write_spec(root, url, n_epochs=3, extra=EVALS),
    "eval case": lambda root, url: write_spec(root, url, extra=EVALS.replace('"pong"', '"pang"')),
    "scorer": lambda root, url: write_spec(root, url, extra=EVALS + "      - length: {max: 200}\n"),
    "provider model": lambda root, url: _base_model(root, url),
}


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize("change", list(CHANGES))
def test_status_names_exactly_the_tasks_build_reruns(server, api_key, tmp_path, change):
    spec = write_spec(tmp_path, server.url, extra=EVALS)
    build([spec], echo=_quiet, live=False)
    CHANGES[change](tmp_path, server.url)

    status = spec_status(load_spec(spec))
    stale = {t.task for t in status.tasks if not t.uptodate}
    assert stale, f"{change}: status saw no change"
    assert all(t.reasons for t in status.tasks if not t.uptodate)

    result = build([spec], echo=_quiet, live=False)
    assert set(result.ran) == stale, f"{change}: status said {sorted(stale)}, build ran {sorted(result.ran)}"
    assert spec_status(load_spec(spec)).summary == "up to date"
