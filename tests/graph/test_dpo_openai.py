"""DPO on the loopback OpenAI server: the job request and the preference file are checked
against OpenAI's schema, a killed build never pays twice, bad pairs fail before any upload."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftspec.lockfile import load_lock, lock_path

from .conftest import API_KEY, KEY_ENV, run_cli, write_dpo_spec

EVAL = """evals:
  - name: tone
    cases:
      - {messages: [{role: user, content: "question 3?"}], must_include: ["Gladly"]}
    sampling: {temperature: 0, max_tokens: 16}
    scorers:
      - contains: {field: must_include}
"""


def _job_requests(server):
    return [j.obj for j in server.jobs.values()]


def test_dpo_spec_builds_end_to_end(server, tmp_path):
    spec = write_dpo_spec(tmp_path, server.url, validation=0.0, extra=EVAL)
    done = run_cli(["build", str(spec)], tmp_path)
    assert done.returncode == 0, done.stderr
    (job,) = _job_requests(server)
    assert job["method"]["type"] == "dpo"
    assert job["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    assert job["method"]["dpo"]["hyperparameters"]["n_epochs"] == 2
    # the uploaded training file is the guide's DPO format, line for line
    content = server.contents[job["training_file"]].decode("utf-8").splitlines()
    first = json.loads(content[0])
    assert set(first) == {"input", "preferred_output", "non_preferred_output"}
    assert first["input"]["messages"][0] == {"role": "system", "content": "You are helpful."}
    lock = load_lock(lock_path(spec))
    assert lock["model"].startswith("ft:gpt-4o-mini-2024-07-18")
    report = json.loads((tmp_path / lock["evals"]["tone"]["report"]).read_text(encoding="utf-8"))
    assert report["summary"]["pass_rate"] == 1.0  # the DPO model gives the preferred answer
    again = run_cli(["build", str(spec)], tmp_path)
    assert again.returncode == 0 and server.count("POST", "/fine_tuning/jobs") == 1


def test_beta_change_is_a_new_job(server, tmp_path):
    spec = write_dpo_spec(tmp_path, server.url)
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    write_dpo_spec(tmp_path, server.url, beta=0.5)
    status = run_cli(["status", str(spec)], tmp_path)
    assert "beta changed 0.2 -> 0.5" in status.stdout + status.stderr
    assert run_cli(["build", str(spec)], tmp_path).returncode == 0
    assert sorted(j["method"]["dpo"]["hyperparameters"]["beta"] for j in _job_requests(server)) == [0.2, 0.5]
    assert server.count("POST", "/files") == 2  # train + validation, uploaded once


@pytest.mark.parametrize("when", ["upload", "job"])
def test_sigkill_then_rerun_pays_once(server, tmp_path, when):
    spec = write_dpo_spec(tmp_path, server.url)
    env = {**os.environ, KEY_ENV: API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server.kill_after[when] = proc.pid  # killed after the side effect, before it hears the answer
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    rerun = run_cli(["build", str(spec)], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    names = [f["filename"] for f in server.files.values()]
    assert len(names) == len(set(names))
    assert server.count("POST", "/fine_tuning/jobs") == 1
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"


def _bad(tmp_path, server, record: dict, **spec_kw) -> str:
    data = tmp_path / "data" / "prefs.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    good = [json.dumps({"input": {"messages": [{"role": "user", "content": f"q {i}?"}]},
                        "preferred_output": [{"role": "assistant", "content": f"yes {i}"}],
                        "non_preferred_output": [{"role": "assistant", "content": f"no {i}"}]}) for i in range(15)]
    data.write_text("\n".join([*good[:4], json.dumps(record), *good[4:]]) + "\n", encoding="utf-8")
    spec = write_dpo_spec(tmp_path, server.url, **spec_kw)
    done = run_cli(["build", str(spec)], tmp_path, env_extra={"FTSPEC_RAISE_ERRORS": ""})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert server.count("POST", "/files") == 0  # refused before anything was uploaded
    return done.stderr


def test_identical_answers_are_a_located_error(server, tmp_path):
    same = [{"role": "assistant", "content": "same"}]
    err = _bad(tmp_path, server, {"input": {"messages": [{"role": "user", "content": "q?"}]},
                                  "preferred_output": same, "non_preferred_output": same})
    assert "data/prefs.jsonl:5: identical_outputs:" in err


def test_multi_turn_output_is_refused_on_openai(server, tmp_path):
    two = [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    err = _bad(tmp_path, server, {"input": {"messages": [{"role": "user", "content": "q?"}]},
                                  "preferred_output": two, "non_preferred_output": [{"role": "assistant", "content": "c"}]})
    assert "data/prefs.jsonl:5: multi_turn_output: 'preferred_output' has 2 messages" in err


def test_missing_side_is_a_located_error(server, tmp_path):
    err = _bad(tmp_path, server, {"input": {"messages": [{"role": "user", "content": "q?"}]},
                                  "preferred_output": [{"role": "assistant", "content": "a"}]})
    assert "data/prefs.jsonl:5: missing_non_preferred_output:" in err


@pytest.mark.parametrize("beta", [0, 2.5, -1])
def test_beta_out_of_range_is_located(server, tmp_path, beta):
    spec = write_dpo_spec(tmp_path, server.url, beta=beta)
    done = run_cli(["validate", str(spec)], tmp_path, env_extra={"FTSPEC_RAISE_ERRORS": ""})
    assert done.returncode == 1
    line = next(ln for ln in done.stderr.splitlines() if "beta" in ln)
    assert line.startswith("error: specs/prefs.yaml:12:") and "hyperparameters.beta: expected 'auto' or number (> 0, <= 2)" in line
    assert server.requests == []


def test_beta_without_dpo_is_located(server, tmp_path):
    spec = write_dpo_spec(tmp_path, server.url)
    spec.write_text(spec.read_text(encoding="utf-8").replace("job: {method: dpo}", "job: {method: supervised}"), encoding="utf-8")
    done = run_cli(["validate", str(spec)], tmp_path, env_extra={"FTSPEC_RAISE_ERRORS": ""})
    assert done.returncode == 1
    assert "specs/prefs.yaml:12:" in done.stderr and "beta is a DPO setting" in done.stderr


def test_the_fake_refuses_what_openai_refuses(server, tmp_path):
    """The loopback server is a real check: a two-message side breaks the guide's single-turn
    rule and a non-assistant side breaks the schema, and the job fails with the file's error."""
    import openai

    client = openai.OpenAI(base_url=server.url, api_key=API_KEY, max_retries=0)
    bad = {"input": {"messages": [{"role": "user", "content": "q"}]},
           "preferred_output": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
           "non_preferred_output": [{"role": "user", "content": "c"}]}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with open(path, "rb") as fh:
        file = client.files.create(file=("bad.jsonl", fh), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id,
                                         method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}})
    found = list(server.violations)
    server.violations.clear()  # seen: the fixture's own check is for everything else
    assert any("single-turn" in v for v in found)
    assert any("non_preferred_completion/0" in v for v in found)
    assert server.jobs[job.id].fail["code"] == "invalid_training_file"
