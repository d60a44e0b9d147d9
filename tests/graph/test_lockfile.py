"""Lockfile format: path, canonical bytes, version check with clear errors."""

from __future__ import annotations

import pytest

from ftspec.errors import LockError
from ftspec.lockfile import dumps_lock, load_lock, lock_path, write_lock


def test_lock_path_is_the_spec_with_lock_suffix(tmp_path):
    assert lock_path("specs/support.yaml").as_posix() == "specs/support.lock"
    assert lock_path(tmp_path / "a.yml") == tmp_path / "a.lock"


def test_canonical_sorted_indented_with_trailing_newline():
    assert dumps_lock({"b": 1, "a": {"y": [1], "x": "é"}}) == '{\n  "a": {\n    "x": "é",\n    "y": [\n      1\n    ]\n  },\n  "b": 1\n}\n'


def test_write_lock_keeps_the_file_untouched_when_unchanged(tmp_path):
    path = tmp_path / "s.lock"
    data = {"lock_version": 1, "spec_sha256": "x", "provider": "openai", "base_model": "m"}
    assert write_lock(path, data) is True
    mtime = path.stat().st_mtime_ns
    assert write_lock(path, dict(reversed(list(data.items())))) is False
    assert path.stat().st_mtime_ns == mtime
    assert load_lock(path) == data
    assert load_lock(path.read_text()) == data


@pytest.mark.parametrize(("text", "message"), [
    ('{"lock_version": 9, "spec_sha256": "x"}',
     "<lock>: unsupported lock_version 9 (this ftspec reads version 1)"),
    ('{\n  "lock_version": 1,\n  oops\n}', "<lock>:3:3: lockfile is not valid JSON: Expecting property name enclosed in double quotes"),
    ('{"lock_version": 1}', "<lock>: lockfile is missing spec_sha256, provider, base_model"),
])
def test_bad_lockfiles_give_located_errors(text, message):
    with pytest.raises(LockError) as err:
        load_lock(text)
    assert err.value.message == message


def test_bad_lockfile_on_disk_names_the_file(tmp_path):
    path = tmp_path / "s.lock"
    path.write_text('{"lock_version": 0, "spec_sha256": "x", "provider": "p", "base_model": "m"}')
    with pytest.raises(LockError) as err:
        load_lock(path)
    assert err.value.message == f"{path}: unsupported lock_version 0 (this ftspec reads version 1)"
    assert err.value.hint == "rebuild with this ftspec version (ftspec build) or upgrade ftspec"
    with pytest.raises(LockError) as err:
        load_lock(tmp_path / "none.lock")
    assert err.value.message == f"{tmp_path / 'none.lock'}: lockfile not found; run: ftspec build"


def test_serve_entry_keeps_exports_of_the_same_model_only(tmp_path):
    from ftspec.lockfile import record_export, serve_entry

    previous = {"model": "ft:a", "serve": {"command": "ftspec serve specs/s.yaml", "exports": {"peft": "1" * 64}}}
    assert serve_entry("specs/s.yaml", "ft:a", previous) == previous["serve"]
    assert serve_entry("specs/s.yaml", "ft:b", previous) == {"command": "ftspec serve specs/s.yaml", "exports": {}}
    path = tmp_path / "s.lock"
    base = {"lock_version": 1, "spec_sha256": "x", "provider": "local", "base_model": "m", "model": "ft:a"}
    assert record_export(tmp_path / "none.lock", "ft:a", "peft", "2" * 64, "specs/s.yaml") is False
    write_lock(path, base)
    assert record_export(path, "ft:other", "peft", "2" * 64, "specs/s.yaml") is False  # not the locked model
    assert load_lock(path) == base
    assert record_export(path, "ft:a", "gguf-lora", "3" * 64, "specs/s.yaml") is True
    assert load_lock(path)["serve"] == {"command": "ftspec serve specs/s.yaml", "exports": {"gguf-lora": "3" * 64}}
