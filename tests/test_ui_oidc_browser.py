"""Single sign-on in a real headless Chromium against a real uvicorn and the loopback OpenID provider: the person
clicks "Sign in with …" on the sign-in page, the provider signs them in, and they land in the library signed in,
their name (in Japanese and Arabic, with an emoji) in the header; signing out goes through the provider and back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from config.settings import OidcProvider, Settings
from repo import schema
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis as private_redis_server
from tests.oidc_provider import OidcTestProvider
from tests.test_ui_browser import css, page_is_clean
from web import oidc_client

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

NAME = "山田 هالة 🎙️"


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis_server() as url:
        yield url


def test_the_button_on_the_sign_in_page_signs_in_through_the_provider(
    fresh_url: str, redis_url: str, tmp_path: Path
) -> None:
    oidc_client.clear_cache()
    with OidcTestProvider() as op:
        op.user = {"sub": "b-1", "email": "browser@example.org", "email_verified": True, "name": NAME}
        provider = OidcProvider.model_validate(op.settings_entry("corp", "Corp ID 社内"))
        settings = Settings(
            database_url=schema.to_url(fresh_url),
            redis_url=redis_url,
            opentr_home=tmp_path / "home",
            opentr_oidc_providers=[provider],
        )
        with serve_app(settings) as served, chromium() as driver:
            base = served.url
            op.allow_post_logout_redirect(f"{base}/signin")
            driver.get(f"{base}/signin")
            page_is_clean(driver, "sign-in")
            driver.find_element(By.LINK_TEXT, "Sign in with Corp ID 社内").click()
            wait(driver, lambda d: d.current_url == f"{base}/", what="the library after signing in")
            assert NAME in css(driver, "form.signout").text
            page_is_clean(driver, "library")
            css(driver, "form.signout button").click()
            wait(driver, lambda d: d.current_url == f"{base}/signin", what="the sign-in page after signing out")
            assert [entry["claims"]["sub"] for entry in op.ended] == ["b-1"]
    oidc_client.clear_cache()
