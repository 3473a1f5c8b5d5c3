"""Keeping and ordering conversations: pins, the archive and folders (chatsite/chat/keeping.py),
through the JSON endpoints and the page that lists them, then in a real browser."""

from __future__ import annotations

import json
import unicodedata
import uuid
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from playwright.sync_api import Page, expect

from chatsite.chat import keeping
from chatsite.chat.models import Conversation, Folder
from tests.browser import new_context
from tests.conftest import logged_in_client

# ---------------------------------------------------------------------------------------------
# What the page lists, as a reader sees it
# ---------------------------------------------------------------------------------------------


class _SidebarParser(HTMLParser):
    """The titles in each list of the sidebar: "pinned", "rest", and each folder by name."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: dict[str, list[str]] = {}
        self.folders: list[str] = []
        self.current: str | None = None
        self.capture: str | None = None  # "title" or "folder"
        self.in_template = 0

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        if tag == "ul" and attrs.get("data-list"):
            kind = attrs["data-list"]
            self.current = self.folders[-1] if kind == "folder" else kind
            self.lists.setdefault(self.current, [])
        elif tag == "span" and "folder-name" in classes:
            self.capture = "folder"
            self.folders.append("")
        elif tag == "span" and "conversation-title" in classes and self.current:
            self.capture = "title"
            self.lists[self.current].append("")

    def handle_endtag(self, tag) -> None:
        if tag == "template":
            self.in_template -= 1
        elif tag == "ul":
            self.current = None
        elif tag == "span":
            self.capture = None

    def handle_data(self, data) -> None:
        if self.capture == "title":
            self.lists[self.current][-1] += data.strip()
        elif self.capture == "folder":
            self.folders[-1] += data.strip()


def sidebar(client: Client) -> dict[str, list[str]]:
    response = client.get("/")
    assert response.status_code == 200
    parser = _SidebarParser()
    parser.feed(response.content.decode())
    return parser.lists


def post(client: Client, url: str, body: object):
    return client.post(url, json.dumps(body), content_type="application/json")


def conversations(owner, *titles: str) -> list[Conversation]:
    """Conversations used in this order: the last one the most recently."""
    made = []
    for title in titles:
        made.append(Conversation.objects.create(owner=owner, title=title))
    return made


def pin(client, conversation, pinned=True):
    return post(client, f"/c/{conversation.code}/pin/", {"pinned": pinned})


def archive(client, conversation, archived=True):
    return post(client, f"/c/{conversation.code}/archive/", {"archived": archived})


def move(client, conversation, folder):
    return post(client, f"/c/{conversation.code}/folder/", {"folder": str(folder.code) if folder else None})


def new_folder(client, name):
    return post(client, "/folders/", {"name": name})


# ---------------------------------------------------------------------------------------------
# Pins
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pinned_conversations_come_first_the_latest_pin_on_top(alice):
    client = logged_in_client(alice)
    a, b, c = conversations(alice, "Alpha", "Beta", "Gamma")
    assert sidebar(client) == {"pinned": [], "rest": ["Gamma", "Beta", "Alpha"]}

    assert pin(client, a).json()["pinned"] is True
    pin(client, c)
    assert sidebar(client) == {"pinned": ["Gamma", "Alpha"], "rest": ["Beta"]}

    # Pinning again moves it to the top; unpinning puts it back in its place by recency.
    pin(client, a)
    assert sidebar(client)["pinned"] == ["Alpha", "Gamma"]
    answer = pin(client, c, False).json()
    assert answer["pinned"] is False and answer["pinned_at"] is None
    assert sidebar(client) == {"pinned": ["Alpha"], "rest": ["Gamma", "Beta"]}


@pytest.mark.django_db
def test_pinning_archiving_and_moving_do_not_count_as_using_a_conversation(alice):
    client = logged_in_client(alice)
    first, second = conversations(alice, "First", "Second")
    folder = Folder.objects.get(code=new_folder(client, "Kept").json()["id"])
    before = {c.pk: c.updated for c in Conversation.objects.all()}
    pin(client, first)
    pin(client, first, False)
    archive(client, first)
    archive(client, first, False)
    move(client, first, folder)
    move(client, first, None)
    assert {c.pk: c.updated for c in Conversation.objects.all()} == before
    assert sidebar(client)["rest"] == ["Second", "First"]


@pytest.mark.django_db
def test_pin_and_archive_take_only_true_or_false(alice):
    client = logged_in_client(alice)
    [conversation] = conversations(alice, "Plain")
    for body in [{"pinned": "yes"}, {"pinned": 1}, {}, "not an object"]:
        response = post(client, f"/c/{conversation.code}/pin/", body)
        assert response.status_code == 400
        assert response.json()["error"] == "“pinned” must be true or false."
    response = post(client, f"/c/{conversation.code}/archive/", {"archived": None})
    assert response.json()["error"] == "“archived” must be true or false."
    conversation.refresh_from_db()
    assert conversation.pinned_at is None and conversation.archived_at is None


# ---------------------------------------------------------------------------------------------
# The archive
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_archived_conversations_leave_the_list_and_are_listed_in_the_archived_view(alice):
    client = logged_in_client(alice)
    a, b, c = conversations(alice, "Alpha", "Beta", "Gamma")
    pin(client, a)
    folder = Folder.objects.get(code=new_folder(client, "Trips").json()["id"])
    move(client, b, folder)

    assert archive(client, a).json()["archived"] is True
    archive(client, b)
    archive(client, c)
    assert sidebar(client) == {"pinned": [], "Trips": [], "rest": []}
    listed = client.get("/archived/").json()["conversations"]
    # The latest archived first, each with where it was kept.
    assert [(x["title"], x["pinned"], x["folder"]) for x in listed] == [
        ("Gamma", False, None),
        ("Beta", False, str(folder.code)),
        ("Alpha", True, None),
    ]
    # An archived conversation still opens.
    assert client.get(f"/c/{a.code}/").status_code == 200

    # Unarchived, each is back where it was.
    for conversation in (a, b, c):
        assert archive(client, conversation, False).json()["archived"] is False
    assert sidebar(client) == {"pinned": ["Alpha"], "Trips": ["Beta"], "rest": ["Gamma"]}
    assert client.get("/archived/").json() == {"conversations": []}


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_folders_are_made_renamed_and_deleted_and_their_conversations_kept(alice):
    client = logged_in_client(alice)
    a, b, c = conversations(alice, "Alpha", "Beta", "Gamma")
    made = new_folder(client, "Work")
    assert made.status_code == 201
    work = Folder.objects.get(code=made.json()["id"])
    assert made.json() == {"id": str(work.code), "name": "Work"}
    home = Folder.objects.get(code=new_folder(client, "Home").json()["id"])
    move(client, a, work)
    move(client, b, work)
    move(client, c, home)
    # Folders in the order they were made, each with its conversations by recency.
    assert sidebar(client) == {"pinned": [], "Work": ["Beta", "Alpha"], "Home": ["Gamma"], "rest": []}

    renamed = post(client, f"/folders/{work.code}/rename/", {"name": "  Office   work "})
    assert renamed.json() == {"id": str(work.code), "name": "Office work"}
    # Its own name in another case is no clash with itself.
    assert post(client, f"/folders/{work.code}/rename/", {"name": "OFFICE WORK"}).status_code == 200

    assert post(client, f"/folders/{work.code}/delete/", {}).json() == {"ok": True}
    assert not Folder.objects.filter(pk=work.pk).exists()
    assert Conversation.objects.filter(owner=alice).count() == 3
    assert sidebar(client) == {"pinned": [], "Home": ["Gamma"], "rest": ["Beta", "Alpha"]}


@pytest.mark.django_db
def test_moving_into_or_out_of_a_folder_files_it_there_and_unpins_it(alice):
    client = logged_in_client(alice)
    a, b = conversations(alice, "Alpha", "Beta")
    folder = Folder.objects.get(code=new_folder(client, "Reading").json()["id"])
    pin(client, a)
    pin(client, b)
    answer = move(client, a, folder).json()
    assert (answer["folder"], answer["pinned"]) == (str(folder.code), False)
    # A pinned conversation in a folder shows as pinned, and goes back to its folder unpinned.
    pin(client, a)
    assert sidebar(client) == {"pinned": ["Alpha", "Beta"], "Reading": [], "rest": []}
    pin(client, a, False)
    assert sidebar(client) == {"pinned": ["Beta"], "Reading": ["Alpha"], "rest": []}
    # Out of any folder (and off the pinned list): with the rest.
    move(client, a, None)
    move(client, b, None)
    assert sidebar(client) == {"pinned": [], "Reading": [], "rest": ["Beta", "Alpha"]}
    assert post(client, f"/c/{a.code}/folder/", {}).json()["error"] == "Say which folder to move it to."


@pytest.mark.django_db
def test_a_folder_lists_its_own_latest_conversations(alice, monkeypatch):
    monkeypatch.setattr(keeping, "LIST_CONVERSATIONS", 2)
    client = logged_in_client(alice)
    first = Folder.objects.get(code=new_folder(client, "First").json()["id"])
    second = Folder.objects.get(code=new_folder(client, "Second").json()["id"])
    for conversation in conversations(alice, "f1", "s1", "f2", "f3", "s2", "r1", "r2", "r3"):
        if conversation.title[0] in "fs":
            move(client, conversation, first if conversation.title[0] == "f" else second)
    assert sidebar(client) == {"pinned": [], "First": ["f3", "f2"], "Second": ["s2", "s1"], "rest": ["r3", "r2"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Work", "work"),
        ("Work", "ＷＯＲＫ"),  # full-width, as a Chinese or Japanese keyboard may type it
        ("Work", "Wo\u200brk"),  # a zero-width space
        ("Work", "  Work\t"),
        ("Café", "Cafe\u0301"),  # é composed, and e with a combining accent
        ("中文 项目", "中文  项目"),
        ("日本語", "日本語\ufe0f"),  # a variation selector
    ],
)
def test_two_folders_of_one_user_cannot_have_names_that_read_the_same(alice, bob, first, second):
    client = logged_in_client(alice)
    assert new_folder(client, first).status_code == 201
    refused = new_folder(client, second)
    assert refused.status_code == 400
    # The name as it would have been kept: spacing collapsed, accents composed.
    kept = unicodedata.normalize("NFC", " ".join(second.split()))
    assert refused.json()["error"] == f"You have a folder named “{kept}” already."
    assert Folder.objects.filter(owner=alice).count() == 1
    # Another user's folders are no clash.
    assert new_folder(logged_in_client(bob), second).status_code == 201


@pytest.mark.django_db
def test_chinese_and_japanese_folder_names_are_kept_and_shown(alice):
    client = logged_in_client(alice)
    [conversation] = conversations(alice, "京都への旅行")
    names = ["项目 中文", "繁體中文", "日本語のメモ"]
    folders = [Folder.objects.get(code=new_folder(client, name).json()["id"]) for name in names]
    move(client, conversation, folders[2])
    assert [f.name for f in Folder.objects.filter(owner=alice)] == names
    assert sidebar(client) == {
        "pinned": [],
        "项目 中文": [],
        "繁體中文": [],
        "日本語のメモ": ["京都への旅行"],
        "rest": [],
    }
    assert post(client, f"/folders/{folders[0].code}/rename/", {"name": "项目"}).json()["name"] == "项目"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "Give the folder a name."),
        ("   \n\t", "Give the folder a name."),
        (None, "Give the folder a name."),
        (42, "Give the folder a name."),
        (["Work"], "Give the folder a name."),
        ("\u200b\u200d\ufeff", "The folder name shows nothing: give it letters, digits or signs."),
        ("\u3164", "The folder name shows nothing: give it letters, digits or signs."),  # a Hangul filler
        ("a\x00b", "The text holds a control character (U+0000) that chatsite does not take."),
        ("bell\x07", "The text holds a control character (U+0007) that chatsite does not take."),
        ("\ud83d", "The text holds a broken character (half of a surrogate pair); type or paste it again."),
        ("report\u202etxt.exe", "The folder name holds a character that reorders text (U+202E); leave it out."),
        ("\u2066hidden\u2069", "The folder name holds a character that reorders text (U+2066); leave it out."),
        ("x" * 101, "A folder name has at most 100 characters."),
        ("中" * 101, "A folder name has at most 100 characters."),
        # Short, but NFKC makes each character eighteen: too long to compare and index.
        ("\ufdfa" * 30, "A folder name has at most 100 characters."),
    ],
)
def test_folder_names_that_cannot_be_kept_or_would_mislead_are_refused_with_the_reason(alice, name, error):
    client = logged_in_client(alice)
    # json.dumps writes a lone surrogate as its escape, as a browser's JSON.stringify does. The
    # request's text is checked before it is read as a name: its refusals speak of "the text".
    response = new_folder(client, name)
    assert response.status_code == 400
    assert response.json()["error"] == error
    existing = Folder.objects.create(owner=alice, name="Existing", name_key="existing")
    renamed = post(client, f"/folders/{existing.code}/rename/", {"name": name})
    assert renamed.json()["error"] == error
    assert [f.name for f in Folder.objects.filter(owner=alice)] == ["Existing"]


@pytest.mark.django_db
def test_folder_names_keep_what_a_reader_sees(alice):
    client = logged_in_client(alice)
    cases = {
        "Cafe\u0301": "Café",  # stored composed
        "  two   words ": "two words",
        "👨‍👩‍👧 family": "👨‍👩‍👧 family",  # the joiners of an emoji are kept in the name
        "שלום\u200f!": "שלום\u200f!",  # a right-to-left mark only nudges the "!"
        "中" * 100: "中" * 100,
    }
    for sent, kept in cases.items():
        assert new_folder(client, sent).json()["name"] == kept
    html = '<img src=x onerror="alert(1)">'
    assert new_folder(client, html).status_code == 201
    page = client.get("/").content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page and html not in page


@pytest.mark.django_db
def test_a_user_has_at_most_so_many_folders(alice, monkeypatch):
    monkeypatch.setattr(keeping, "MAX_FOLDERS", 2)
    client = logged_in_client(alice)
    assert new_folder(client, "One").status_code == 201
    assert new_folder(client, "Two").status_code == 201
    refused = new_folder(client, "Three")
    assert refused.json()["error"] == "You have 2 folders, the most there can be."
    assert Folder.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# Other users' things
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_users_conversations_and_folders_are_404_and_unchanged(alice, charlie):
    alices_client = logged_in_client(alice)
    [secret] = conversations(alice, "Alice's secret plan")
    folder = Folder.objects.get(code=new_folder(alices_client, "Alice's folder").json()["id"])
    move(alices_client, secret, folder)
    [own] = conversations(charlie, "Charlie's own")
    own_folder = Folder.objects.get(code=new_folder(logged_in_client(charlie), "Charlie's folder").json()["id"])
    snapshot = list(Conversation.objects.values_list("pk", "pinned_at", "archived_at", "folder_id", "updated"))

    client = logged_in_client(charlie)
    for code in [secret.code, uuid.uuid4()]:
        assert pin(client, Conversation(code=code)).status_code == 404
        assert archive(client, Conversation(code=code)).status_code == 404
        assert move(client, Conversation(code=code), own_folder).status_code == 404
        assert move(client, Conversation(code=code), None).status_code == 404
    # His own conversation into her folder, or a folder id that is not one.
    for folder_id in [str(folder.code), str(uuid.uuid4()), "not-a-uuid", 7, {"code": str(folder.code)}]:
        assert post(client, f"/c/{own.code}/folder/", {"folder": folder_id}).status_code == 404
    for code in [folder.code, uuid.uuid4()]:
        assert post(client, f"/folders/{code}/rename/", {"name": "Mine now"}).status_code == 404
        assert post(client, f"/folders/{code}/delete/", {}).status_code == 404

    assert list(Conversation.objects.values_list("pk", "pinned_at", "archived_at", "folder_id", "updated")) == snapshot
    assert Folder.objects.get(pk=folder.pk).name == "Alice's folder"
    archive(alices_client, secret)
    assert client.get("/archived/").json() == {"conversations": []}
    page = client.get("/").content.decode()
    assert "Alice" not in page


@pytest.mark.django_db
def test_a_conversation_goes_only_in_a_folder_of_its_owner(alice, charlie):
    """The last lines behind the views: the admin's form (Model.clean) and keeping.move."""
    [own] = conversations(charlie, "Charlie's")
    alices = Folder.objects.create(owner=alice, name="Alice's", name_key="alice's")
    own.folder = alices
    with pytest.raises(ValidationError, match="A conversation can only go in a folder of its owner."):
        own.full_clean()
    with pytest.raises(ValueError):
        keeping.move(Conversation.objects.get(pk=own.pk), alices)
    assert Conversation.objects.get(pk=own.pk).folder is None


