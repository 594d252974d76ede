"""The PoolPanel in a real browser: headless Chromium, the toolbar open on the panel.

The site (tests/toolbar_site) runs in its own process on the live servers;
Chromium loads its page, the toolbar's JavaScript fetches the panel when it
is clicked, and the test reads the cells the developer would read. A
screenshot of the open panel is saved under ``.cache/artefacts/`` (or
``$MULTIPOOL_ARTEFACTS``) and its path printed.

Chromium and chromedriver come from Debian (``apt-get install chromium
chromium-driver``; scripts/test installs them). Without them the test is
skipped on a developer's machine, and fails in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..toolbar_site.running import ROOT, expected_cells, running_site, site_databases

pytestmark = [pytest.mark.vendor, pytest.mark.slow]

SCREENSHOT = "debug-toolbar-pool-panel.png"


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}; CI must run the browser test (scripts/test installs it)")
    pytest.skip(f"{why}: apt-get install chromium chromium-driver, and the 'test' group")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        _unavailable("Chromium or chromedriver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    # The driver Debian ships with its Chromium: Selenium Manager, which
    # would download one, is never asked.
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(chromedriver))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def artefacts() -> Path:
    where = Path(os.environ.get("MULTIPOOL_ARTEFACTS") or ROOT / ".cache" / "artefacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_the_pool_panel_shows_each_alias_in_chromium(browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    databases = site_databases()
    wait = WebDriverWait(browser, 30)
    with running_site(databases) as url:
        browser.get(url + "/")
        # The toolbar renders inside a shadow root (USE_SHADOW_DOM, its default).
        root = wait.until(lambda d: d.find_element(By.ID, "djDebugRoot").shadow_root)
        button = wait.until(
            lambda d: _visible(root.find_element(By.CSS_SELECTOR, "#djdt-PoolPanel a.PoolPanel"))
        )
        assert "Pools" in button.text and "checkout" in button.text  # nav title, subtitle
        button.click()
        panel = root.find_element(By.ID, "PoolPanel")
        wait.until(lambda d: panel.find_elements(By.CSS_SELECTOR, "table.djdt-multipool"))
        wait.until(lambda d: panel.is_displayed())
        assert panel.find_element(By.CSS_SELECTOR, "h3").text == "Connection pools"

        cells = {
            (
                td.find_element(By.XPATH, "./ancestor::table").get_attribute("data-alias"),
                td.get_attribute("data-field"),
            ): td.text.strip()
            for td in panel.find_elements(By.CSS_SELECTOR, "td[data-field]")
        }
        path = artefacts() / SCREENSHOT
        assert browser.save_screenshot(str(path))
        print(f"\nscreenshot of the PoolPanel: {path}")
        assert wait.until(expected_conditions.title_is("Pools"))

    assert {alias for alias, _ in cells} == set(databases)
    for alias, entry in databases.items():
        pool = entry["OPTIONS"]["pool"]
        for field, text in expected_cells(pool["release"]).items():
            assert cells[(alias, field)].startswith(text), (alias, field, cells)
        assert cells[(alias, "limits")] == f"1 / {pool['max_size']}"
        assert int(cells[(alias, "checkouts")]) >= 1
        assert cells[(alias, "in_use")] == ("1" if pool["release"] == "request" else "0")
    assert path.stat().st_size > 10_000  # a page, not an empty image


def _visible(element: Any) -> Any:
    return element if element.is_displayed() else False
