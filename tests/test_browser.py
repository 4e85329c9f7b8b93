"""report.html in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Skips with the reason when chromium, chromedriver or selenium is missing; CI (.ci/run)
installs them. Saves tests/artifacts/report.png (and report_drilldown.png) to look at.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from browser_support import open_chromium

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCRIPT, IMG = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = open_chromium(tmp_path_factory, window="1400,1800", page_load_timeout=30)
    yield driver
    driver.quit()


def _open(driver, path: Path):
    driver.get(path.resolve().as_uri())
    driver.get_log("browser")  # flush anything from a previous page


def _console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _no_alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when there is no alert


def test_sample_report_renders_sorts_and_drills_down(browser, sample_run):
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(sample_run.outdir.joinpath("report.html").resolve().as_uri())
    assert driver.title.startswith("客服会话质检报告")
    assert _console_errors(driver) == []
    assert driver.find_element(By.ID, "overview").is_displayed()
    assert len(driver.find_elements(By.CSS_SELECTOR, "#overview svg.chart")) >= 5
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "report.png"))

    # the ranking table sorts by a header click, both ways
    def column(i):
        return [r.find_elements(By.TAG_NAME, "td")[i].text for r in
                driver.find_elements(By.CSS_SELECTOR, "#ranking-table tbody tr")]

    agents_before = column(1)
    header = driver.find_element(By.XPATH, "//table[@id='ranking-table']//th[normalize-space()='会话数']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
    header.click()
    counts = [int(v) for v in column(2)]
    assert counts == sorted(counts) and column(1) != agents_before
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    counts = [int(v) for v in column(2)]
    assert counts == sorted(counts, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    assert sorted(column(1)) == sorted(agents_before)  # same rows, reordered

    # drill-down: a summary click opens it, the transcript and ledger show
    first = driver.find_element(By.CSS_SELECTOR, "details.conv")
    assert first.get_attribute("open") is None
    transcript = first.find_element(By.CSS_SELECTOR, ".transcript")
    assert not transcript.is_displayed()
    summary = first.find_element(By.TAG_NAME, "summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    assert first.get_attribute("open") is not None
    assert transcript.is_displayed()
    assert first.find_elements(By.CSS_SELECTOR, ".msg mark")
    assert "账目相符" in first.find_element(By.CSS_SELECTOR, "table.ledger").text
    driver.save_screenshot(str(ARTIFACTS / "report_drilldown.png"))

    # a link from an agent's worst conversations opens its (closed) drill-down
    link = driver.find_element(By.CSS_SELECTOR, "section.agent table a[href^='#conv-']")
    target = driver.find_element(By.ID, link.get_attribute("href").split("#", 1)[1])
    driver.execute_script("arguments[0].open = false", target)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    assert target.get_attribute("open") is not None
    assert _console_errors(driver) == []
    assert driver.execute_script("return window.__alerts") == []


def test_hostile_chat_text_runs_nothing(browser, tmp_path, run_cli):
    from selenium.webdriver.common.by import By

    header = ["会话ID", "消息时间", "发送方", "客服账号", "消息内容"]
    rows = [
        ["XSS-1", "2026-11-02 09:00:00", "顾客", "shop_x", f"你好{SCRIPT}"],
        ["XSS-1", "2026-11-02 09:00:05", "客服", "shop_x", "您好，我是客服小美，请问有什么可以帮您？"],
        ["XSS-1", "2026-11-02 09:00:20", "顾客", "shop_x", f"{IMG}快递还没到，电话13812345678"],
        ["XSS-1", "2026-11-02 09:00:30", "客服", "shop_x", f"看不懂你发的{IMG}{SCRIPT}，滚"],
        ["XSS-1", "2026-11-02 09:00:40", "顾客", "shop_x", '"><svg onload=alert(2)>'],
    ]
    src = tmp_path / "xss.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    run = run_cli("score", src, "-q", "--no-model", outdir=tmp_path / "out")
    assert run.exit_code == 0, run.stderr

    driver = browser
    driver.get((tmp_path / "out" / "report.html").resolve().as_uri())
    _no_alert(driver)
    assert driver.execute_script("return window.__alerts") == []
    for details in driver.find_elements(By.CSS_SELECTOR, "details.conv"):
        driver.execute_script("arguments[0].open = true", details)
    _no_alert(driver)
    assert driver.execute_script("return window.__alerts") == []
    # the markup is text on the page, never elements
    assert driver.execute_script("return document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    assert driver.execute_script("return document.querySelectorAll('[onerror], [onload]').length") == 0
    assert driver.execute_script("return document.querySelectorAll('svg:not(.chart)').length") == 0
    text = driver.find_element(By.ID, "drill").text
    assert SCRIPT in text and IMG in text and "13812345678" not in text and "138****5678" in text
    assert _console_errors(driver) == []
