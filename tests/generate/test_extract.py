"""``extract`` against the schema-checked loopback OpenAI server: plan before spending, the
build paying each chunk once, review gating with the chunk beside each example, answers that
are malformed, empty or cut off, the content cache, located bad input, and a SIGKILL halfway."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from generate_helpers import (
    API_KEY,
    KEY_ENV,
    MODEL,
    answer_for,
    chunk_text,
    needle,
    script_answers,
    write_project,
)

NOT_REQUIRED = "review: {path: ../reviews/extract.yaml, required: false}\n"


def _chat_calls(server) -> int:
    return server.count("POST", "/chat/completions")


def _keep_all(decisions: Path) -> None:
    decisions.write_text(decisions.read_text(encoding="utf-8").replace("decision: pending", "decision: keep"),
                         encoding="utf-8")


def _manifest(project: Path, name: str = "extract") -> dict:
    return json.loads((project / ".ftspec" / "datasets" / name / "manifest.json").read_text(encoding="utf-8"))


def test_plan_build_review_rebuild(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script_answers(server, 12)
    spec = write_project(tmp_path, server.url)

    # plan: every call priced, none made
    code, out, err = cli(["plan", str(spec), "--json"])
    assert code == 0, err
    steps = json.loads(out)["model_calls"]
    assert [s["step"] for s in steps] == ["transforms[0].extract"]
    step = steps[0]
    assert (step["to_make"], step["cached"], step["model"]) == (12, 0, MODEL)
    assert step["prompt_tokens"] > 12 * 30 and step["prompt_tokens_exact"] is True
    assert step["max_completion_tokens"] == 12 * 400
    expected = round(step["prompt_tokens"] / 1e6 * 0.8 + 12 * 400 / 1e6 * 3.2, 4)  # the table's gpt-4.1-mini prices
    assert step["estimated_cost_usd"] == expected
    code, _out, err = cli(["dataset", str(spec)])  # only the build pays: no partial dataset here
    assert code == 1
    assert "specs/extract.yaml:15:5: transforms[0]: extract: 12 model call(s) not made yet; `ftspec build`" in err
    assert _chat_calls(server) == 0

    # build: the calls are made, then review (implied for generated examples) stops the training
    code, _out, err = cli(["build", str(spec)])
    assert code == 1
    assert "12 example(s) not reviewed yet (examples a model made need review" in err
    assert _chat_calls(server) == 12
    assert server.count("POST", "/files") == 0  # nothing trained on unreviewed generated data

    # review: from the cache, the chunk beside each generated example
    code, out, err = cli(["review", str(spec)])
    assert code == 0, err
    assert _chat_calls(server) == 12
    md = (tmp_path / "reviews" / "extract.md").read_text(encoding="utf-8")
    assert md.count("**source chunk (data/raw/calls.txt:") == 12
    assert chunk_text(3) in md and "question number 3 about socket 3?" in md
    page = (tmp_path / "reviews" / "extract.html").read_text(encoding="utf-8")
    assert page.count('<div class="pair"><div class="chunk">') == 12
    decisions = (tmp_path / "reviews" / "extract.yaml").read_text(encoding="utf-8")
    assert decisions.count(f"generated_by: extract openai:{MODEL}") == 12

    _keep_all(tmp_path / "reviews" / "extract.yaml")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    assert _chat_calls(server) == 12  # every answer came from the cache
    manifest = _manifest(tmp_path)
    books = manifest["generated"]["transforms[0].extract"]
    assert (books["calls"], books["cached"], books["called"], books["examples"]) == (12, 12, 0, 12)
    assert books["origins"][1] == {"id": books["origins"][1]["id"], "origin": "data/raw/calls.txt:4-5",
                                   "model": MODEL}
    assert manifest["accounting"]["balanced"] is True
    trained = (tmp_path / ".ftspec" / "datasets" / "extract" / "train.jsonl").read_text(encoding="utf-8")
    assert "answer number 7, use socket 7." in trained

    # an unrelated change rebuilds the dataset without a call; a new block costs one call
    spec.write_text(spec.read_text(encoding="utf-8").replace("You are the support engineer.", "Be brief."),
                    encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    assert _chat_calls(server) == 12
    raw = tmp_path / "data" / "raw" / "calls.txt"
    server.chat_rules.append((needle(12), answer_for(12)))
    raw.write_text(raw.read_text(encoding="utf-8") + "\n" + chunk_text(12) + "\n", encoding="utf-8")
    code, out, err = cli(["plan", str(spec), "--json"])
    assert code == 0, err
    assert json.loads(out)["model_calls"][0]["to_make"] == 1
    code, _out, err = cli(["build", str(spec)])
    assert code == 1 and "1 example(s) not reviewed yet" in err  # the new one needs its review
    assert _chat_calls(server) == 13


def test_malformed_empty_and_cut_answers_are_located_and_counted(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script_answers(server, 14)
    bad = {1: "this is not json", 2: "", 3: answer_for(3) + "\n" + '{"messages": [{"role": "user", "content": "q"}]}',
           4: '{"messages": []}'}
    server.chat_rules[:0] = [(needle(i), text) for i, text in bad.items()]
    server.length_rules.append(needle(5))
    spec = write_project(tmp_path, server.url, n=14, review=NOT_REQUIRED)

    code, _out, err = cli(["build", str(spec)])
    assert code == 1
    lines = [line for line in err.splitlines() if "data/raw/calls.txt:" in line]
    assert any(line.startswith("error: data/raw/calls.txt:4: malformed_answer: answer line 1 is not JSON") for line in lines), err
    assert "data/raw/calls.txt:7: empty_answer: the model answered no example (chunk lines 7-8, " in err
    assert "data/raw/calls.txt:10: malformed_answer: answer line 2: needs at least one user and one assistant" in err
    assert "data/raw/calls.txt:13: malformed_answer: answer line 1: not a chat example" in err
    assert "data/raw/calls.txt:16: truncated_answer" in err
    assert _chat_calls(server) == 14
    assert server.count("POST", "/files") == 0

    # on_error: skip trains on the good answers only, and the manifest names every bad chunk
    spec.write_text(spec.read_text(encoding="utf-8").replace("      sampling: {max_tokens: 400}\n",
                                                             "      sampling: {max_tokens: 400}\n      on_error: skip\n"),
                    encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 0, err
    assert _chat_calls(server) == 14  # bad answers are cached too: the answer is what it is
    books = _manifest(tmp_path)["generated"]["transforms[0].extract"]
    assert books["errors"] == {"empty_answer": 1, "malformed_answer": 3, "truncated_answer": 1}
    assert [(r["file"], r["line"]) for r in books["error_rows"]] == [
        ("data/raw/calls.txt", 4), ("data/raw/calls.txt", 7), ("data/raw/calls.txt", 10),
        ("data/raw/calls.txt", 13), ("data/raw/calls.txt", 16)]
    assert books["examples"] == 10  # 14 chunks: 9 good, chunk 3 keeps its good line
    trained = (tmp_path / ".ftspec" / "datasets" / "extract" / "train.jsonl").read_text(encoding="utf-8")
    assert "socket 3" in trained and "socket 1?" not in trained and "socket 5" not in trained
    assert '"content":"q"' not in trained


def test_bad_input_is_located_before_any_call(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write_project(tmp_path, server.url, review=NOT_REQUIRED)
    prompt = tmp_path / "prompts" / "extract.txt"
    prompt.write_text("Text: {{ chunk }} for {{ customer_name }}\n", encoding="utf-8")
    code, _out, err = cli(["validate", str(spec)])
    assert code == 1
    assert err.startswith("error: specs/extract.yaml:17:15: transforms[0].extract.prompt: "
                          "../prompts/extract.txt: 'customer_name' is undefined; a prompt has: chunk, source"), err

    prompt.write_text("Text: {{ chunk }}\n", encoding="utf-8")
    shots = tmp_path / "prompts" / "few_shot.jsonl"
    shots.write_text('{"input": "a", "output": [{"messages": [{"role": "user", "content": "q"}]}]}\n'
                     '{"input": "b"}\n', encoding="utf-8")
    code, _out, err = cli(["validate", str(spec)])
    assert code == 1
    assert "error: prompts/few_shot.jsonl:1: few-shot example: output 1: needs at least one user and one assistant" in err
    assert "error: prompts/few_shot.jsonl:2: few-shot example: 'output' must be a non-empty list" in err

    shots.write_text('{"input": "a", "output": [{"messages": [{"role": "user", "content": "q"}, '
                     '{"role": "assistant", "content": "a"}]}]}\n', encoding="utf-8")
    spec.write_text(spec.read_text(encoding="utf-8").replace(MODEL, "gpt-9-nonexistent"), encoding="utf-8")
    code, _out, err = cli(["build", str(spec)])
    assert code == 1
    assert "error: specs/extract.yaml:16:14: transforms[0].extract.model: provider 'openai' has no model " \
           "'gpt-9-nonexistent'" in err
    assert _chat_calls(server) == 0

    # a transcript no extract reads is never trained on as raw text
    spec = write_project(tmp_path, server.url, review=NOT_REQUIRED, extract="      sources: [calls]\n",
                         sources_extra="  - {name: notes, path: ../data/raw/calls.txt, format: transcript}\n")
    code, _out, err = cli(["validate", str(spec)])
    assert code == 1
    assert "error: specs/extract.yaml:14:56: sources[1].format: source 'notes' is raw text (format transcript): " \
           "only an `extract` transform can use it, and none reads it" in err, err
    assert all(path.startswith("/models") for _method, path in server.requests)


def test_moderation_not_on_a_provider_without_an_endpoint(server, tmp_path, api_key, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write_project(tmp_path, server.url, review=NOT_REQUIRED, transforms_after="  - moderate: {provider: local}\n")
    code, _out, err = cli(["validate", str(spec)])
    assert code == 1
    assert "transforms[1].moderate.provider: provider 'local' has no moderation endpoint, so nothing would be " \
           "screened; name one that has (openai) with `provider:`" in err


def _start_build(spec: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, KEY_ENV: API_KEY}
    return subprocess.Popen([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cached(project: Path) -> int:
    path = project / ".ftspec" / "cache" / "generated.sqlite"
    if not path.is_file():
        return 0
    db = sqlite3.connect(str(path), timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_sigkill_halfway_then_rebuild_pays_each_chunk_once(server, tmp_path):
    n = 24
    script_answers(server, n)
    spec = write_project(tmp_path, server.url, n=n, review=NOT_REQUIRED,
                         extract="      concurrency: 4\n")
    server.hold_chat_after = 9  # the 10th request on waits: the build is killed with calls in flight
    proc = _start_build(spec, tmp_path)
    deadline = time.monotonic() + 60
    while _cached(tmp_path) < 9 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _cached(tmp_path) == 9, "the build did not cache the first answers"
    proc.kill()
    proc.communicate(timeout=30)
    server.chat_abort = True  # the requests held in flight are never answered (never paid)
    server.chat_gate.set()
    time.sleep(0.2)
    server.hold_chat_after = None
    server.chat_abort = False

    rerun = subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=tmp_path,
                           env={**os.environ, KEY_ENV: API_KEY}, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    paid = Counter(i for _model, last in server.chat_answered for i in range(n)
                   if needle(i) in (last or ""))
    assert sorted(paid) == list(range(n)) and set(paid.values()) == {1}, paid
    assert _cached(tmp_path) == n
    assert _manifest(tmp_path)["generated"]["transforms[0].extract"]["cached"] == 9


def test_token_chunks_join_blocks_of_one_file(server, tmp_path, api_key, monkeypatch):
    from ftspec.data.pipeline import build_dataset
    from ftspec.errors import DataError
    from ftspec.providers.models import spec_models
    from ftspec.spec.loader import load_spec

    monkeypatch.chdir(tmp_path)
    script_answers(server, 12)
    spec = load_spec(write_project(tmp_path, server.url, review=NOT_REQUIRED,
                                   extract="      chunk: {by: tokens, max_tokens: 60}\n"))
    with spec_models(spec) as models, pytest.raises(DataError) as failed:
        build_dataset(spec, None, models=models)  # the script answers the first block of each chunk
    assert "fine-tuning needs at least 10" in str(failed.value)
    asked = [last for _m, last in server.chat_answered]
    assert len(asked) == 6 and all(last.count("Customer:") == 2 for last in asked)
    assert {"lines 1-5", "lines 7-11"} <= {"lines " + last.split("lines ")[1].split(")")[0] for last in asked}


def test_session_chunks_of_a_conversation_source(server, tmp_path, api_key, monkeypatch):
    from ftspec.data.pipeline import build_dataset
    from ftspec.providers.models import spec_models
    from ftspec.spec.loader import load_spec

    monkeypatch.chdir(tmp_path)
    spec_path = write_project(tmp_path, server.url, review=NOT_REQUIRED)
    chats = tmp_path / "data" / "chats.jsonl"
    chats.write_text("".join(json.dumps({"messages": [{"role": "user", "content": needle(i)},
                                                      {"role": "assistant", "content": f"see page {i}"}]}) + "\n"
                             for i in range(12)), encoding="utf-8")
    text = spec_path.read_text(encoding="utf-8")
    text = text.replace("{name: calls, path: ../data/raw/calls.txt, format: transcript}",
                        "{name: chats, path: ../data/chats.jsonl, format: chat_jsonl}")
    spec_path.write_text(text.replace("  - extract:\n", "  - extract:\n      chunk: {by: session}\n"
                                      "      sources: [chats]\n"), encoding="utf-8")
    script_answers(server, 12)
    spec = load_spec(spec_path)
    with spec_models(spec) as models:
        result = build_dataset(spec, None, models=models)
    books = result.manifest["generated"]["transforms[0].extract"]
    assert (books["consumed"], books["examples"], books["calls"]) == (12, 12, 12)
    assert {o["origin"] for o in books["origins"]} == {f"data/chats.jsonl:{i}" for i in range(1, 13)}
    asked = [last for _m, last in server.chat_answered]
    assert any(f"user: {needle(0)}\nassistant: see page 0" in last for last in asked)
