"""``ftspec review SPEC --serve``: the browser review page over the decisions file.

The server runs as a real subprocess on a free 127.0.0.1 port (the browser test, the kill tests)
or in a thread (the bad-request test); every check reads the decisions file back with the
build's own loader, and the last word is always the dataset the build writes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conv_helpers import write_spec

from ftspec.data.review.decisions import load_decisions

BLOCKS = [f"Q) question {i}?\nA) answer {i}." for i in range(6)]


# ---- helpers --------------------------------------------------------------------------------
def make_project(root: Path, blocks: list[str]) -> Path:
    (root / ".ftspec").mkdir(parents=True)
    (root / "qa.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    write_spec(root, [{"name": "qa", "path": "qa.txt", "format": "qa_text"}], review="reviews/conv.yaml")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("Content-Type"), data
    finally:
        conn.close()


def post(port: int, path: str, payload) -> tuple[int, dict]:
    status, _, data = request(port, "POST", path, json.dumps(payload).encode())
    return status, json.loads(data)


def state(port: int) -> dict:
    status, _, data = request(port, "GET", "/api/state")
    assert status == 200, data
    return json.loads(data)


class Server:
    """``python -m ftspec review spec.yaml --serve --port PORT`` in ``root``, ready when started."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root, self.port = root, port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ftspec", "review", "spec.yaml", "--serve", "--port", str(self.port)],
            cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                state(self.port)
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the review server did not answer within 60 s")

    def kill(self) -> None:  # SIGKILL: no cleanup of any kind runs
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.communicate(timeout=30)

    def stop(self) -> tuple[int, str, str]:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(root: Path, port: int | None = None) -> Server:
        started.append(Server(root, port).start())
        return started[-1]

    yield start
    for server in started:
        server.kill()


def ftspec_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftspec", *args], cwd=root, capture_output=True, text=True, timeout=300)


