"""Collecting preferences: ``ftspec eval --compare`` pairs the DPO model with its parent on the
loopback OpenAI server, the compare page (headless Chromium) records choices by key, a reload
and a SIGKILL lose nothing, and the choices file is a preference source."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftspec.data.choices import load_choices, win_rate
from ftspec.data.context import BuildContext
from ftspec.data.examples import iter_examples
from ftspec.lockfile import load_lock, lock_path
from ftspec.spec import load_spec

from .conftest import API_KEY, KEY_ENV, run_cli, write_dpo_spec

PARENT = "gpt-4o-mini-2024-07-18"
EVAL = """evals:
  - name: tone
    cases:
""" + "".join(f'      - {{id: q{i}, messages: [{{role: user, content: "question {i}?"}}], must_include: ["Gladly"]}}\n'
              for i in range(4)) + """    sampling: {temperature: 0, max_tokens: 16}
    scorers:
      - contains: {field: must_include}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _post(port: int, payload, headers=None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/choose", body=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


class Page:
    """``ftspec eval SPEC --compare --against PARENT --serve`` as a subprocess."""

    def __init__(self, root: Path, spec: Path, port: int) -> None:
        import os

        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ftspec", "eval", str(spec), "--compare", "--against", PARENT, "--serve",
             "--port", str(port)], cwd=root, env={**os.environ, KEY_ENV: API_KEY},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                _get(port, "/api/state")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the compare page did not answer within 60 s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.communicate(timeout=30)


@pytest.fixture
def dpo_project(server, tmp_path):
    spec = write_dpo_spec(tmp_path, server.url, validation=0.0, extra=EVAL)
    built = run_cli(["build", str(spec)], tmp_path)
    assert built.returncode == 0, built.stderr
    return tmp_path, spec, load_lock(lock_path(spec))["model"]


@pytest.fixture
def pages():
    started: list[Page] = []
    yield lambda *a: started.append(Page(*a)) or started[-1]
    for page in started:
        page.kill()


def test_compare_makes_pairs_once(server, dpo_project):
    root, spec, model = dpo_project
    made = run_cli(["eval", str(spec), "--compare", "--against", PARENT, "--json"], root)
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["count"] == 4 and out["new_generations"] == 8 and out["models"] == [model, PARENT]
    pairs = json.loads((root / "reports/prefs/compare.json").read_text(encoding="utf-8"))["pairs"]
    for pair in pairs:
        by_model = {pair[s]["model"]: pair[s]["text"] for s in ("left", "right")}
        assert by_model[model].startswith("Gladly") and by_model[PARENT].startswith("echo:")
    assert {p["left"]["model"] for p in pairs} == {model, PARENT}  # neither model always on the left
    chats = server.count("POST", "/chat/completions")
    again = run_cli(["eval", str(spec), "--compare", "--against", PARENT, "--json"], root)
    assert json.loads(again.stdout)["new_generations"] == 0
    assert server.count("POST", "/chat/completions") == chats  # nothing paid twice


def test_compare_against_the_recorded_baseline_calls_only_the_new_model(server, dpo_project):
    """The old model's frozen answers (``--record-baseline``) are the other side: it is never
    called again; a case the baseline did not record gets no pair, and the count says so."""
    root, spec, model = dpo_project
    recorded = run_cli(["eval", str(spec), "--record-baseline", "--model", PARENT], root)
    assert recorded.returncode == 0, recorded.stderr
    path = root / "baselines" / "prefs.json"
    baseline = json.loads(path.read_text(encoding="utf-8"))
    baseline["evals"]["tone"]["cases"] = [c for c in baseline["evals"]["tone"]["cases"] if c["id"] != "q3"]
    path.write_text(json.dumps(baseline), encoding="utf-8")
    frozen = {c["id"]: c["results"][0]["outputs"][0] for c in baseline["evals"]["tone"]["cases"]}

    before = server.count("POST", "/chat/completions")
    made = run_cli(["eval", str(spec), "--compare", "--against", "baseline", "--json"], root)
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert (out["count"], out["new_generations"], out["not_recorded"]) == (3, 3, 1)
    assert out["models"] == [model, PARENT]
    assert server.count("POST", "/chat/completions") == before + 3  # the new model only
    for pair in json.loads((root / "reports/prefs/compare.json").read_text(encoding="utf-8"))["pairs"]:
        by_model = {pair[s]["model"]: pair[s]["text"] for s in ("left", "right")}
        assert by_model[PARENT] == frozen[pair["id"].split(":", 1)[1]] and by_model[model].startswith("Gladly")
    text = run_cli(["eval", str(spec), "--compare", "--against", "baseline"], root)
    assert "3 pairs (0 new answers)" in text.stdout and "; 1 case the baseline did not record: no pair" in text.stdout


def test_bad_choices_are_refused_and_write_nothing(server, dpo_project, pages):
    root, spec, _ = dpo_project
    page = pages(root, spec, _free_port())
    pid = _get(page.port, "/api/state")[1]["pairs"][0]["id"]
    assert _post(page.port, {"id": pid, "choice": "maybe"})[0] == 400
    assert _post(page.port, {"id": "nope", "choice": "left"})[0] == 400
    assert _post(page.port, {"id": pid, "choice": "left", "x": 1})[0] == 400
    assert _post(page.port, {"id": pid, "choice": "left"}, {"Origin": "http://evil.example"})[0] == 403
    assert not (root / "reviews/prefs.choices.json").exists()


