"""The interface in each language, in Chromium against the server the README starts: the
language switched in the top bar and remembered on the account, the chat, its settings, an
error from the provider, the profile and the admin in it; typing with an IME; CJK in titles
and export file names."""

from __future__ import annotations

import gettext as gnu_gettext
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from tests.browser import new_context
from tests.test_browser import last_answer, open_chat, send, wait_status

LOCALE = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = {"zh-hans": "zh_Hans", "zh-hant": "zh_Hant", "ja": "ja"}
PASSWORD = "i18n-password-123"


def py(language: str, text: str) -> str:
    """What the server says for text in language (locale/<lang>/LC_MESSAGES/django.mo)."""
    with translation.override(language):
        return translation.gettext(text)


def js(language: str, text: str) -> str:
    """What the page's scripts say for text in language (djangojs.mo)."""
    catalog = gnu_gettext.translation("djangojs", localedir=LOCALE, languages=[LANGUAGES[language]])
    return catalog.gettext(text)


@pytest.fixture(scope="module")
def people(chat_server) -> dict[str, str]:
    """One superuser per language (so that no other browser test meets a changed language)."""
    names = {language: f"i18n_{language.replace('-', '_')}" for language in LANGUAGES}
    names["ime"] = "i18n_ime"
    made = "; ".join(f"U.objects.create_superuser({name!r}, password={PASSWORD!r})" for name in names.values())
    chat_server._manage("shell", "-c", f"from django.contrib.auth import get_user_model; U = get_user_model(); {made}")
    return names


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))


def switch_language(page: Page, language: str) -> None:
    """The top bar's switch: picking a language posts the form, and the page comes back in it."""
    page.select_option("#language-select", language)
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_each_language_shows_the_chat_settings_errors_profile_and_admin_and_is_remembered(
    browser, chat_server, people, language
):
    username = people[language]
    up = chat_server.upstream
    context = new_context(browser, chat_server, None)
    page = context.new_page()
    try:
        sign_in(page, username)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        switch_language(page, language)

        # The chat page.
        expect(page.locator("a.new-chat")).to_have_text(py(language, "New chat"))
        expect(page.locator("#composer-input")).to_have_attribute("placeholder", py(language, "Message"))
        expect(page.locator("#send-button")).to_have_text(py(language, "Send"))
        expect(page.locator("#empty-state")).to_have_text(py(language, "Ask anything to start a conversation."))

        # The settings panel.
        page.click("#settings-button")
        expect(page.locator("#settings-heading")).to_have_text(py(language, "Conversation settings"))
        expect(page.locator("#settings-dialog .settings-save")).to_have_text(py(language, "Save"))
        page.click("#settings-dialog .settings-cancel")

        # An error from the provider (a 401 from the loopback upstream), said in the answer.
        open_chat(page)
        up.script(status=401)
        send(page, "こんにちは、世界")
        wait_status(page, "error")
        status = last_answer(page).locator(".meta-status")
        expect(status).to_contain_text(py(language, "The provider rejected the API key"))
        expect(status).to_contain_text(js(language, "Error: %(error)s").split("%(error)s")[0].strip())
        expect(page.locator('article[data-role="user"] .message-body')).to_have_text("こんにちは、世界")

        # The profile: the switch saved the choice on the account.
        page.goto("/accounts/profile/")
        expect(page.locator("main h1")).to_have_text(py(language, "Your profile"))
        expect(page.locator("#id_language")).to_have_value(language)

        # The admin, in Django's own translation.
        page.goto("/admin/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("#content h1")).to_have_text(py(language, "Site administration"))
        assert py(language, "Site administration") != "Site administration"

        # Signed out, the login page still speaks it (the cookie).
        page.goto("/")
        page.click(".topbar-user button[type=submit]")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))
        expect(page.locator("main h1")).to_have_text(py(language, "Log in"))
    finally:
        context.close()

    # Another browser, with neither cookie nor choice: English until signing in, then the account's.
    context = new_context(browser, chat_server, None)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        sign_in(page, username)
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("a.new-chat")).to_have_text(py(language, "New chat"))
    finally:
        context.close()


