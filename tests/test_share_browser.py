"""Export, import and shared links in a real browser (Debian's Chromium), against the app started
as the README says, on a server of this module's own: alice and bob are team Research, charlie
is team Sales."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import new_context
from tests.samples import png_bytes
from tests.server import PASSWORDS, ChatServer
from tests.upstream import Upstream

FIXTURE = Path(__file__).parent / "fixtures" / "chatgpt-conversations.json"
CHARLIE = "charlie-password-123"
USERS = {**PASSWORDS, "charlie": CHARLIE}


@pytest.fixture(scope="module")
def server():
    upstream = Upstream().start()
    chat = ChatServer(upstream.base_url, upstream)
    try:
        chat.start()
        chat._manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Group;"
            "from chatsite.teams.models import Team; U = get_user_model();"
            f"c = U.objects.create_user('charlie', password={CHARLIE!r});"
            "r = Group.objects.create(name='Research'); Team.objects.create(group=r);"
            "r.user_set.add(*U.objects.filter(username__in=['alice', 'bob']));"
            "s = Group.objects.create(name='Sales'); Team.objects.create(group=s); s.user_set.add(c)",
        )
        yield chat
    finally:
        chat.stop()
        upstream.stop()


@pytest.fixture(scope="module")
def states(browser, server) -> dict:
    """Each user's logged-in cookies, logged in through the login form."""
    found = {}
    for name, password in USERS.items():
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", name)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/$"))
        found[name] = context.storage_state()
        context.close()
    return found


@pytest.fixture
def pages(browser, server, states, watch):
    """pages(name) → a page of that user's own (its own context), watched for dialogs and errors."""
    contexts = []

    def open_as(name: str) -> Page:
        context = new_context(browser, server, states[name], accept_downloads=True)
        contexts.append(context)
        return watch.attach(context.new_page())

    yield open_as
    for context in contexts:
        context.close()


def chatgpt_zip(folder: Path) -> Path:
    """ChatGPT's export as it comes: conversations.json, the image the user sent, and the rest."""
    path = folder / "chatgpt-export.zip"
    with zipfile.ZipFile(path, "w") as export:
        export.writestr("conversations.json", FIXTURE.read_bytes())
        export.writestr("file-Q2w3E4r5T6y7U8i9-sketch.png", png_bytes(size=(32, 24)))
        export.writestr("chat.html", "<html><body><script>var jsonData = [];</script></body></html>")
        export.writestr("user.json", '{"id": "user-123", "email": "alice@example.com"}')
    return path


def import_file(page: Page, path: Path) -> None:
    page.goto("/data/")
    page.set_input_files("#import-file", str(path))
    page.click("#import-button")
    expect(page.locator("#import-report")).to_be_visible(timeout=20_000)


def assert_inert(page: Page, watch) -> None:
    """Nothing active was ever in a message (the instrumentation in tests/browser.py), no script ran."""
    assert page.evaluate("window.__unsafe") == []
    assert page.evaluate("window.__pwned") is None
    assert watch.dialogs == [] and watch.console_errors == []
    assert page.evaluate("window.__csp") == []


def open_conversation(page: Page, title: str) -> None:
    page.goto("/")
    page.get_by_role("link", name=title).click()
    expect(page.locator("#conversation-title")).to_have_text(title)


@pytest.fixture(scope="module")
def imported(browser, server, states, tmp_path_factory) -> dict:
    """Alice's ChatGPT export, imported through the page once for the module: the report it showed."""
    context = new_context(browser, server, states["alice"])
    page = context.new_page()
    import_file(page, chatgpt_zip(tmp_path_factory.mktemp("chatgpt")))
    report = page.locator("#import-report")
    found = {
        "imported": report.locator(".import-imported > li > a").all_text_contents(),
        "skipped": report.locator(".import-skipped").text_content(),
        "text": report.text_content(),
        "url": report.get_by_role("link", name="二分探索の説明").get_attribute("href"),
    }
    context.close()
    return found


def test_a_chatgpt_export_comes_in_and_its_markup_shows_as_text(imported, pages, watch):
    assert imported["imported"] == ["二分探索の説明", "Plot a sine wave", "简体中文的问候"]
    assert "New chat: it has no messages." in imported["skipped"]
    assert "3 messages on other branches (earlier edits or regenerations) were left out." in imported["text"]
    alice = pages("alice")
    alice.goto(imported["url"])
    expect(alice.locator("#conversation-title")).to_have_text("二分探索の説明")
    question = alice.locator('article[data-role="user"] .message-body')
    expect(question).to_have_text(
        "二分探索を Python で説明して。<script>alert('x')</script> と <img src=x onerror=alert(1)> は文字のまま見せてね"
    )
    answer = alice.locator('article[data-role="assistant"]')
    expect(answer.locator(".message-body strong")).to_have_text("ソート済み")
    expect(answer.locator(".message-body pre code")).to_contain_text("def search(a, x):")
    expect(answer.locator(".message-body")).to_contain_text("<img src=x onerror=alert(2)> もただの文字です。")
    expect(answer.locator("details.thinking .thinking-body")).to_contain_text("二分探索の要点を整理")
    expect(answer.locator(".meta-model")).to_have_text("o3")
    assert_inert(alice, watch)

    open_conversation(alice, "Plot a sine wave")
    thumb = alice.locator("img.attachment-thumb")
    expect(thumb).to_have_attribute("alt", "sketch.png")
    alice.wait_for_function("() => document.querySelector('img.attachment-thumb').naturalWidth === 32")
    expect(alice.locator("details.tool-call .tool-call-name")).to_have_text("python")


