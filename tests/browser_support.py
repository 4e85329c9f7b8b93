"""Debian's chromium driven by Selenium, headless, for every test of what a person looks at (report.html,
the review desk): skipped cleanly when the browser is not installed (.ci/run installs it)."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# record instead of showing: any alert()/confirm()/prompt() a page calls ends up in window.__alerts
ALERT_TRAP = """
window.__alerts = [];
['alert', 'confirm', 'prompt'].forEach(function (name) {
  window[name] = function (msg) { window.__alerts.push(name + ':' + msg); return true; };
});
"""


def require_browser() -> None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver; .ci/run does this)")
    if not (os.path.exists(CHROMEDRIVER) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("chromedriver is not installed (apt-get install chromium-driver; .ci/run does this)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")


def open_chromium(tmp_path_factory, window: str, page_load_timeout: int):
    """A headless chromium with its own profile folder, its console log kept and dialogs trapped."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="csqa-chromium-", dir=tmp_path_factory.getbasetemp())
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", f"--window-size={window}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ALERT_TRAP})
    return driver


def left_page(old_html):
    """A wait condition: the document `old_html` (its <html> element) belongs to is gone — a navigation
    finished replacing it. chromedriver says so either as a stale element or, when the check lands in the
    middle of the swap, as "Node with given id does not belong to the document": both mean the same."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_driver) -> bool:
        try:
            old_html.is_enabled()  # any call that needs the element to still be in its document
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone
