"""Leaving OpenAI fine-tuning, end to end through the real CLI (issue 10).

An organization on the schema-checked loopback OpenAI server has four jobs: a succeeded chat
job, a succeeded legacy completion job, one whose training file was deleted and a failed one.
``ftspec adopt openai`` -> ``ftspec build`` on each adopted spec creates nothing -> ``ftspec eval
--record-baseline`` freezes the chat model's answers -> the model is shut down (the server stops
answering for it) -> ``ftspec migrate --to local`` -> ``ftspec build`` trains the tiny test model
for real -> ``ftspec diff`` shows parity per case from the recorded baseline.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from e2e_helpers import KEY_ENV, ftspec, git, git_repo


def _chat(rows: list[tuple[str, str]]) -> bytes:
    return b"".join(json.dumps({"messages": [{"role": "system", "content": "You are Acme support."},
                                             {"role": "user", "content": q},
                                             {"role": "assistant", "content": a}]}).encode() + b"\n"
                    for q, a in rows)


def _completions(n: int, start: int = 0) -> bytes:
    return b"".join(json.dumps({"prompt": f"Ticket {i}: refund please\n\n###\n\n", "completion": f" billing {i} END"})
                    .encode() + b"\n" for i in range(start, start + n))


def _organization(server) -> dict[str, str]:
    train = server.seed_file("support-train.jsonl", _chat([(f"How do I reset device {i}?", f"Hold reset {i} s.")
                                                           for i in range(12)]))
    valid = server.seed_file("support-valid.jsonl", _chat([(f"How do I reset device {i}?", f"Hold reset {i} s.")
                                                           for i in range(3)] + [("Is it waterproof?", "No.")]))
    ids = {
        "chat": server.seed_job(training_file=train, validation_file=valid, suffix="support", created_at=1700000400),
        "completion": server.seed_job(training_file=server.seed_file("legacy.jsonl", _completions(10)),
                                      suffix="legacy", model="babbage-002", created_at=1700000300),
    }
    gone = server.seed_file("old.jsonl", _chat([("q?", "a.")] * 10))
    ids["deleted"] = server.seed_job(training_file=gone, suffix="old", created_at=1700000200)
    del server.files[gone]
    ids["failed"] = server.seed_job(training_file=server.seed_file("bad.jsonl", _chat([("q?", "a.")])),
                                    status="failed", created_at=1700000100)
    return ids


def _creates(server) -> tuple[int, int]:
    return server.count("POST", "/files"), server.count("POST", "/fine_tuning/jobs")


def test_adopt_record_migrate_build_diff(server, tmp_path: Path, tiny_model: str) -> None:
    ids = _organization(server)
    project = git_repo(tmp_path / "repo")
    local = {"FTSPEC_LOCAL_STORE": str(tmp_path / "store")}

    adopted = ftspec(project, "adopt", "openai", "--base-url", server.url, "--api-key-env", KEY_ENV)
    assert adopted.returncode == 0, adopted.stderr
    assert "adopted 2 model(s), skipped 2 job(s)" in adopted.stdout
    assert f"note: job {ids['deleted']}: its file" in adopted.stdout and "was deleted" in adopted.stdout
    assert f"note: job {ids['failed']} is failed" in adopted.stdout
    assert "type: completion" in (project / "specs" / "legacy.yaml").read_text()

    for name in ("support", "legacy"):  # the adopted specs build for free
        built = ftspec(project, "build", f"specs/{name}.yaml")
        assert built.returncode == 0, built.stderr
        assert "nothing to do" in built.stderr
    assert _creates(server) == (0, 0)

    recorded = ftspec(project, "eval", "specs/support.yaml", "--record-baseline")
    assert recorded.returncode == 0, recorded.stderr
    baseline = json.loads((project / "baselines" / "support.json").read_text())
    old_model = server.jobs[ids["chat"]].obj["fine_tuned_model"]
    assert baseline["model"] == old_model
    old_answers = {c["id"]: c["results"][0]["outputs"] for c in baseline["evals"]["heldout"]["cases"]}
    assert old_answers == {"validation-1": ["Hold reset 0 s."], "validation-2": ["Hold reset 1 s."],
                           "validation-3": ["Hold reset 2 s."], "validation-4": ["echo: Is it waterproof?"]}
    git(project, "add", "-A")
    git(project, "commit", "-qm", "adopted, baseline recorded")

    server.deleted_models.add(old_model)  # 2027-01-14: the old model stops answering
    asked = server.count("POST", "/chat/completions")

    migrated = ftspec(project, "migrate", "specs/support.yaml", "--to", "local", "--base-model", tiny_model)
    assert migrated.returncode == 0, migrated.stderr
    new_spec = project / "specs" / "support-local.yaml"
    spec = yaml.safe_load(new_spec.read_text())
    assert spec["provider"] == "local" and spec["baseline"] == "../baselines/support.json"
    # fast on the tiny model: one epoch, small LoRA (hyperparameters.local is the place for it)
    spec["hyperparameters"].update({"n_epochs": 1, "local": {"lora_r": 4, "seed": 3, "target_modules": ["q_proj", "v_proj"]}})
    spec["evals"][0]["sampling"]["max_tokens"] = 8
    comments = "".join(line for line in new_spec.read_text().splitlines(keepends=True) if line.startswith("#"))
    new_spec.write_text(comments + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    built = ftspec(project, "build", "specs/support-local.yaml", env_extra=local, timeout=600)
    assert built.returncode == 0, built.stderr
    lock = json.loads((project / "specs" / "support-local.lock").read_text())
    assert lock["model"].startswith("ft:") and ":local:" in lock["model"]
    assert lock["evals"]["heldout"]["parity"]["compared"] == 4
    assert _creates(server) == (0, 0)  # nothing went to OpenAI

    shown = ftspec(project, "diff", "specs/support.yaml", "specs/support-local.yaml", "--json")
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["baseline"]["model"] == old_model
    parity = result["evals"]["heldout"]["parity"]
    report = json.loads((project / lock["evals"]["heldout"]["report"]).read_text())
    new_answers = {c["id"]: c["results"][0]["outputs"] for c in report["cases"]}
    rows = {r["id"]: r for r in parity["cases"]}
    assert set(rows) == set(old_answers)
    for case_id, row in rows.items():  # side by side: the recorded answer and the new model's
        assert row["old"]["outputs"] == old_answers[case_id]
        assert row["new"]["outputs"] == new_answers[case_id]
    assert parity["old"]["pass_rate"] == 0.75
    worse = [i for i, r in rows.items() if r["old"]["status"] == "passed" and r["new"]["status"] != "passed"]
    assert parity["worse"] == sorted(worse) and result["regressions"] == len(worse)

    text = ftspec(project, "diff", "specs/support.yaml", "specs/support-local.yaml", "--fail-on-regression")
    assert "eval heldout: parity with the recorded baseline (baselines/support.json: " + old_model in text.stdout
    assert "validation-1 [" in text.stdout and "    old: passed 1.000  Hold reset 0 s." in text.stdout
    assert text.returncode == (1 if worse else 0), text.stdout + text.stderr
    assert server.count("POST", "/chat/completions") == asked  # the shut-down model was never asked again
    html = (project / lock["evals"]["heldout"]["report"]).with_suffix(".html").read_text()
    assert "id='parity'" in html and "Parity with the recorded baseline" in html
