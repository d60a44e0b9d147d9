"""Headless Chromium for the page tests (Debian's ``chromium`` and ``chromium-driver``; the
``selenium`` package is in the ``test`` extra). Imported lazily by the tests that need it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both run, else None (the caller skips and says why)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for path in (chromium, driver):
        try:
            subprocess.run([path, "--version"], capture_output=True, check=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
    return chromium, driver


@contextmanager
def headless_chromium(profile: Path, found: tuple[str, str]) -> Iterator[Any]:
    """A selenium Chrome driver on a fresh profile folder, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    shutil.rmtree(profile, ignore_errors=True)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
