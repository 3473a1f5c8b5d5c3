"""The interface in English, 简体中文, 繁體中文 and 日本語: every shown text marked, every message
file whole, and the language chosen, remembered and followed (the pages, the websocket, the
admin, mails, dates and numbers). Browser tests: tests/test_i18n_browser.py."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from chatsite.accounts import locale as user_locale
from tests import i18n_scan
from tests.conftest import frames_until, logged_in_client, open_socket
from tests.mailbox import wait_for_mail

LOCALES = ["zh_Hans", "zh_Hant", "ja"]
DOMAINS = ["django", "djangojs"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|%%")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


# -- (a) every shown text is marked --------------------------------------------------------


def test_no_template_script_or_message_shows_unmarked_text():
    """Templates, static/*.js and static/js/*.js, and Python's messages, form labels, validation
    errors and the websocket's errors all go through gettext (tests/i18n_scan.py says how)."""
    found = i18n_scan.offenders()
    assert found == [], "Unmarked text shown to users:\n" + "\n".join(found)


def _scan_template(tmp_path, text: str) -> list[str]:
    path = i18n_scan.ROOT / "templates" / f"_scan_probe_{tmp_path.name}.html"
    path.write_text(text)
    try:
        return i18n_scan.template_offenders(path)
    finally:
        path.unlink()


def _scan_js(tmp_path, text: str) -> list[str]:
    path = i18n_scan.ROOT / "static" / f"_scan_probe_{tmp_path.name}.js"
    path.write_text(text)
    try:
        return i18n_scan.js_offenders(path)
    finally:
        path.unlink()


def test_the_scanner_finds_bare_text_in_templates_with_its_line(tmp_path):
    found = _scan_template(
        tmp_path,
        '{% load i18n %}\n<p>{% translate "Marked" %}</p>\n<p>Bare words</p>\n'
        '<button title="A bare title">{% translate "Go" %}</button>\n<input placeholder="{% translate "Fine" %}">\n'
        '<a href="/">chatsite</a> <span>×</span>\n<div data-done="Answer finished: {text}"></div>\n',
    )
    assert [entry.split(": ", 1)[1] for entry in found] == [
        "Bare words",
        "title=A bare title",
        "data-done=Answer finished: {text}",
    ]
    assert [entry.split(":")[1] for entry in found] == ["3", "4", "7"]


def test_the_scanner_finds_bare_text_in_scripts(tmp_path):
    found = _scan_js(
        tmp_path,
        "import { gettext } from './i18n.js';\n"
        "el.textContent = gettext('Marked');\n"
        "el.textContent = 'Bare';\n"
        "const note = `${model} does not take images`;\n"
        "if (e.key === 'Enter') go(document.querySelector('.Some-Class'));\n"
        "alert(gettext('%(n)s left', { n }));\n"
        "// A comment with Words in it.\n",
    )
    assert [entry.split(": ", 1)[1] for entry in found] == ["Bare", "does not take images"]


def test_the_scanner_finds_bare_python_messages(tmp_path):
    path = i18n_scan.ROOT / "chatsite" / f"_scan_probe_{tmp_path.name}.py"
    path.write_text(
        "from django import forms\nfrom django.contrib import messages\nfrom django.utils.translation import gettext\n"
        "def view(request):\n"
        "    messages.success(request, 'Saved.')\n"
        "    messages.success(request, gettext('Saved.'))\n"
        "    raise forms.ValidationError(f'{request} is wrong')\n"
        "class F(forms.Form):\n"
        "    name = forms.CharField(label='Name')\n"
        "async def on(self):\n"
        "    await self._error('Unknown frame type.')\n"
        "    await self._error(gettext('Unknown frame type.'))\n"
    )
    try:
        found = i18n_scan.python_offenders(path)
    finally:
        path.unlink()
    assert [entry.split(":")[1] for entry in found] == ["5", "7", "9", "11"]


# -- (b) the message files are whole ---------------------------------------------------------


def _entries(locale: str, domain: str) -> list[polib.POEntry]:
    path = Path(settings.BASE_DIR) / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"{path} is missing (manage.py makemessages)"
    return [entry for entry in polib.pofile(str(path)) if not entry.obsolete]


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_and_none_is_fuzzy(locale, domain):
    entries = _entries(locale, domain)
    assert entries
    untranslated = [e.msgid for e in entries if not e.translated() and "fuzzy" not in e.flags]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert untranslated == [], f"{len(untranslated)} untranslated in {locale}/{domain}.po"
    assert fuzzy == [], f"{len(fuzzy)} fuzzy in {locale}/{domain}.po"


def _marks(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text) + TAG.findall(text))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_the_placeholders_and_markup_of_their_message(locale, domain):
    wrong = []
    for entry in _entries(locale, domain):
        if entry.msgid_plural:
            pairs = [(entry.msgid_plural if n else entry.msgid, text) for n, text in entry.msgstr_plural.items()]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for source, text in pairs:
            # A plural's singular may leave out %(count)s ("one file"); nothing else may differ.
            expected = _marks(source)
            if text and _marks(text) != expected and sorted(set(_marks(text))) != sorted(set(expected)):
                wrong.append(f"{entry.msgid!r}: {text!r}")
    assert wrong == []


def test_the_message_files_compile_and_the_interface_speaks_each_language():
    """The compiled catalogues are the ones Django reads, and Traditional Chinese is its own
    translation, not Simplified's (Taiwan's words: 登入, 檔案, 設定)."""
    said = {}
    for language in ("zh-hans", "zh-hant", "ja"):
        with translation.override(language):
            said[language] = [translation.gettext(text) for text in ("Log in", "Attach files", "Conversation settings")]
    assert said["zh-hans"] == ["登录", "附加文件", "对话设置"]
    assert said["zh-hant"] == ["登入", "附加檔案", "對話設定"]
    assert said["ja"] == ["ログイン", "ファイルを添付", "会話の設定"]


# -- how the language is chosen -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [("zh-CN,zh;q=0.9", "zh-hans"), ("zh-TW", "zh-hant"), ("zh-HK,en;q=0.5", "zh-hant"), ("ja-JP", "ja"), ("fr", "en")],
)
@pytest.mark.django_db
def test_a_visitor_gets_the_login_page_in_the_browsers_language(header, language, alice):
    response = Client().get("/accounts/login/", headers={"accept-language": header})
    assert response.status_code == 200
    assert f'<html lang="{language}"' in response.content.decode()
    with translation.override(language):
        assert translation.gettext("Forgot your password?") in response.content.decode()


@pytest.mark.django_db
def test_the_switch_sets_the_cookie_for_a_visitor_and_the_profile_for_a_user(alice):
    visitor = Client()
    response = visitor.post("/accounts/language/", {"language": "ja", "next": "/accounts/login/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert visitor.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ja"
    assert '<html lang="ja"' in visitor.get("/accounts/login/").content.decode()

    client = logged_in_client(alice)
    client.post("/accounts/language/", {"language": "zh-hant", "next": "/"})
    alice.refresh_from_db()
    assert alice.language == "zh-hant"
    # Another browser, whose cookie and Accept-Language say otherwise, follows the user's choice.
    other = logged_in_client(alice)
    other.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    page = other.get("/accounts/profile/", headers={"accept-language": "ja"})
    assert '<html lang="zh-hant"' in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"  # and the cookie is put right


@pytest.mark.django_db
def test_the_switch_takes_only_a_language_of_the_site_and_a_local_next(alice):
    client = logged_in_client(alice)
    response = client.post("/accounts/language/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil.example")
    alice.refresh_from_db()
    assert alice.language == ""


@pytest.mark.django_db
def test_the_profile_chooses_the_language_and_time_zone_and_dates_follow_them(alice):
    client = logged_in_client(alice)
    response = client.post(
        "/accounts/profile/",
        {"first_name": "", "last_name": "", "email": "alice@example.com", "language": "ja", "time_zone": "Asia/Tokyo"},
    )
    assert response.status_code == 302
    page = client.get("/accounts/profile/").content.decode()
    assert '<html lang="ja" data-time-zone="Asia/Tokyo"' in page
    with translation.override("ja"):
        assert translation.gettext("Your profile is saved.") in page
        assert translation.gettext("What you used") in page


@pytest.mark.django_db
def test_the_admin_follows_the_users_language(admin_user):
    admin_user.language = "zh-hans"
    admin_user.save()
    page = logged_in_client(admin_user).get("/admin/").content.decode()
    assert '<html lang="zh-hans"' in page
    with translation.override("zh-hans"):
        assert translation.gettext("Site administration") in page  # Django's own translation
        assert translation.gettext("Site administration") != "Site administration"


@pytest.mark.django_db
def test_a_mail_goes_out_in_its_readers_language(alice, settings):
    from chatsite.accounts import mail as account_mail

    alice.language = "zh-hant"
    alice.save()
    with translation.override("ja"):  # the page that sends it speaks another language
        account_mail.send(
            "alice@example.com", "approved", {"user": alice, "login": "https://chat.example/"}, "approved"
        )
    [sent] = wait_for_mail(1)
    with translation.override("zh-hant"):
        assert sent.subject == translation.gettext("Your chatsite account is approved")
        assert translation.gettext("Hello %(username)s,") % {"username": "alice"} in sent.body
    assert sent.subject != "Your chatsite account is approved"


def test_the_websocket_language_comes_from_the_user_then_the_cookie_then_the_browser():
    class Someone:
        is_authenticated = True
        language = ""

    scope = {"user": Someone(), "headers": [(b"accept-language", b"zh-TW,zh;q=0.8")]}
    assert user_locale.for_scope(scope) == "zh-hant"
    scope["headers"].append((b"cookie", f"{settings.LANGUAGE_COOKIE_NAME}=ja; other=1".encode()))
    assert user_locale.for_scope(scope) == "ja"
    scope["user"].language = "zh-hans"
    assert user_locale.for_scope(scope) == "zh-hans"
    assert user_locale.for_scope({"headers": [(b"cookie", b"\xff bad")]}) == settings.LANGUAGE_CODE
    cased = {"headers": [(b"cookie", f"{settings.LANGUAGE_COOKIE_NAME}=zh-TW".encode())]}
    assert user_locale.for_scope(cased) == "zh-hant"


@pytest.mark.django_db(transaction=True)
async def test_the_sockets_errors_are_in_the_users_language(alice):
    alice.language = "ja"
    await alice.asave()
    communicator = await open_socket(alice)
    await communicator.send_json_to({"type": "nonsense"})
    await communicator.send_json_to({"type": "subscribe", "conversation": "00000000-0000-0000-0000-000000000000"})
    frames = await frames_until(communicator, lambda f: f.get("type") == "error" and "conversation" in f)
    await communicator.disconnect()
    errors = [f["error"] for f in frames if f["type"] == "error"]
    with translation.override("ja"):
        assert errors == [translation.gettext("Unknown frame type."), translation.gettext("Conversation not found.")]
    assert errors[0] != "Unknown frame type."
