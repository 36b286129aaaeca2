"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, for the browser tests.

No driver or browser is downloaded: Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium. The flags
keep Chromium off the network (on a closed network it otherwise hangs on background requests). Each page a test
opens can be checked for console errors and for axe-core accessibility violations (axe-core is vendored in
tests/vendor for the tests only and injected into the page), and photographed into the screenshot folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("OPENTR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OPENTR_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]
# A microphone without hardware or a permission prompt: Chromium's fake capture device (a beep tone, and a
# beep per second) is granted to every page; for the recording tests.
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
DESKTOP = (1280, 900)
PHONE = (390, 844)
TAKEN: list[Path] = []  # reported at the end of the run by tests/conftest.py
SCREENSHOTS = Path(os.environ.get("OPENTR_SCREENSHOT_DIR", Path(__file__).resolve().parent.parent / "screenshots"))


@contextlib.contextmanager
def chromium(extra_flags: tuple[str, ...] | list[str] = ()) -> Iterator[WebDriver]:
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to fetch anything
    with tempfile.TemporaryDirectory(prefix="opentr-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, *extra_flags, f"--user-data-dir={profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def wait(driver: WebDriver, condition: Any, timeout: float = 20, what: str = "") -> Any:
    """Until `condition` holds. A condition that reads an element of a page being replaced (a page that reloads by
    itself) meets a stale element or none: both mean "not yet", not a failure."""
    started = time.monotonic()
    not_yet = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=not_yet).until(condition, what)
    except TimeoutException:
        waited = time.monotonic() - started
        raise AssertionError(f"waited {waited:.1f} s for {what} on {driver.current_url}") from None


def console_errors(driver: WebDriver) -> list[str]:
    """SEVERE browser-log entries since the last call (reading the log empties it)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]  # selenium's own
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def serious_accessibility_violations(driver: WebDriver) -> list[str]:
    """axe-core's WCAG 2 A/AA rules on the current page; the serious and critical violations, one line each."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
           .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))))
           .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
        """
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(driver: WebDriver, name: str, size: tuple[int, int]) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(*size)
    driver.execute_script("window.scrollTo(0, 0)")
    path = SCREENSHOTS / f"{name}-{'phone' if size == PHONE else 'desktop'}.png"
    driver.save_screenshot(str(path))
    TAKEN.append(path)
    driver.set_window_size(*DESKTOP)
    return path


def element_screenshot(driver: WebDriver, selector: str, name: str) -> Path:
    """A picture of one part of the page (`selector`), for a person to look at; listed at the end of the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-desktop.png"
    driver.find_element("css selector", selector).screenshot(str(path))
    TAKEN.append(path)
    return path
