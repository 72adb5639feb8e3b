"""mlchat's own look: the login page says what the app is, its logo, favicon and colours.

The screenshots this module takes (``artifacts/screenshots/look-*.png``) are the ones
in ``docs/`` and the README: the login page, the welcome, a finished training reply.
"""

from __future__ import annotations

import http.client

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ChainlitServer, log_in, screenshot

pytestmark = pytest.mark.e2e


def _get(server: ChainlitServer, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        conn.close()


def test_the_login_page_says_what_mlchat_is_and_asks_for_a_user_name(
    server: ChainlitServer, page: Page
) -> None:
    page.goto(server.url)
    expect(
        page.get_by_text("mlchat trains machine-learning models on the files you attach")
    ).to_be_visible()
    expect(page.get_by_text("User name", exact=True)).to_be_visible()
    expect(page.get_by_text("Email address")).to_have_count(0)
    expect(page).to_have_title("mlchat")
    screenshot(page, "look", "1-login")

    status, kind, favicon = _get(server, "/favicon")
    assert status == 200 and kind.startswith("image/svg") and b"#0d9488" in favicon
    for theme in ("light", "dark"):
        status, kind, logo = _get(server, f"/logo?theme={theme}")
        assert status == 200 and b">mlchat</text>" in logo
    teal = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--primary')")
    assert teal.strip() in ("175 84% 32%", "173 80% 40%")


def test_the_sample_starter_gives_a_first_result_in_one_click(
    server: ChainlitServer, page: Page
) -> None:
    log_in(page, server)
    page.get_by_text("Readme").click()
    expect(page.get_by_text("mlchat in two minutes")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_text("mlchat in two minutes")).to_be_hidden()
    screenshot(page, "look", "2-welcome")

    page.get_by_role("button", name="Train on a sample dataset").click()
    summary = page.locator("[data-step-type='assistant_message']").filter(has_text="Best:")
    expect(summary.last).to_contain_text("What that means", timeout=180_000)
    summary.last.evaluate("element => element.scrollIntoView({block: 'start'})")
    screenshot(page, "look", "3-trained")