def train_contents(root: Path, out: str) -> list[list[str]]:
    lines = (root / out / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted([m["content"] for m in json.loads(line)["messages"]] for line in lines)


# ---- the browser ----------------------------------------------------------------------------
@pytest.mark.browser
def test_review_in_headless_chromium_survives_reload_and_sigkill(tmp_path, servers):
    from ftspec.testing.browser import find_chromium, headless_chromium

    found = find_chromium()
    if found is None:
        print("skipped: chromium/chromedriver not installed (/usr/bin/chromium, /usr/bin/chromedriver)")
        pytest.skip("chromium/chromedriver not installed")
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    root = make_project(tmp_path / "proj", BLOCKS)
    before = ftspec_cli(root, "dataset", "spec.yaml", "--out", "before")
    assert before.returncode == 0, before.stderr
    assert len(train_contents(root, "before")) == 6
    server = servers(root)
    url = f"http://127.0.0.1:{server.port}/"

    with headless_chromium(tmp_path / "profile", found) as driver:
        # the page re-renders after each save, so an element found a moment ago may be gone
        wait = WebDriverWait(driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

        def progress(text: str) -> None:
            wait.until(lambda d: d.find_element(By.ID, "progress").text == text)

        def card_id() -> str:
            return driver.find_element(By.ID, "card").get_attribute("data-id")

        def press(*keys: str) -> None:
            for key in keys:
                driver.switch_to.active_element.send_keys(key)

        def advanced_from(old: str) -> None:
            wait.until(lambda d: card_id() != old)

        driver.get(url)
        progress("0 of 6 reviewed")
        assert driver.title == "Review: conv"
        ids = [x["id"] for x in state(server.port)["examples"]]
        assert card_id() == ids[0]
        assert driver.find_element(By.CSS_SELECTOR, "#card .origin").text == "qa · qa.txt:1"
        assert "question 0?" in driver.find_element(By.ID, "card").text

        press("k")  # keep, and on to the next example
        progress("1 of 6 reviewed")
        advanced_from(ids[0])
        press("d")  # drop
        progress("2 of 6 reviewed")
        advanced_from(ids[1])
        press("e")  # edit the answer inline
        areas = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#card textarea.edit-msg"))
        assert [a.get_attribute("value") for a in areas] == ["question 2?", "answer 2."]
        areas[1].clear()
        areas[1].send_keys("a better answer 2, 더 나은 답.")
        areas[1].send_keys(Keys.CONTROL, Keys.ENTER)
        progress("3 of 6 reviewed")
        advanced_from(ids[2])
        driver.find_element(By.CSS_SELECTOR, "#card button[data-action='keep']").click()  # a click keeps too
        progress("4 of 6 reviewed")
        advanced_from(ids[3])
        press("f")  # flag ids[4] to come back to, then move on with j
        wait.until(lambda d: "flagged" in d.find_element(By.CSS_SELECTOR, "#card h2").text)
        press("j")
        advanced_from(ids[4])
        assert "6 of 6 shown" in driver.find_element(By.ID, "position").text

        on_disk = load_decisions(root / "reviews/conv.yaml")  # each decision was written as made
        assert {i: on_disk[i].decision for i in ids} == {
            ids[0]: "keep", ids[1]: "drop", ids[2]: "edit", ids[3]: "keep", ids[4]: "pending", ids[5]: "pending"}
        assert on_disk[ids[2]].record == {"messages": [{"role": "user", "content": "question 2?"},
                                                       {"role": "assistant", "content": "a better answer 2, 더 나은 답."}]}
        assert on_disk[ids[4]].extra.get("flagged") is True

        driver.refresh()  # a reload shows the saved state and the same example
        progress("4 of 6 reviewed")
        assert card_id() == ids[5]

        server.kill()  # mid-review: SIGKILL, no shutdown code runs
        restarted = servers(root, server.port)
        driver.refresh()
        progress("4 of 6 reviewed")
        press("b")  # back to the flagged one
        wait.until(lambda d: card_id() == ids[4])
        assert "flagged" in driver.find_element(By.CSS_SELECTOR, "#card h2").text
        press("b", "b")
        wait.until(lambda d: card_id() == ids[2])  # the edit is shown, the original beside it
        card = driver.find_element(By.ID, "card")
        assert card.get_attribute("data-decision") == "edit" and "a better answer 2, 더 나은 답." in card.text
        assert driver.find_element(By.CSS_SELECTOR, "#card details summary").text.startswith("original")

        press("3")  # filter: flagged
        wait.until(lambda d: d.find_element(By.ID, "position").text == "1 of 1 shown")
        assert card_id() == ids[4]
        press("2", "l")  # filter: pending, as a list
        rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#list tbody tr"))
        assert [r.get_attribute("data-id") for r in rows] == [ids[4], ids[5]]
        rows[1].find_element(By.CSS_SELECTOR, "button[data-action='drop']").click()
        progress("5 of 6 reviewed")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#list tbody tr")) == 1)
        press("1")  # everything, with its decision
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#list tbody tr")) == 6)
        shown = [r.get_attribute("data-decision") for r in driver.find_elements(By.CSS_SELECTOR, "#list tbody tr")]
        assert shown == ["keep", "drop", "edit", "keep", "pending", "drop"]
        select = driver.find_element(By.ID, "source")  # the source filter lists the spec's sources
        assert [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")] == ["", "qa"]
    code, _, err = restarted.stop()
    assert code == 0, err

    # the build honours every decision made in the browser, exactly like hand-edited ones
    built = ftspec_cli(root, "dataset", "spec.yaml", "--out", "after")
    assert built.returncode == 0, built.stderr
    assert train_contents(root, "after") == sorted([
        ["question 0?", "answer 0."], ["question 2?", "a better answer 2, 더 나은 답."],
        ["question 3?", "answer 3."], ["question 4?", "answer 4."]])
    manifest = json.loads((root / "after/manifest.json").read_text(encoding="utf-8"))
    assert manifest["counters"]["review"] == {"dropped": 2, "edited": 1, "kept": 2, "unreviewed": 1}
    assert "1 example(s) not reviewed yet" in built.stderr  # the flagged one is still pending
    again = ftspec_cli(root, "review", "spec.yaml")  # the file-based review keeps them all
    assert again.stdout.splitlines()[0] == "reviews/conv.yaml: 6 examples (0 new); drop 2, edit 1, keep 2, pending 1"


# ---- many writers, and a kill mid-burst -------------------------------------------------------
def test_concurrent_posts_to_two_servers_never_corrupt_the_file(tmp_path, servers):
    root = make_project(tmp_path, [f"Q) q{i}?\nA) a{i}." for i in range(24)])
    one, two = servers(root), servers(root)  # two processes over one file: two tabs, two terminals
    ids = [x["id"] for x in state(one.port)["examples"]]
    last: dict[str, str] = {}
    errors: list[str] = []

    def writer(mine: list[str], n: int) -> None:
        for rnd, decision in enumerate(("drop", "keep", "pending", "keep", "drop")):
            for ident in mine:
                port = (one, two)[(rnd + n) % 2].port
                status, body = post(port, "/api/decide", {"id": ident, "decision": decision})
                if status != 200:
                    errors.append(f"{status} {body}")
                last[ident] = decision
            status, body = post(one.port, "/api/flag", {"id": mine[0], "flagged": rnd % 2 == 0})
            if status != 200:
                errors.append(f"{status} {body}")

    threads = [threading.Thread(target=writer, args=(ids[n::6], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    on_disk = load_decisions(root / "reviews/conv.yaml")
    assert {i: d.decision for i, d in on_disk.items()} == last  # no decision lost, none torn
    assert sorted(i for i, d in on_disk.items() if d.extra.get("flagged")) == sorted(ids[n] for n in range(6))
    assert state(two.port)["progress"] == {"total": 24, "reviewed": 24, "flagged": 6,
                                           "counts": {"keep": 0, "drop": 24, "edit": 0, "pending": 0}}


def test_sigkill_mid_burst_keeps_every_acknowledged_decision(tmp_path, servers):
    root = make_project(tmp_path, [f"Q) q{i}?\nA) a{i}." for i in range(40)])
    server = servers(root)
    ids = [x["id"] for x in state(server.port)["examples"]]
    acked: list[str] = []

    def burst() -> None:
        for ident in ids:
            try:
                status, _ = post(server.port, "/api/decide", {"id": ident, "decision": "drop"})
            except OSError:
                return  # the server died under us
            assert status == 200
            acked.append(ident)

    thread = threading.Thread(target=burst)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    thread.join(timeout=60)
    assert 10 <= len(acked) < len(ids)  # killed in the middle
    on_disk = load_decisions(root / "reviews/conv.yaml")  # parses: never a torn file
    assert set(ids) == set(on_disk)
    assert {i for i, d in on_disk.items() if d.decision == "drop"} >= set(acked)


# ---- refusals ---------------------------------------------------------------------------------
@pytest.fixture
def in_process(tmp_path, monkeypatch):
    """A ReviewServer in a thread, in the project folder (same code as the CLI's)."""
    from ftspec.data.review.server import ReviewServer, ReviewSession
    from ftspec.spec.loader import load_spec

    root = make_project(tmp_path, BLOCKS[:3])
    monkeypatch.chdir(root)
    server = ReviewServer(ReviewSession(load_spec(root / "spec.yaml")), 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, server
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def test_bad_requests_get_json_errors_and_write_nothing(in_process):
    root, server = in_process
    port, path = server.port, root / "reviews/conv.yaml"
    ident = state(port)["examples"][0]["id"]
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    bad_role = {"id": ident, "decision": "edit", "messages": [{"role": "bot", "content": "hi"}]}
    cases = [
        ({"id": "0123456789abcdef", "decision": "keep"}, 400, "unknown example id '0123456789abcdef'"),
        (b"{not json", 400, "malformed JSON body: "),
        (b"\xff\xfe", 400, "malformed JSON body: "),
        (b'{"id": "%s", "decision": NaN}' % ident.encode(), 400, "malformed JSON body: NaN is not JSON"),
        ([ident], 400, "the request body must be a JSON object"),
        ({"id": ident, "decision": "maybe"}, 400, "'decision' must be one of keep, drop, edit, pending, not 'maybe'"),
        ({"id": ident, "decision": "edit"}, 400, "an edit of a chat example sends 'messages'"),
        ({"id": ident, "decision": "keep", "messages": []}, 400, "'messages' is only sent with 'decision': 'edit'"),
        ({"id": ident, "decision": "keep", "note": "x"}, 400, "unknown key 'note'; this request takes "),
        (bad_role, 400, "reviews/conv.yaml:"),  # the build's own located check, before any write
        ({"id": ident, "decision": "edit", "messages": []}, 400, "'messages' must be a non-empty list"),
    ]
    for payload, want_status, want_error in cases:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, ctype, data = request(port, "POST", "/api/decide", body)
        assert (status, ctype) == (want_status, "application/json"), (payload, data)
        assert json.loads(data)["error"].startswith(want_error) or want_error in json.loads(data)["error"], data
    assert "each message needs a role" in json.loads(request(port, "POST", "/api/decide", json.dumps(bad_role).encode())[2])["error"]
    status, _, data = request(port, "POST", "/api/flag", json.dumps({"id": ident, "flagged": "yes"}).encode())
    assert status == 400 and json.loads(data) == {"error": "'flagged' must be true or false"}
    status, _, data = request(port, "POST", "/api/decide", b'{"id": "x"}', {"Content-Type": "text/plain"})
    assert status == 415 and json.loads(data) == {"error": "Content-Type must be application/json"}
    status, _, data = request(port, "POST", "/api/decide", json.dumps({"id": ident, "decision": "keep"}).encode(),
                              {"Origin": "http://evil.example"})
    assert status == 403 and json.loads(data) == {"error": "requests from http://evil.example are refused"}
    status, _, data = request(port, "GET", "/api/state", headers={"Host": f"evil.example:{port}"})
    assert status == 403 and "Host must be one of" in json.loads(data)["error"]
    status, _, data = request(port, "GET", "/nope")
    assert status == 404 and json.loads(data) == {"error": "no GET /nope here"}
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before  # not one byte written

    path.write_text("examples:\n  - id: abc\n    decision: maybe\n", encoding="utf-8")  # broken by hand meanwhile
    status, _, data = request(port, "GET", "/api/state")
    assert status == 409 and json.loads(data)["error"].startswith("reviews/conv.yaml:3:15: decision must be one of")


def test_page_is_self_contained_and_shows_source_context(in_process):
    import re

    from ftspec.data.records import Example, Origin
    from ftspec.data.review.server import ReviewSession
    from ftspec.spec.loader import load_spec

    root, server = in_process
    status, ctype, page = request(server.port, "GET", "/")
    assert status == 200 and ctype == "text/html; charset=utf-8"
    text = page.decode("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text) and "<link" not in text
    assert "<script>" in text and "<title>Review: conv</title>" in text
    assert request(server.port, "GET", "/favicon.ico")[0] == 204  # no 404 in the browser console
    # a generated example carries its source chunk in meta; the page shows it beside the example
    generated = Example({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
                        Origin("gen", "docs/guide.md", 12), meta={"chunk": "## Refunds\nWithin 30 days."})
    view = ReviewSession(load_spec(root / "spec.yaml"), [generated]).state()["examples"]
    assert view == [{"id": generated.id, "source": "gen", "origin": "docs/guide.md:12", "kind": "chat",
                     "context": {"chunk": "## Refunds\nWithin 30 days."}, "record": generated.record,
                     "decision": "pending", "edited": None, "flagged": False}]


def test_port_in_use_is_a_one_line_error(tmp_path):
    root = make_project(tmp_path, BLOCKS[:2])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = ftspec_cli(root, "review", "spec.yaml", "--serve", "--port", str(port))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0].startswith(f"error: --port {port}: cannot listen on 127.0.0.1:{port} (")