@pytest.mark.django_db
def test_keeping_needs_a_post_with_the_csrf_token(alice):
    [conversation] = conversations(alice, "Plain")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    urls = [f"/c/{conversation.code}/pin/", f"/c/{conversation.code}/archive/", "/folders/"]
    for url in urls:
        assert client.get(url).status_code == 405
        assert post(client, url, {"pinned": True, "archived": True, "name": "x"}).status_code == 403
    assert logged_in_client(alice).post("/archived/").status_code == 405
    conversation.refresh_from_db()
    assert conversation.pinned_at is None and conversation.archived_at is None
    assert not Folder.objects.exists()


def test_keeping_needs_a_login(db):
    client = Client()
    for url in [f"/c/{uuid.uuid4()}/pin/", "/folders/", "/archived/"]:
        assert client.post(url, "{}", content_type="application/json").status_code == 302


# ---------------------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------------------


def seed(server, username: str, titles: list[str]) -> None:
    """Conversations with these titles, the last one the most recently used, in the server's database."""
    server._manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from chatsite.chat.models import Conversation\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"for title in {titles!r}:\n"
        "    Conversation.objects.create(owner=user, title=title)\n",
    )


def item(scope, title: str):
    return scope.locator(".conversation-item", has=scope.page.get_by_text(title, exact=True))


