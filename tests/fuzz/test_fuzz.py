"""Bounded fuzzing in CI (issue 13): mutated bundled specs and mutated data files for every
source format must keep the contract — exit 0 or 1 (never 70, never a traceback), every error
line located (``file:LINE[:COL]``), strict ``--json``, balanced row books.

Derandomized (a fixed seed per test), 200 examples per target; the long run is
``benchmarks/fuzz.py --minutes N``. Inputs it finds go to ``tests/fuzz/regressions/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftspec.testing.fuzz import (
    ENCODINGS,
    check_data_case,
    check_spec_case,
    mirror,
    mutate_bytes,
    mutate_spec,
)
from ftspec.testing.messy import SAMPLES

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").glob("*.yaml"))
BOUNDED = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    mirror(root, REPO)
    return root


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_mutated_bundled_specs_keep_the_contract(spec, mirror_root, monkeypatch):
    monkeypatch.chdir(mirror_root)
    original = spec.read_text(encoding="utf-8")
    assert check_spec_case(mirror_root, original) == []  # the unmutated spec is fine

    @BOUNDED
    @given(st.randoms(use_true_random=False))
    def case(rng):
        text = mutate_spec(original, rng)
        assert check_spec_case(mirror_root, text, commands=("validate",)) == [], text

    case()


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_mutated_data_files_keep_the_contract(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = SAMPLES[sample][1]

    @BOUNDED
    @given(st.randoms(use_true_random=False))
    def case(rng):
        data = mutate_bytes(original, rng)
        encoding = rng.choice(ENCODINGS)
        assert check_data_case(tmp_path, sample, data, encoding=encoding) == [], (encoding, data[:2000])

    case()


REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.mark.parametrize("path", sorted((REGRESSIONS / "spec").glob("*.yaml")), ids=lambda p: p.name)
def test_spec_regressions(path, mirror_root, monkeypatch):
    monkeypatch.chdir(mirror_root)
    assert check_spec_case(mirror_root, path.read_bytes().decode("utf-8", "surrogatepass")) == []


@pytest.mark.parametrize("path", sorted((REGRESSIONS / "data").glob("*")), ids=lambda p: p.name)
def test_data_regressions(path, tmp_path, monkeypatch):
    """File names are ``<sample>-<digest>[@<encoding>].<ext>``: the sample format they mutate
    and the ``encoding:`` the source said (as ``benchmarks/fuzz.py`` saves them)."""
    monkeypatch.chdir(tmp_path)
    base, _, encoding = path.stem.partition("@")
    sample = base.rsplit("-", 1)[0]
    assert sample in SAMPLES
    assert check_data_case(tmp_path, sample, path.read_bytes(), cli=True, encoding=encoding or None) == []
