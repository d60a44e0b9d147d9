"""``ftspec eval --record-baseline`` on an adopted model (schema-checked fake OpenAI on loopback):
the held-out eval set adopt writes, the baseline file's contents, a rerun that pays for nothing
and changes no byte, a SIGKILL mid-recording whose rerun repays no answered case and ends with
the same bytes as an uninterrupted run, and the no-model error."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli
from graph_helpers import API_KEY, KEY_ENV


def _lines(rows: list[tuple[str, str]]) -> bytes:
    return b"".join(json.dumps({"messages": [{"role": "system", "content": "You are Acme."},
                                             {"role": "user", "content": q},
                                             {"role": "assistant", "content": a}]}).encode() + b"\n"
                    for q, a in rows)


def seed_org(server, n_valid: int = 4) -> dict[str, str]:
    """One succeeded chat job whose validation prompts the fake model partly learned: the first
    ``n_valid - 1`` are trained questions (answered as trained), the last one is new."""
    train = server.seed_file("train.jsonl", _lines([(f"question {i}?", f"Sure {i}.") for i in range(12)]))
    valid_rows = [(f"question {i}?", f"Sure {i}.") for i in range(n_valid - 1)] + [("brand new?", "Yes.")]
    valid = server.seed_file("valid.jsonl", _lines(valid_rows))
    job = server.seed_job(training_file=train, validation_file=valid, suffix="support", created_at=1700000300)
    return {"job": job, "model": server.jobs[job].obj["fine_tuned_model"]}


def adopted_project(server, tmp_path: Path, name: str = "proj") -> Path:
    project = tmp_path / name
    (project / ".git").mkdir(parents=True)
    out = run_cli(["adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV], project)
    assert out.returncode == 0, out.stderr + out.stdout
    return project


def _chats(server) -> int:
    return server.count("POST", "/chat/completions")


def test_adopt_writes_heldout_eval_and_baseline_records_it(server, tmp_path):
    ids = seed_org(server)
    project = adopted_project(server, tmp_path)
    spec = (project / "specs" / "support.yaml").read_text()
    assert "  - name: heldout\n" in spec and "build: false" in spec
    cases = [json.loads(line) for line in (project / "data/adopted/support/heldout.jsonl").read_text().splitlines()]
    assert [c["id"] for c in cases] == ["validation-1", "validation-2", "validation-3", "validation-4"]
    assert cases[3]["ideal"] == "Yes." and cases[3]["messages"][-1] == {"content": "brand new?", "role": "user"}
    assert _chats(server) == 0  # adopting asked the model nothing

    out = run_cli(["eval", "specs/support.yaml", "--record-baseline"], project)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "baseline recorded: baselines/support.json (4 new generation(s))" in out.stdout
    assert _chats(server) == 4
    path = project / "baselines" / "support.json"
    data = json.loads(path.read_text())
    assert data["model"] == ids["model"] and data["spec"] == "support" and data["ftspec_baseline"] == 1
    assert len(data["recorded_on"]) == 10
    heldout = data["evals"]["heldout"]
    assert heldout["sampling"] == {"seed": 0, "temperature": 0}
    assert [(c["id"], c["results"][0]["status"], c["results"][0]["outputs"]) for c in heldout["cases"]] == [
        ("validation-1", "passed", ["Sure 0."]), ("validation-2", "passed", ["Sure 1."]),
        ("validation-3", "passed", ["Sure 2."]), ("validation-4", "failed", ["echo: brand new?"])]
    assert heldout["cases"][0]["results"][0]["scores"]["exact"]["score"] == 1.0
    assert heldout["summary"]["pass_rate"] == 0.75
    assert "latency_s" not in path.read_text()
    assert API_KEY not in path.read_text()

    before = path.read_bytes()
    again = run_cli(["eval", "specs/support.yaml", "--record-baseline"], project)
    assert again.returncode == 0, again.stderr
    assert "baseline unchanged" in again.stdout and "(0 new generation(s))" in again.stdout
    assert _chats(server) == 4 and path.read_bytes() == before

    build = run_cli(["build", "specs/support.yaml"], project)  # build: false -> the build asks nothing
    assert build.returncode == 0, build.stderr
    assert _chats(server) == 4 and "nothing to do" in build.stderr


def test_sigkill_while_recording_then_rerun(server, tmp_path):
    seed_org(server, n_valid=10)
    project = adopted_project(server, tmp_path)
    reference = adopted_project(server, tmp_path, "reference")  # recorded without interruption
    done = run_cli(["eval", "specs/support.yaml", "--record-baseline"], reference)
    assert done.returncode == 0, done.stderr
    answered_before = len(server.chat_answered)

    server.hold_chat_after = server.chat_started + 4  # four answers get through, the rest hang
    env = {**os.environ, KEY_ENV: API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "eval", "specs/support.yaml", "--record-baseline"],
                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = project / ".ftspec" / "cache" / "evals.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _cached(cache) < 4:
        time.sleep(0.05)
    assert _cached(cache) == 4, "the first four answers never reached the cache"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (project / "baselines" / "support.json").exists()  # nothing half-written
    paid = server.chat_answered[answered_before:]
    assert len(paid) == 4

    server.hold_chat_after = None  # the held requests stay unanswered until the rerun is over
    answered = len(server.chat_answered)
    rerun = run_cli(["eval", "specs/support.yaml", "--record-baseline"], project)
    asked_again = server.chat_answered[answered:]
    server.chat_gate.set()
    assert rerun.returncode == 0, rerun.stderr
    assert len(asked_again) == 6 and not set(asked_again) & set(paid)  # no answered case paid twice
    assert (project / "baselines" / "support.json").read_bytes() == \
        (reference / "baselines" / "support.json").read_bytes()


def _cached(path: Path) -> int:
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_record_baseline_without_a_model_is_one_line(server, tmp_path):
    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    (project / "specs").mkdir()
    (project / "data.jsonl").write_bytes(_lines([("q?", "a.")]))
    (project / "specs" / "s.yaml").write_text(
        "ftspec: 1\nname: s\nprovider: openai\nbase_model: gpt-4o-mini-2024-07-18\n"
        "providers: {openai: {api_key_env: " + KEY_ENV + ", base_url: \"" + server.url + "\"}}\n"
        "sources: [{path: ../data.jsonl, format: chat_jsonl}]\ntemplate: {type: chat}\n"
        "evals:\n  - {name: e, cases: [{prompt: hi, ideal: a.}], scorers: [{exact: {}}]}\n", encoding="utf-8")
    out = run_cli(["eval", "specs/s.yaml", "--record-baseline"], project, {"FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("error: specs/s.yaml: no model to record a baseline of"), lines
    assert "Traceback" not in out.stderr and not (project / "baselines").exists()