@pytest.mark.browser
def test_compare_page_in_headless_chromium(server, dpo_project, pages, tmp_path):
    from ftspec.testing.browser import find_chromium, headless_chromium

    found = find_chromium()
    if found is None:
        print("skipped: chromium/chromedriver not installed (/usr/bin/chromium, /usr/bin/chromedriver)")
        pytest.skip("chromium/chromedriver not installed")
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    root, spec, model = dpo_project
    port = _free_port()
    page = pages(root, spec, port)
    pairs = _get(port, "/api/state")[1]["pairs"]
    ids = [p["id"] for p in pairs]

    def model_side(i: int) -> str:
        return "left" if pairs[i]["left"]["model"] == model else "right"

    keys = {"left": Keys.ARROW_LEFT, "right": "2"}  # both keys of the two sides, one of each
    with headless_chromium(tmp_path / "profile", found) as driver:
        wait = WebDriverWait(driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

        def progress(text: str) -> None:
            wait.until(lambda d: d.find_element(By.ID, "progress").text == text)

        def press(key: str) -> None:
            driver.find_element(By.TAG_NAME, "body").send_keys(key)

        def on(pid: str) -> None:
            wait.until(lambda d: d.find_element(By.ID, "pair").get_attribute("data-id") == pid)

        driver.get(f"http://127.0.0.1:{port}/")
        assert driver.title == "Compare: prefs"
        progress("0 of 4 decided")
        on(ids[0])
        assert "question 0?" in driver.find_element(By.ID, "prompt").text
        press(keys[model_side(0)])  # the DPO model's answer is better
        progress("1 of 4 decided")
        on(ids[1])
        press("t")
        progress("2 of 4 decided")
        on(ids[2])
        driver.find_element(By.CSS_SELECTOR, "#pair button[data-choice='both_bad']").click()
        progress("3 of 4 decided")
        on(ids[3])
        on_disk = load_choices(root / "reviews/prefs.choices.json")  # each choice written as made
        assert {k: v["choice"] for k, v in on_disk.items()} == {ids[0]: model_side(0), ids[1]: "tie", ids[2]: "both_bad"}

        driver.refresh()  # a reload shows what is saved, and the first pair still to decide
        progress("3 of 4 decided")
        on(ids[3])
        page.kill()  # SIGKILL mid-session: no shutdown code runs
        page = pages(root, spec, port)
        driver.refresh()
        progress("3 of 4 decided")
        parent_side = "right" if model_side(3) == "left" else "left"
        press({"left": "1", "right": Keys.ARROW_RIGHT}[parent_side])  # here the parent's answer wins
        progress("4 of 4 decided")
        wait.until(lambda d: "win rate 50.0%" in d.find_element(By.ID, "winrate").text)
        press("k")  # back one: the both-bad pair shows its saved choice
        on(ids[2])
        assert driver.find_element(By.ID, "pair").get_attribute("data-choice") == "both_bad"

    decisions = load_choices(root / "reviews/prefs.choices.json")
    assert win_rate(decisions, model) == {"model": model, "wins": 1, "losses": 1, "ties": 1, "both_bad": 1,
                                          "win_rate": 0.5}
    # the choices are a preference source: two pairs, the tie and the both-bad dropped by name
    choices_spec = root / "specs" / "choices.yaml"
    choices_spec.write_text(spec.read_text(encoding="utf-8").replace("name: prefs", "name: choices").replace(
        "{name: pairs, path: ../data/prefs.jsonl, format: preference_jsonl}",
        "{name: chosen, path: ../reviews/prefs.choices.json, format: compare_choices}"), encoding="utf-8")
    ctx = BuildContext()
    examples = list(iter_examples(load_spec(choices_spec), ctx))
    assert sorted(e.record["preferred_output"][0]["content"].split()[0] for e in examples) == ["Gladly", "echo:"]
    assert dict(ctx.sources["chosen"].dropped) == {"tie": 1, "both bad": 1}
    assert all(e.origin.file.endswith("reviews/prefs.choices.json") and e.origin.line > 1 for e in examples)


def test_win_rate_in_the_eval_report_and_diff(server, dpo_project):
    from ftspec.data.choices import save_choice

    root, spec, model = dpo_project
    assert run_cli(["eval", str(spec), "--compare", "--against", PARENT], root).returncode == 0
    pairs = json.loads((root / "reports/prefs/compare.json").read_text(encoding="utf-8"))["pairs"]
    path = root / "reviews/prefs.choices.json"
    for pair, pick in zip(pairs, ["model", "model", "model", "parent"], strict=True):
        side = "left" if (pair["left"]["model"] == model) == (pick == "model") else "right"
        save_choice(path, "prefs", pair["id"], {"choice": side, "eval": pair["eval"], "input": pair["input"],
                                                "left": pair["left"], "right": pair["right"]})
    done = run_cli(["eval", str(spec)], root)
    assert done.returncode == 0, done.stderr
    report = json.loads((root / "reports/prefs/tone.json").read_text(encoding="utf-8"))
    assert report["preference"] == {"model": model, "wins": 3, "losses": 1, "ties": 0, "both_bad": 0,
                                    "win_rate": 0.75, "against": PARENT, "choices": "reviews/prefs.choices.json"}
    assert "win rate vs gpt-4o-mini-2024-07-18" in (root / "reports/prefs/tone.html").read_text(encoding="utf-8")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "dpo model and its choices"], cwd=root, check=True)
    shown = run_cli(["diff", str(spec), "--no-examples"], root)
    assert shown.returncode == 0, shown.stderr
    assert f"win rate 75.0% against {PARENT} (3 won, 1 lost, 0 tied, 0 both bad)" in shown.stdout
