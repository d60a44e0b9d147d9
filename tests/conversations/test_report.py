"""`ftspec dataset specs/persona.yaml --report` writes an offline HTML page; headless Chromium
opens it and finds the counts and both histograms."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ftspec.data.report import histogram_bins, turns_of

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    from ftspec.cli import main

    out = tmp_path_factory.mktemp("persona")
    try:
        main(["dataset", str(ROOT / "specs/persona.yaml"), "--out", str(out), "--report"])
    except SystemExit as exc:
        assert exc.code == 0
    return out / "data_report.html", json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_report_is_self_contained(report):
    page = report[0].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "external asset in the report"
    assert "<script" not in page and "<link" not in page


def test_histogram_bins_cover_all_values():
    values = [1, 2, 2, 3, 10, 40]
    bins = histogram_bins(values, bins=4)
    assert sum(c for _, _, c in bins) == len(values)
    assert bins[0][0] == 1 and bins[-1][1] >= 40


def test_turns_of_chat_and_completion():
    assert turns_of({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                                  {"role": "assistant", "content": "b"}]}) == 2
    assert turns_of({"prompt": "친구: 하이\n지훈: 응\n친구: 뭐해\n지훈:\n\n###\n\n", "completion": " 그냥 END"}) == 4


def test_report_in_headless_chromium(report, tmp_path):
    if not (CHROMIUM.exists() and DRIVER.exists()):
        print(f"SKIP REASON: {CHROMIUM} or {DRIVER} is missing; install Debian's chromium and chromium-driver")
        pytest.skip(f"{CHROMIUM} or {DRIVER} is missing (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    path, manifest = report
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(path.as_uri())
        assert driver.title == "Data report: persona"
        total = manifest["counts"]["train"] + manifest["counts"]["validation"]
        bars = driver.find_elements(By.CSS_SELECTOR, "#token-histogram rect.bar")
        assert bars and sum(int(b.get_attribute("data-count")) for b in bars) == total
        turns = driver.find_elements(By.CSS_SELECTOR, "#turns-histogram rect.bar")
        assert turns and sum(int(b.get_attribute("data-count")) for b in turns) == total
        assert driver.find_element(By.ID, "token-histogram").size["height"] > 100  # laid out, not hidden
        counts = {r.find_elements(By.TAG_NAME, "td")[0].text: int(r.find_elements(By.TAG_NAME, "td")[1].text)
                  for r in driver.find_elements(By.CSS_SELECTOR, "#counts tr")[1:]}
        assert counts == {**manifest["counts"], "total": total}
        drops = driver.find_element(By.ID, "drops").text
        for kind, n in manifest["sources"]["kakaotalk"]["dropped"].items():
            assert f"{kind} {n}" in drops
        assert len(driver.find_elements(By.CSS_SELECTOR, "#longest tr")) == 1 + min(20, total)
        dedupe = sum(manifest["removed"].get("dedupe", {}).values())
        assert driver.find_element(By.ID, "duplicates").text.startswith(f"{dedupe} duplicate example(s) removed")
    finally:
        driver.quit()
