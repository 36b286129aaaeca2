"""Two factors in a real headless Chromium against a real uvicorn: a person sets them up on the settings page (QR
code and key, a code of their app, the recovery codes shown once), signs out, and signs in again in two steps — the
password, then a code (a wrong one first) — and lists their sessions; no console error, no serious accessibility
violation on any of these pages.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from config.settings import Settings
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app
from tests.test_two_factor import code
from tests.test_ui_browser import PASSWORD, css, page_is_clean, register, submit

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)


def test_setting_up_two_factors_and_signing_in_with_them(app_settings: Settings) -> None:
    with serve_app(app_settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        driver.get(f"{base}/settings")
        assert "Off" in css(driver, "#two-factor").text
        css(driver, "#two-factor a[href='/settings/two-factor']").click()
        submit(driver, "form[action='/settings/two-factor/start']")
        secret = wait(driver, lambda d: d.find_elements(By.ID, "totp-secret"), what="the new key")[0].text
        assert css(driver, "img[alt^='QR code']").get_attribute("src").startswith("data:image/svg+xml")
        page_is_clean(driver, "two factors (setting up)")
        css(driver, "#confirm-otp").send_keys(code(secret, -1))
        submit(driver, "form[action='/settings/two-factor/confirm']")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.codes li"), what="the recovery codes")
        assert len(driver.find_elements(By.CSS_SELECTOR, "ol.codes li")) == 10
        page_is_clean(driver, "recovery codes")
        css(driver, "#recovery-codes a.button").click()
        wait(driver, lambda d: "Recovery codes left: 10" in css(d, "#two-factor").text, what="the settings")

        submit(driver, "form.signout")
        wait(driver, lambda d: d.current_url.startswith(f"{base}/signin"), what="the sign-in page")
        css(driver, "#email").send_keys("robin@example.com")
        css(driver, "#password").send_keys(PASSWORD)
        submit(driver, "main form")
        wait(driver, lambda d: d.find_elements(By.ID, "otp"), what="the code form")
        page_is_clean(driver, "sign-in, second step")
        css(driver, "#otp").send_keys("000000")
        submit(driver, "main form")
        wait(driver, lambda d: "Wrong code." in css(d, "main").text, what="the wrong code to be refused")
        css(driver, "#otp").send_keys(code(secret))
        submit(driver, "main form")
        wait(driver, lambda d: d.current_url == f"{base}/", what="the library after the second step")

        driver.get(f"{base}/settings#sessions")
        rows = driver.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
        assert len(rows) == 1 and "this one" in rows[0].text and "password" in rows[0].text
        page_is_clean(driver, "settings (two factors on, sessions)")