def test_export_then_import_round_trip_in_the_browser(imported, pages, watch, tmp_path):
    alice = pages("alice")
    open_conversation(alice, "二分探索の説明")
    alice.click("#share-button")
    with alice.expect_download() as markdown:
        alice.click("#export-markdown")
    assert markdown.value.suggested_filename == "二分探索の説明.md"
    text = Path(markdown.value.path()).read_text()
    assert text.startswith("# 二分探索の説明\n") and "## Assistant (o3)" in text
    with alice.expect_download() as exported:
        alice.click("#export-json")
    assert exported.value.suggested_filename == "二分探索の説明.json"
    document = json.loads(Path(exported.value.path()).read_text())
    assert document["format"] == "chatsite-conversation" and len(document["messages"]) == 2

    alice.goto("/data/")
    with alice.expect_download() as everything:
        alice.click("#export-all")
    archive_path = tmp_path / everything.value.suggested_filename
    everything.value.save_as(archive_path)
    assert re.fullmatch(r"chatsite alice \d{4}-\d\d-\d\d\.zip", archive_path.name)
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        assert "manifest.json" in names and any(n.startswith("attachments/") and n.endswith(".png") for n in names)

    # Bob takes alice's archive in (as when moving to another site): every conversation and the image.
    bob = pages("bob")
    import_file(bob, archive_path)
    expect(bob.locator("#import-report .import-imported > li")).to_have_count(3)
    open_conversation(bob, "Plot a sine wave")
    bob.wait_for_function("() => document.querySelector('img.attachment-thumb')?.naturalWidth === 32")
    # The lone JSON of one of them is then already here.
    json_path = tmp_path / "one.json"
    exported.value.save_as(json_path)
    import_file(bob, json_path)
    expect(bob.locator("#import-report .import-skipped")).to_contain_text(
        "it was imported before (as “二分探索の説明”)."
    )
    assert_inert(bob, watch)


def test_a_hostile_file_is_refused_in_the_page_and_changes_nothing(pages, server, tmp_path):
    alice = pages("alice")
    before = server.query("SELECT count(*) FROM chat_conversation")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr("../../outside.json", "[]")
    alice.goto("/data/")
    alice.set_input_files("#import-file", str(evil))
    alice.click("#import-button")
    expect(alice.locator("#import-error")).to_have_text(
        "The zip file names a file outside itself (../../outside.json), so it is not taken."
    )
    assert server.query("SELECT count(*) FROM chat_conversation") == before


def test_a_shared_link_is_seen_by_a_teammate_refused_outside_and_revoked(imported, pages, watch):
    alice = pages("alice")
    open_conversation(alice, "Plot a sine wave")
    alice.click("#share-button")
    dialog = alice.locator("#share-dialog")
    expect(dialog.locator(".share-audience")).to_have_text(
        "A link shows this conversation, read only, to the people in your teams: Research."
    )
    alice.click("#share-create")
    link = alice.locator("#share-url")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}/$"))
    url = link.input_value()
    alice.click("#share-copy")
    expect(dialog.locator(".share-status")).to_have_text(re.compile("Link copied.|Could not copy"))
    expect(dialog.locator(".share-when")).to_contain_text("with its 2 messages then")

    bob = pages("bob")
    bob.goto(url)
    expect(bob.locator("#shared-title")).to_have_text("Plot a sine wave")
    expect(bob.locator(".shared-byline")).to_contain_text("Shared by alice on")
    expect(bob.locator("#messages article")).to_have_count(2)
    expect(bob.locator(".message-actions")).to_have_count(0)
    expect(bob.locator("details.tool-call .tool-call-name")).to_have_text("python")
    bob.wait_for_function("() => document.querySelector('img.attachment-thumb')?.naturalWidth === 32")
    assert_inert(bob, watch)

    charlie = pages("charlie")
    charlie.goto(url)
    expect(charlie.locator(".share-unavailable")).to_have_text(
        "This conversation was shared with a team you are not in, so you cannot read it."
    )
    expect(charlie.locator("#messages")).to_have_count(0)

    bob.click("#continue-copy")
    expect(bob).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(bob.locator("#conversation-title")).to_have_text("Plot a sine wave")
    expect(bob.locator('article[data-role="assistant"] .message-body')).to_contain_text("it crosses zero at π")
    expect(bob.locator(".conversation-item.is-current")).to_contain_text("Plot a sine wave")

    dialog.locator("#share-revoke").click()
    expect(dialog.locator(".share-status")).to_have_text("The link is revoked: it shows nothing any more.")
    expect(dialog.locator("#share-create")).to_have_text("Create link")
    bob.goto(url)
    expect(bob.locator(".share-unavailable")).to_have_text("This link was revoked by the person who shared it.")


def test_the_share_dialog_of_a_new_chat_says_to_send_first(pages):
    alice = pages("alice")
    alice.goto("/")
    alice.click("#share-button")
    expect(alice.locator("#share-dialog .share-none")).to_be_visible()
    expect(alice.locator("#share-create")).to_be_hidden()
