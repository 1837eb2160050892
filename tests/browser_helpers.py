"""Open local HTML files in a real headless Chromium (selenium 4) and report what happened.

Generic on purpose: the reader-study sheet and the study report both use it. Chromium and
chromedriver come from Debian (``apt-get install chromium chromium-driver``); when either is
missing, tests that need them are skipped with the reason.

Typical use::

    with chromium_driver() as driver:
        page = open_page(driver, path)          # logs, images_loaded, ...
        value = driver.execute_script("return window.answersCsv()")

or, for a one-shot check, ``open_in_chromium(path, script="return document.title")``.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless, sandbox-free (containers, CI), and nothing that reaches the network on its own.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
)
ALL_IMAGES_LOADED_JS = (
    "return Array.from(document.images).filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.alt);"
)
PAGE_LOAD_TIMEOUT_S = 60


def chromium_missing() -> str | None:
    """Why Chromium cannot run here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} not found: install Debian's chromium and chromium-driver to run browser tests"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@contextmanager
def chromium_driver() -> Iterator:
    """A headless Chromium webdriver with a fresh profile, quit and removed afterwards.

    Skips the calling test when Chromium, chromedriver or selenium is missing.
    """
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="medattn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path: str | Path) -> dict:
    """Load a local file and report on it.

    Returns:
        ``title``; ``logs`` (console entries since the last read, dicts with ``level`` and
        ``message``); ``severe`` (the SEVERE ones); ``images`` (how many ``<img>``);
        ``broken_images`` (alt texts of images not loaded); ``images_loaded`` (every image
        complete with a natural width > 0).
    """
    driver.get(Path(path).resolve().as_uri())
    broken = driver.execute_script(ALL_IMAGES_LOADED_JS)
    logs = driver.get_log("browser")
    return {
        "title": driver.title,
        "logs": logs,
        "severe": [entry for entry in logs if entry.get("level") == "SEVERE"],
        "images": driver.execute_script("return document.images.length;"),
        "broken_images": broken,
        "images_loaded": not broken,
    }


def open_in_chromium(path: str | Path, script: str | None = None) -> dict:
    """One-shot: open ``path`` in a fresh headless Chromium, optionally run ``script`` (its value is ``result``)."""
    with chromium_driver() as driver:
        page = open_page(driver, path)
        if script is not None:
            page["result"] = driver.execute_script(script)
            page["logs"] += driver.get_log("browser")
            page["severe"] = [entry for entry in page["logs"] if entry.get("level") == "SEVERE"]
        return page
