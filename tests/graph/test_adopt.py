"""``ftspec adopt openai`` against the schema-checked fake: an org with a succeeded chat job,
a job whose training file was deleted and a failed job -> adopt -> build pays for nothing ->
status up to date; a second adopt changes no bytes; bad input is one line and exit 1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import run_cli
from fake_openai import Fault
from graph_helpers import API_KEY, KEY_ENV


def _chat_lines(n: int, answer: str = "Sure") -> bytes:
    # key order and spacing as an org's own script might write them (not canonical)
    rows = [{"messages": [{"role": "system", "content": "You are Acme."},
                          {"content": f"question {i}?", "role": "user"},
                          {"role": "assistant", "content": f"{answer} {i}."}]} for i in range(n)]
    return b"".join(json.dumps(r, indent=None, separators=(", ", ": ")).encode() + b"\n" for r in rows)


def _org(server) -> dict[str, str]:
    train = server.seed_file("support-train.jsonl", _chat_lines(10))
    valid = server.seed_file("support-valid.jsonl", _chat_lines(3, "Okay"))
    gone = server.seed_file("old.jsonl", _chat_lines(4))
    bad = server.seed_file("bad.jsonl", _chat_lines(2))
    ok = server.seed_job(training_file=train, validation_file=valid, suffix="support", created_at=1700000300)
    lost = server.seed_job(training_file=gone, suffix="old", created_at=1700000200)
    del server.files[gone]  # deleted after training, as OpenAI lets you
    failed = server.seed_job(training_file=bad, status="failed", created_at=1700000100)
    return {"ok": ok, "lost": lost, "failed": failed, "train": train, "valid": valid}


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    return project


def test_adopt_then_build_is_a_noop(server, tmp_path):
    ids = _org(server)
    project = _project(tmp_path)
    adopt = ["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV]
    out = run_cli(adopt, project)
    assert out.returncode == 0, out.stderr + out.stdout
    assert f"note: job {ids['failed']} is failed: bad line 3" in out.stdout
    assert f"note: job {ids['lost']}: its file" in out.stdout and "was deleted" in out.stdout
    assert "adopted 1 model(s), skipped 2 job(s)" in out.stdout
    # every page was read: the fake pages by 100, the provider asks for 100; three jobs -> one page
    assert server.count("GET", "/fine_tuning/jobs") >= 1

    spec = project / "specs" / "support.yaml"
    lock = json.loads((project / "specs" / "support.lock").read_text())
    assert lock["job"]["id"] == ids["ok"]
    assert lock["files"] == {"train": ids["train"], "validation": ids["valid"]}
    assert lock["dataset"]["counts"] == {"train": 10, "validation": 3}
    assert lock["model"] == server.jobs[ids["ok"]].obj["fine_tuned_model"]
    assert lock["job"]["trained_tokens"] == server.jobs[ids["ok"]].obj["trained_tokens"]
    assert lock["job"]["hyperparameters"]["batch_size"] == 2
    text = spec.read_text()
    assert "auto" not in text and "n_epochs: 3" in text and "learning_rate_multiplier: 1.8" in text
    assert f"# validation file {ids['valid']}" in text
    train = (project / "data" / "adopted" / "support" / "train.jsonl").read_bytes()
    assert train.splitlines()[0].startswith(b'{"messages":[{"content":"You are Acme."')
    assert hashlib.sha256(train).hexdigest() in text
    assert not (project / "specs" / "old.yaml").exists()
    for path in project.rglob("*"):  # no secret in any written file
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path

    adopted = _tree(project)
    creates = (server.count("POST", "/files"), server.count("POST", "/fine_tuning/jobs"))
    built = run_cli(["build", "specs/support.yaml"], project)
    assert built.returncode == 0, built.stderr
    assert (server.count("POST", "/files"), server.count("POST", "/fine_tuning/jobs")) == creates == (0, 0)
    assert "nothing to do" in built.stderr
    status = run_cli(["status", "--json", "specs/support.yaml"], project)
    assert status.returncode == 0, status.stderr
    [report] = json.loads(status.stdout)
    assert report["summary"] == "up to date"
    assert all(t["uptodate"] for t in report["tasks"]), report

    assert {k: v for k, v in _tree(project).items() if not k.startswith(".ftspec/")} == \
        {k: v for k, v in adopted.items() if not k.startswith(".ftspec/")}  # build rewrote nothing committed
    before = _tree(project)
    again = run_cli(adopt, project)
    assert again.returncode == 0, again.stderr
    assert _tree(project) == before  # nothing changed, not a byte


def test_adopt_one_job_and_bad_input(server, tmp_path):
    ids = _org(server)
    project = _project(tmp_path)
    base = ["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV]
    missing = run_cli([*base, "--job", "ftjob-doesnotexist"], project, {"FTSPEC_RAISE_ERRORS": ""})
    assert missing.returncode == 1
    lines = missing.stderr.strip().splitlines()
    assert lines[0] == "error: adopt: no fine-tuning job ftjob-doesnotexist in this organization", lines
    assert "Traceback" not in missing.stderr
    badkey = run_cli(base, project, {KEY_ENV: "sk-wrong", "FTSPEC_RAISE_ERRORS": ""})
    assert badkey.returncode == 1
    assert badkey.stderr.strip().splitlines()[0].startswith("error: openai: list jobs failed: HTTP 401")
    assert "sk-wrong" not in badkey.stderr and "Traceback" not in badkey.stderr
    assert not (project / "specs").exists()  # a bad key or job id writes nothing
    (project / "specs").mkdir()
    (project / "specs" / "support.yaml").write_text("# mine\n", encoding="utf-8")
    clash = run_cli(base, project, {"FTSPEC_RAISE_ERRORS": ""})
    assert clash.returncode == 1, clash.stdout
    assert clash.stderr.splitlines()[0] == (f"error: adopt: specs/support.yaml already exists and is not an adopted "
                                            f"spec of job {ids['ok']}; nothing written"), clash.stderr
    assert (project / "specs" / "support.yaml").read_text() == "# mine\n"  # never overwritten
    assert sorted(p.name for p in project.rglob("*") if p.is_file()) == ["support.yaml"]  # nothing half-written
    (project / "specs" / "support.yaml").unlink()
    one = run_cli([*base, "--job", ids["ok"]], project)
    assert one.returncode == 0, one.stderr
    assert (project / "specs" / "support.lock").is_file()


def test_jobs_are_read_across_pages(server, tmp_path, api_key):
    from ftspec.providers.openai import OpenAIProvider

    train = server.seed_file("t.jsonl", _chat_lines(2))
    made = {server.seed_job(training_file=train, suffix=f"s{i}", created_at=1700000000 + i) for i in range(105)}
    provider = OpenAIProvider({"base_url": server.url, "api_key_env": KEY_ENV}, project_root=tmp_path)
    try:
        jobs = provider.list_jobs()
    finally:
        provider.close()
    assert {j.id for j in jobs} == made
    assert server.count("GET", "/fine_tuning/jobs") == 2  # 100 + 5, following has_more/after


def test_adopt_survives_rate_limits_and_server_errors(server, tmp_path):
    """The one retry layer covers listing and the streamed download (restarted cleanly)."""
    ids = _org(server)
    project = _project(tmp_path)
    server.faults += [Fault("500", "GET", "/fine_tuning/jobs", count=1),
                      Fault("429", "GET", f"/files/{ids['train']}/content", count=2)]
    out = run_cli(["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV], project)
    assert out.returncode == 0, out.stderr
    assert server.count("GET", f"/files/{ids['train']}/content") == 3
    train = (project / "data" / "adopted" / "support" / "train.jsonl").read_bytes()
    assert len(train.splitlines()) == 10  # no duplicated lines from the retried attempts
    assert not list(project.rglob("*.tmp")) and not list(project.rglob("*.part"))


def test_fresh_clone_of_an_adopted_project_pays_for_nothing(server, tmp_path):
    """A clone has the committed spec, data and lock but no ``.ftspec/`` receipts: the lock is
    the run-cache, so the build neither uploads nor creates a job, and rewrites no byte."""
    import shutil

    _org(server)
    project = _project(tmp_path)
    out = run_cli(["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV], project)
    assert out.returncode == 0, out.stderr
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".ftspec"))
    committed = {k: v for k, v in _tree(clone).items()}
    built = run_cli(["build", "specs/support.yaml"], clone)
    assert built.returncode == 0, built.stderr
    assert server.count("POST", "/files") == 0 and server.count("POST", "/fine_tuning/jobs") == 0
    assert "recorded in support.lock" in built.stderr + built.stdout
    assert {k: v for k, v in _tree(clone).items() if not k.startswith(".ftspec/")} == committed


def test_an_organization_without_jobs_is_one_line(server, tmp_path):
    project = _project(tmp_path)
    out = run_cli(["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV], project,
                  {"FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    assert out.stderr.splitlines()[0] == "error: adopt: the organization has no fine-tuning jobs; nothing to adopt"
    assert "Traceback" not in out.stderr
    assert [p for p in project.rglob("*") if p.is_file()] == []


def test_two_jobs_with_one_suffix_get_two_stable_names(server, tmp_path):
    train = server.seed_file("t.jsonl", _chat_lines(10))
    first = server.seed_job(training_file=train, suffix="support", created_at=1700000100)
    second = server.seed_job(training_file=train, suffix="support", created_at=1700000200)
    project = _project(tmp_path)
    adopt = ["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV]
    out = run_cli(adopt, project)
    assert out.returncode == 0, out.stderr
    other = f"support-{second[-8:].lower()}"
    assert f"adopted {first} -> specs/support.yaml" in out.stdout
    assert f"adopted {second} -> specs/{other}.yaml" in out.stdout
    before = _tree(project)
    assert run_cli(adopt, project).returncode == 0 and _tree(project) == before


def _completion_lines(n: int, start: int = 0) -> bytes:
    rows = [{"prompt": f"Classify: ticket {i} about billing\n\n###\n\n", "completion": f" billing {i} END"}
            for i in range(start, start + n)]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_adopt_a_completion_job(server, tmp_path):
    """A legacy prompt/completion job: the separator and stop every line shares become the
    template's, the rebuilt dataset is byte for byte what the job trained on, build is a no-op."""
    original = _completion_lines(10)
    train = server.seed_file("legacy.jsonl", original)
    valid = server.seed_file("legacy-valid.jsonl", _completion_lines(2, start=50))
    job = server.seed_job(training_file=train, validation_file=valid, suffix="legacy", model="babbage-002")
    project = _project(tmp_path)
    out = run_cli(["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV], project)
    assert out.returncode == 0, out.stderr
    assert f"adopted {job} -> specs/legacy.yaml" in out.stdout
    text = (project / "specs" / "legacy.yaml").read_text()
    assert 'template: {type: completion, separator: "\\n\\n###\\n\\n", stop: " END"}' in text
    assert "format: completion_jsonl" in text and "base_model: babbage-002" in text
    first = json.loads((project / "data/adopted/legacy/train.jsonl").read_text().splitlines()[0])
    assert first == {"prompt": "Classify: ticket 0 about billing", "completion": "billing 0"}
    [case, _] = [json.loads(x) for x in (project / "data/adopted/legacy/heldout.jsonl").read_text().splitlines()]
    assert case == {"id": "validation-1", "prompt": "Classify: ticket 50 about billing", "ideal": "billing 50"}
    rebuilt = (project / ".ftspec" / "datasets" / "legacy" / "train.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in rebuilt] == [json.loads(x) for x in original.splitlines()]  # what the job trained on
    build = run_cli(["build", "specs/legacy.yaml"], project)
    assert build.returncode == 0, build.stderr
    assert server.count("POST", "/files") == 0 and server.count("POST", "/fine_tuning/jobs") == 0


def test_sigkill_mid_download_then_rerun(server, tmp_path):
    """Killed while the training file streams in: the partial ``.download`` file is all that is
    left (no data file, spec or lock); the rerun ends with the bytes of an uninterrupted adopt,
    no line twice, and nothing created on the server."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from graph_helpers import API_KEY

    big = _chat_lines(30000)  # ~3 MB: sent in 64 KiB chunks, 40 ms apart
    train = server.seed_file("big.jsonl", big)
    server.seed_job(training_file=train, suffix="big", created_at=1700000100)
    adopt = ["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV]
    reference = _project(tmp_path / "ref")
    assert run_cli(adopt, reference).returncode == 0

    project = _project(tmp_path)
    server.content_chunk_delay = 0.04
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", *adopt], cwd=project, env={**os.environ, KEY_ENV: API_KEY},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = project / "data" / "adopted" / "big" / "train.jsonl.download"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (partial.is_file() and partial.stat().st_size > 256 * 1024):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert partial.is_file() and 0 < partial.stat().st_size < len(big), "the kill did not land mid-download"
    assert not (project / "data" / "adopted" / "big" / "train.jsonl").exists()
    assert not (project / "specs").exists()

    server.content_chunk_delay = 0.0
    rerun = run_cli(adopt, project)
    assert rerun.returncode == 0, rerun.stderr
    assert not partial.exists() and not list(project.rglob("*.download"))
    data = (project / "data" / "adopted" / "big" / "train.jsonl").read_bytes()
    assert len(data.splitlines()) == 30000
    assert {k: v for k, v in _tree(project).items() if not k.startswith(".ftspec/")} == \
        {k: v for k, v in _tree(reference).items() if not k.startswith(".ftspec/")}
    assert server.count("POST", "/files") == 0 and server.count("POST", "/fine_tuning/jobs") == 0