def titles(locator) -> list[str]:
    return [t.strip() for t in locator.locator(".conversation-title").all_text_contents()]


def choose(page: Page, title: str, action: str) -> None:
    """Open the conversation's ⋯ menu and choose an action in it."""
    item(page.locator("#sidebar"), title).locator(".menu-button").click()
    page.get_by_role("menuitem", name=action, exact=True).click()


def test_pinning_filing_dragging_and_archiving_in_the_sidebar_are_kept_across_a_reload(
    browser, chat_server, alice_state, up, watch
):
    tag = uuid.uuid4().hex[:6]
    kyoto, memo, budget, notes = f"京都 trip {tag}", f"日本語のメモ {tag}", f"Budget {tag}", f"Old notes {tag}"
    seed(chat_server, "alice", [notes, budget, memo, kyoto])
    folder_name = f"项目 中文 {tag}"
    context = new_context(browser, chat_server, alice_state)
    page = watch.attach(context.new_page())
    page.goto("/")
    sidebar_ = page.locator("#sidebar")
    pinned = page.locator(".kept-pinned .conversation-list")
    rest = page.locator("#conversation-list")
    expect(page.locator(".kept-pinned")).to_be_hidden()  # nothing pinned yet

    # Pin from the keyboard: the ⋯ button is reachable, Enter opens the menu on its first item.
    item(sidebar_, memo).locator(".menu-button").focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Pin", "Move to folder…", "Archive", "Rename", "Delete"])
    expect(menu.get_by_role("menuitem", name="Pin")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Move to folder…")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(item(sidebar_, memo).locator(".menu-button")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # Pin
    expect(pinned).to_contain_text(memo)
    assert titles(pinned) == [memo]
    expect(page.locator(".kept-pinned")).to_be_visible()

    # A folder, named in Chinese.
    page.get_by_role("button", name="New folder").click()
    dialog = page.locator("#folder-dialog")
    expect(dialog.get_by_role("heading")).to_have_text("New folder")
    dialog.get_by_label("Name").fill(folder_name)
    dialog.get_by_label("Name").press("Enter")
    expect(dialog).to_be_hidden()
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=folder_name))
    expect(folder).to_have_count(1)
    # An empty folder says what it is for (drawn by CSS, read by screen readers too).
    expect(folder.locator(".folder-conversations")).to_match_aria_snapshot("- list: Drag conversations here")
    # The same name again is refused in the dialog, which stays open with the reason.
    page.get_by_role("button", name="New folder").click()
    dialog.get_by_label("Name").fill(folder_name.upper())
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_have_text(f"You have a folder named “{folder_name.upper()}” already.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Drag one onto the folder; the menu moves another.
    item(rest, kyoto).drag_to(folder.locator(".folder-row"))
    expect(folder.locator(".folder-conversations")).to_contain_text(kyoto)
    choose(page, budget, "Move to folder…")
    move_dialog = page.locator("#move-dialog")
    expect(move_dialog.locator(".move-what")).to_have_text(budget)
    move_dialog.get_by_role("button", name=folder_name, exact=True).click()
    expect(move_dialog).to_be_hidden()
    expect(folder.locator(".folder-conversations .conversation-title")).to_have_text([kyoto, budget])

    # Dragged out of the folder, onto the chats, and back in.
    item(folder, budget).drag_to(page.locator("#chats-heading"))
    expect(rest).to_contain_text(budget)
    assert titles(folder.locator(".folder-conversations")) == [kyoto]
    item(rest, budget).drag_to(folder.locator(".folder-row"))
    expect(folder.locator(".folder-conversations .conversation-title")).to_have_text([kyoto, budget])

    # Archive one: out of the list, and in the Archived view.
    choose(page, notes, "Archive")
    expect(item(sidebar_, notes)).to_have_count(0)
    page.get_by_role("button", name="Archived", exact=True).click()
    archived = page.locator("#archived-dialog")
    expect(archived.locator(".archived-link").first).to_have_text(notes)
    archived.get_by_role("button", name="Close").click()

    # All of it kept.
    page.reload()
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=folder_name))
    assert titles(page.locator(".kept-pinned .conversation-list")) == [memo]
    expect(folder.locator(".folder-conversations .conversation-title")).to_have_text([kyoto, budget])
    expect(item(page.locator("#sidebar"), notes)).to_have_count(0)
    for title in (memo, kyoto, budget):
        expect(item(page.locator("#conversation-list"), title)).to_have_count(0)
    page.get_by_role("button", name="Archived", exact=True).click()
    archived = page.locator("#archived-dialog")
    row = archived.locator(".archived-item", has=page.get_by_text(notes, exact=True))
    expect(row).to_have_count(1)

    # Unarchived, it is back with the rest, there and after a reload.
    row.get_by_role("button", name="Unarchive").click()
    expect(row).to_have_count(0)
    archived.get_by_role("button", name="Close").click()
    expect(item(page.locator("#conversation-list"), notes)).to_have_count(1)
    # A collapsed folder stays collapsed.
    folder.locator(".folder-toggle").click()
    expect(folder.locator(".folder-conversations")).to_be_hidden()
    page.reload()
    expect(item(page.locator("#conversation-list"), notes)).to_have_count(1)
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=folder_name))
    expect(folder.locator(".folder-toggle")).to_have_attribute("aria-expanded", "false")
    expect(folder.locator(".folder-conversations")).to_be_hidden()

    # The server has it as the page shows it.
    rows = chat_server.query(
        "SELECT c.title, c.pinned_at IS NOT NULL, f.name, c.archived_at IS NOT NULL FROM chat_conversation c"
        " LEFT JOIN chat_folder f ON f.id = c.folder_id WHERE c.title LIKE ? ORDER BY c.title",
        (f"%{tag}",),
    )
    assert sorted(tuple(bool(v) if isinstance(v, int) else v for v in r) for r in rows) == sorted(
        [
            (kyoto, False, folder_name, False),
            (memo, True, None, False),
            (budget, False, folder_name, False),
            (notes, False, None, False),
        ]
    )
    assert watch.dialogs == []
    # Only the refused duplicate name, which Chromium logs as a failed request.
    assert watch.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    context.close()


