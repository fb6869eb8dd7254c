"""The browser of the browser tests: Debian's headless Chromium, driven by selenium through
Debian's chromedriver. Nothing is downloaded: both paths are given, so selenium looks nothing up,
and the browser is told to stay off the network (this machine has none beyond package registries).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh browser (and profile) per test; its console is kept, for `browser.get_log("browser")`."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing: run scripts/system-deps.sh "
                        "(apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")  # a fresh profile each time
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def evidence(browser: WebDriver, tmp_path: Path, name: str) -> Iterator[None]:
    """On failure, keep what the browser showed: a screenshot and the page's HTML."""
    try:
        yield
    except BaseException:
        browser.save_screenshot(str(tmp_path / f"{name}.png"))
        (tmp_path / f"{name}.html").write_text(browser.page_source)
        print(f"browser state saved in {tmp_path}: {name}.png, {name}.html")
        raise