def test_a_visitor_switches_the_login_page_and_the_browser_keeps_it(browser, chat_server):
    context = new_context(browser, chat_server, None, locale="ja-JP")
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "ja")  # Accept-Language: ja-JP
        expect(page.locator("main h1")).to_have_text(py("ja", "Log in"))
        switch_language(page, "zh-hant")
        expect(page.locator("main h1")).to_have_text(py("zh-hant", "Log in"))
        expect(page.locator("#language-select")).to_have_value("zh-hant")
        page.goto("/accounts/password/reset/")
        expect(page.locator("main h1")).to_have_text(py("zh-hant", "Reset your password"))
    finally:
        context.close()


def test_enter_while_an_ime_composes_does_not_send_and_enter_after_it_does(browser, chat_server, people):
    up = chat_server.upstream
    context = new_context(browser, chat_server, None)
    page = context.new_page()
    try:
        sign_in(page, people["ime"])
        open_chat(page)
        up.script(tokens=["はい。"])
        box = page.locator("#composer-input")
        box.click()
        cdp = context.new_cdp_session(page)
        # A real composition (compositionstart/update), as an IME makes one.
        cdp.send("Input.imeSetComposition", {"text": "にほんご", "selectionStart": 4, "selectionEnd": 4})
        # The Enter that confirms it: Chromium's keydown says isComposing and keyCode 229.
        page.evaluate(
            """() => document.getElementById('composer-input').dispatchEvent(new KeyboardEvent('keydown',
                 { key: 'Enter', code: 'Enter', keyCode: 229, isComposing: true, bubbles: true, cancelable: true }))"""
        )
        cdp.send("Input.insertText", {"text": "日本語"})  # the composition is committed: compositionend
        # Safari's order: compositionend first, then a keydown with keyCode 229.
        page.evaluate(
            """() => document.getElementById('composer-input').dispatchEvent(new KeyboardEvent('keydown',
                 { key: 'Enter', code: 'Enter', keyCode: 229, bubbles: true, cancelable: true }))"""
        )
        expect(box).to_have_value("日本語")
        assert page.locator('article[data-role="user"]').count() == 0
        box.type("の入力")
        box.press("Enter")  # after the composition: sends
        wait_status(page, "complete")
        expect(page.locator('article[data-role="user"] .message-body')).to_have_text(["日本語の入力"])
        expect(box).to_have_value("")
    finally:
        context.close()


def test_cjk_titles_show_everywhere_and_name_the_exported_files(browser, chat_server, people):
    up = chat_server.upstream
    context = new_context(browser, chat_server, None, accept_downloads=True)
    page = context.new_page()
    try:
        sign_in(page, people["ime"])
        open_chat(page)
        up.script(tokens=["好的。"])
        send(page, "会议记录")
        wait_status(page, "complete")
        expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
        code = re.search(r"/c/([0-9a-f-]{36})/", page.url).group(1)
        title = "會議記錄・議事録 2026"
        page.once("dialog", lambda dialog: dialog.accept(title))
        item = page.locator(f'.conversation-item[data-conversation-id="{code}"]')
        item.locator(".conversation-actions button").click()
        page.get_by_role("menuitem", name="Rename", exact=True).click()
        expect(item.locator(".conversation-title")).to_have_text(title)
        page.reload()
        expect(page.locator("#conversation-title")).to_have_text(title)
        expect(page).to_have_title(f"{title} · chatsite")

        for extension in ("md", "json"):
            response = page.request.get(f"/c/{code}/export.{extension}")
            assert response.ok
            disposition = response.headers["content-disposition"]
            assert f"filename*=UTF-8''{quote(f'{title}.{extension}', safe='')}" in disposition, disposition
            assert disposition.encode("latin-1")  # the header itself stays ASCII
        page.click("#share-button")
        with page.expect_download() as download:
            page.click("#export-markdown")
        assert download.value.suggested_filename == f"{title}.md"
        assert title in Path(download.value.path()).read_text()
    finally:
        context.close()