def test_a_folder_is_renamed_and_deleted_from_its_menu_keeping_its_conversations(browser, chat_server, alice_state, up):
    tag = uuid.uuid4().hex[:6]
    inside = f"Inside {tag}"
    seed(chat_server, "alice", [inside])
    context = new_context(browser, chat_server, alice_state)
    page = context.new_page()
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    # A folder made from the Move dialog, and the conversation moved into it in one go.
    choose(page, inside, "Move to folder…")
    page.locator("#move-dialog").get_by_role("button", name="New folder…").click()
    page.locator("#folder-dialog").get_by_label("Name").fill(f"Drafts {tag}")
    page.locator("#folder-dialog").get_by_role("button", name="Save").click()
    expect(page.locator("#move-dialog")).to_be_hidden()
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=f"Drafts {tag}"))
    expect(folder.locator(".folder-conversations")).to_contain_text(inside)

    folder.get_by_role("button", name="Folder options").click()
    page.get_by_role("menuitem", name="Rename folder").click()
    name = page.locator("#folder-dialog").get_by_label("Name")
    expect(name).to_have_value(f"Drafts {tag}")
    name.fill(f"下書き {tag}")
    name.press("Enter")
    expect(folder).to_have_count(0)
    folder = page.locator(".folder", has=page.locator(".folder-name", has_text=f"下書き {tag}"))
    expect(folder).to_have_count(1)

    folder.get_by_role("button", name="Folder options").click()
    page.get_by_role("menuitem", name="Delete folder").click()
    expect(folder).to_have_count(0)
    assert asked == [f"Delete the folder “下書き {tag}”? Its conversations are kept, out of any folder."]
    expect(item(page.locator("#conversation-list"), inside)).to_have_count(1)
    page.reload()
    expect(page.locator(".folder-name", has_text=f"下書き {tag}")).to_have_count(0)
    expect(item(page.locator("#conversation-list"), inside)).to_have_count(1)
    assert errors == []
    context.close()
