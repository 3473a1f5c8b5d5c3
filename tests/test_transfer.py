"""Export (a conversation as Markdown and JSON, everything as a zip) and import (ChatGPT's data
export, chatsite's own JSON and archive), and files that are refused with nothing changed."""

import io
import json
import tracemalloc
import zipfile
import zoneinfo
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.transfer.archive import archive_chunks
from chatsite.transfer.models import ImportedConversation
from chatsite.transfer.names import content_disposition, safe_filename
from tests.conftest import logged_in_client
from tests.histories import PAYLOAD, conversation
from tests.samples import png_bytes

FIXTURES = Path(__file__).parent / "fixtures"
CHATGPT = FIXTURES / "chatgpt-conversations.json"
UTC = zoneinfo.ZoneInfo("UTC")


def download(client, url: str):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def import_(client, data: bytes, name: str):
    return client.post("/data/", {"file": SimpleUploadedFile(name, data)})


def archive_of(user) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(archive_chunks(user, UTC))))


def state(settings) -> tuple:
    """Everything an import could change: rows, and the files under MEDIA_ROOT."""
    files = sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    return (
        list(Conversation.objects.values_list("pk", "title")),
        Message.objects.count(),
        Attachment.objects.count(),
        ImportedConversation.objects.count(),
        files,
    )


def messages_of(chat: Conversation) -> list[tuple]:
    return [
        (m.role, m.text, m.reasoning, m.model_name, m.created, [a.original_name for a in m.attachments.all()])
        for m in chat.messages.order_by("pk")
    ]


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, expected",
    [
        ("二分探索の説明", "二分探索の説明.md"),
        ("简体中文 / 繁體中文: 日本語?", "简体中文 繁體中文 日本語.md"),
        ("../../etc/passwd", "etc passwd.md"),
        ("\u202etxt.exe", "txt.exe.md"),  # a right-to-left override would show it as "exe.txt"
        ("CON", "conversation CON.md"),
        ("   ", "conversation.md"),
        ("a\x00b\nc", "a b c.md"),
    ],
)
def test_file_names_keep_cjk_titles_and_drop_path_tricks(title, expected):
    assert safe_filename(title, "md") == expected


def test_a_long_cjk_title_is_cut_on_a_character_not_inside_one():
    name = safe_filename("漢" * 200, "md")
    assert name.endswith(".md") and len(name.encode()) <= 153 and set(name[:-3]) == {"漢"}


def test_the_download_header_names_the_file_for_old_and_new_browsers():
    header = content_disposition("2025 二分探索.md")
    assert header == f"attachment; filename=\"2025.md\"; filename*=UTF-8''{quote('2025 二分探索.md', safe='')}"
    assert content_disposition("日本語.json").startswith('attachment; filename="chatsite.json"; ')


# -- export ----------------------------------------------------------------------------------


def test_a_conversation_exports_as_markdown_named_after_its_cjk_title(alice):
    chat = conversation(alice)
    response, body = download(logged_in_client(alice), f"/c/{chat.code}/export.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert f"filename*=UTF-8''{quote('二分探索と日本語のテスト.md', safe='')}" in response["Content-Disposition"]
    text = body.decode()
    assert text.startswith("# 二分探索と日本語のテスト\n")
    assert "## You · 2025-03-14 09:26 UTC" in text
    assert "## Assistant (openai/gpt-4o) · 2025-03-14 09:27 UTC" in text
    assert "> The user wants a description; compute 2*3 first." in text
    # The tool call sits where the model made it, between the text before and after.
    assert text.index("図は赤い長方形です。") < text.index("`calculator`") < text.index("計算すると 6 です。")
    assert "*Attached:* 図.png (image/png)" in text and "*Attached:* メモ.txt (text/plain)" in text
    assert "> Answer in 日本語." in text  # the system prompt


def test_a_conversation_exports_as_chatsite_json_with_everything_stored(alice):
    chat = conversation(alice)
    response, body = download(logged_in_client(alice), f"/c/{chat.code}/export.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    document = json.loads(body)
    assert (document["format"], document["version"]) == ("chatsite-conversation", 1)
    assert document["conversation"]["title"] == "二分探索と日本語のテスト"
    assert document["conversation"]["system_prompt"] == "Answer in 日本語."
    question, answer = document["messages"][:2]
    assert (question["role"], question["created"]) == ("user", "2025-03-14T09:26:53+00:00")
    assert [(a["name"], a["kind"], a["content_type"]) for a in question["attachments"]] == [
        ("図.png", "image", "image/png"),
        ("メモ.txt", "text", "text/plain"),
    ]
    assert (answer["role"], answer["model"], answer["provider"]) == ("assistant", "openai/gpt-4o", "OfoxAI")
    assert answer["reasoning"] == "The user wants a description; compute 2*3 first."
    assert answer["tool_calls"][0]["name"] == "calculator" and answer["tool_calls"][0]["result"] == "6"
    assert answer["usage"]["total_tokens"] == 160
    assert answer["citations"][0]["url"] == "https://example.com/rect"


def test_another_users_conversation_is_404_for_every_export(alice, charlie):
    chat = conversation(alice)
    client = logged_in_client(charlie)
    for url in (f"/c/{chat.code}/export.md", f"/c/{chat.code}/export.json"):
        response, body = download(client, url)
        assert response.status_code == 404 and "二分探索" not in body.decode()


def test_the_archive_holds_every_own_conversation_and_file_and_nothing_of_anyone_else(alice, bob):
    first, second = conversation(alice), conversation(alice, "第二の会話", image=False)
    conversation(bob, "Bob's secret plans")
    second.archived_at = second.created
    second.save()
    archive = archive_of(alice)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "chatsite-archive" and manifest["user"] == "alice"
    assert {c["title"] for c in manifest["conversations"]} == {"二分探索と日本語のテスト", "第二の会話"}
    assert manifest["attachments"] == 2
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode("utf-8", "replace")
    assert "Bob's secret plans" not in everything
    entry = next(c for c in manifest["conversations"] if c["id"] == str(first.code))
    assert entry["json"].startswith("conversations/2025-") and "二分探索と日本語のテスト" in entry["json"]
    document = json.loads(archive.read(entry["json"]))
    assert archive.read(entry["markdown"]).decode().startswith("# 二分探索と日本語のテスト")
    for attachment in document["messages"][0]["attachments"]:
        stored = Attachment.objects.get(code=attachment["id"])
        assert archive.read(attachment["file"]) == stored.file.read()
    assert archive.testzip() is None


def test_the_archive_streams_a_large_file_without_holding_it_in_memory(alice):
    chat = conversation(alice, image=False)
    question = chat.messages.first()
    size = 12 * 1024 * 1024
    big = Attachment(owner=alice, message=question, kind="text", content_type="text/plain", size_bytes=size)
    big.file.save(str(big.code), ContentFile(b"0123456789abcdef" * (size // 16)), save=True)
    pieces = archive_chunks(alice, UTC)
    tracemalloc.start()
    try:
        largest = max(len(piece) for piece in pieces)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest < 1024 * 1024
    # Reading the file whole would take 12 MB at once.
    assert peak < 4 * 1024 * 1024


def test_the_whole_export_is_a_download_named_after_the_user(alice):
    conversation(alice)
    response = logged_in_client(alice).get("/data/export.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="chatsite alice ' in response["Content-Disposition"]


# -- round trips -----------------------------------------------------------------------------


def test_export_as_json_then_import_gives_back_the_same_conversation(alice):
    chat = conversation(alice, image=False)
    client = logged_in_client(alice)
    before = messages_of(chat)
    _, markdown = download(client, f"/c/{chat.code}/export.md")
    _, exported = download(client, f"/c/{chat.code}/export.json")
    chat.delete()
    response = import_(client, exported, "二分探索と日本語のテスト.json")
    assert response.status_code == 200
    report = response.context["report"]
    assert [(e.title, e.messages) for e in report.imported] == [("二分探索と日本語のテスト", 4)]
    again = Conversation.objects.get(owner=alice)
    assert messages_of(again) == before
    assert again.system_prompt == "Answer in 日本語."
    assert again.messages.get(reasoning__gt="").tool_calls[0]["result"] == "6"
    # The Markdown of the imported copy reads exactly as the original's did.
    assert download(client, f"/c/{again.code}/export.md")[1] == markdown


def test_a_lone_json_names_its_files_and_the_report_says_they_stayed_behind(alice, bob):
    chat = conversation(alice)
    _, exported = download(logged_in_client(alice), f"/c/{chat.code}/export.json")
    report = import_(logged_in_client(bob), exported, "x.json").context["report"]
    assert report.imported[0].notes == ["2 attached files were not in the file (export all your data to bring them)."]
    assert not Attachment.objects.filter(owner=bob).exists()


def test_the_archive_round_trip_brings_back_attachments_for_another_account(alice, bob):
    chat = conversation(alice)
    data = b"".join(archive_chunks(alice, UTC))
    response = import_(logged_in_client(bob), data, "chatsite alice.zip")
    assert response.status_code == 200, response.context["error"]
    copy = Conversation.objects.get(owner=bob)
    assert copy.code != chat.code and copy.title == chat.title
    question = copy.messages.order_by("pk").first()
    image, text = question.attachments.order_by("pk")
    assert (image.owner, image.original_name, image.kind) == (bob, "図.png", "image")
    assert Image.open(image.file).size == (40, 30)
    assert text.file.read() == "メモ: 長方形\n".encode() and text.text == "メモ: 長方形\n"
    # Served to bob, its new owner.
    assert logged_in_client(bob).get(f"/media/attachments/{image.code}").status_code == 200


def test_importing_the_same_file_twice_skips_what_is_already_here(alice):
    client = logged_in_client(alice)
    data = CHATGPT.read_bytes()
    first = import_(client, data, "conversations.json").context["report"]
    second = import_(client, data, "conversations.json").context["report"]
    assert len(first.imported) == 3
    assert second.imported == []
    assert [e.reason for e in second.skipped if e.title == "Plot a sine wave"] == [
        "it was imported before (as “Plot a sine wave”)."
    ]
    assert Conversation.objects.filter(owner=alice).count() == 3


def test_an_own_conversation_exported_and_imported_unchanged_is_skipped(alice):
    chat = conversation(alice, image=False)
    client = logged_in_client(alice)
    response = import_(client, download(client, f"/c/{chat.code}/export.json")[1], "x.json")
    assert [e.reason for e in response.context["report"].skipped] == ["it is one of your conversations already."]


# -- ChatGPT ---------------------------------------------------------------------------------


def test_a_chatgpt_export_comes_in_along_the_branch_last_shown(alice):
    response = import_(logged_in_client(alice), CHATGPT.read_bytes(), "conversations.json")
    assert response.status_code == 200
    report = response.context["report"]
    assert [e.title for e in report.imported] == ["二分探索の説明", "Plot a sine wave", "简体中文的问候"]
    assert [(e.title, e.reason) for e in report.skipped] == [("New chat", "it has no messages.")]
    assert "Imported 3 conversations from conversations.json" in response.content.decode()
    notes = {e.title: e.notes for e in report.imported}
    assert notes["二分探索の説明"] == ["3 messages on other branches (earlier edits or regenerations) were left out."]
    assert "Left out: custom instructions (1)." in notes["简体中文的问候"]

    binary = Conversation.objects.get(owner=alice, title="二分探索の説明")
    question, answer = binary.messages.order_by("pk")
    # The edited question and the regenerated answer; not the earlier ones.
    assert question.text.startswith("二分探索を Python で説明して。")
    assert answer.text.startswith("二分探索は**ソート済み**の配列で使います。")
    assert answer.reasoning.startswith("二分探索の要点を整理")
    assert (answer.model_name, answer.provider_name) == ("o3", "ChatGPT")
    assert "10 秒間思考しました" not in answer.text  # ChatGPT's label, not the model's words
    assert question.created.isoformat() == "2024-06-10T06:15:00.250000+00:00"
    assert answer.created >= question.created  # kept in order though the export's are not
    assert binary.created.isoformat() == "2024-06-10T06:13:20.123456+00:00"

    plot = Conversation.objects.get(owner=alice, title="Plot a sine wave")
    question, answer = plot.messages.order_by("pk")
    assert question.text == "Plot a sine wave like the one in this picture, from 0 to 2π."
    assert (
        answer.text
        == "Sure, I will draw it with matplotlib.\n\nHere is the sine wave from 0 to 2π: it crosses zero at π."
    )
    [call] = answer.tool_calls
    assert (call["name"], call["at"], call["status"]) == (
        "python",
        len("Sure, I will draw it with matplotlib."),
        "done",
    )
    assert call["arguments"].startswith("import numpy as np") and call["result"] == "\n<<ImageDisplayed>>"
    assert (
        "1 image or file was not in the upload (upload the export's .zip to bring them)." in notes["Plot a sine wave"]
    )

    weather = Conversation.objects.get(owner=alice, title="简体中文的问候")
    assert weather.archived_at is not None
    [question, answer] = weather.messages.order_by("pk")
    # The search and the quote it showed next are one call's output.
    [call] = answer.tool_calls
    assert (call["name"], call["arguments"]) == ("browser", 'search("上海 今天 天气")')
    search, quote = "# 【0†上海天气†weather.example.cn】\n晴，28°C", "上海天气\nhttps://weather.example.cn/shanghai"
    assert call["result"] == f"{search}\n{quote}\n上海：晴，最高 28°C"
    assert "custom instructions" not in weather.system_prompt and weather.system_prompt == ""


def test_a_chatgpt_export_zip_brings_the_images_the_user_sent(alice):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as export:
        export.writestr("conversations.json", CHATGPT.read_bytes())
        export.writestr("user.json", '{"id": "user-abc", "email": "alice@example.com"}')
        export.writestr("chat.html", "<html><script>var jsonData = []</script></html>")
        export.writestr("file-Q2w3E4r5T6y7U8i9-sketch.png", png_bytes(size=(32, 24)))
    response = import_(logged_in_client(alice), buffer.getvalue(), "chatgpt-export.zip")
    assert response.status_code == 200, response.context["error"]
    notes = {e.title: e.notes for e in response.context["report"].imported}
    assert not any("not in the upload" in note for note in notes["Plot a sine wave"])
    question = Conversation.objects.get(owner=alice, title="Plot a sine wave").messages.order_by("pk").first()
    [image] = question.attachments.all()
    assert (image.original_name, image.kind, image.width, image.height) == ("sketch.png", "image", 32, 24)


def test_newer_chatgpt_exports_split_into_several_files_are_read_whole(alice):
    conversations = json.loads(CHATGPT.read_bytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as export:
        export.writestr("conversations-000.json", json.dumps(conversations[:2]))
        export.writestr("conversations-001.json", json.dumps(conversations[2:]))
    response = import_(logged_in_client(alice), buffer.getvalue(), "export.zip")
    assert len(response.context["report"].imported) == 3


# -- hostile and broken files ------------------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _chatsite(title: str, text: str) -> dict:
    return {
        "format": "chatsite-conversation",
        "version": 1,
        "conversation": {"id": "", "title": title},
        "messages": [{"role": "user", "text": text}, {"role": "assistant", "text": "ok"}],
    }


def _archive(*documents: dict) -> bytes:
    entries = {f"conversations/{n}.json": json.dumps(d).encode() for n, d in enumerate(documents)}
    listed = [{"json": name} for name in entries]
    return _zip(
        {
            **entries,
            "manifest.json": json.dumps({"format": "chatsite-archive", "version": 1, "conversations": listed}).encode(),
        }
    )


HOSTILE = {
    "an image": (png_bytes(), "photo.json", "chatsite cannot import that file."),
    "broken JSON": (CHATGPT.read_bytes()[:5000], "conversations.json", "The file is not valid JSON"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "conversations.json", "nested too deeply"),
    "JSON of another shape": (b'{"hello": "world"}', "x.json", "chatsite cannot import that file."),
    "a later chatsite": (
        json.dumps({**_chatsite("x", "y"), "version": 7}).encode(),
        "x.json",
        "another version of chatsite (format 7)",
    ),
    "a control character": (
        json.dumps(_chatsite("Bell", "ring \u0007 ring")).encode(),
        "x.json",
        "holds a control character (U+0007)",
    ),
    "a NUL in a ChatGPT export": (
        CHATGPT.read_bytes().replace("今天上海天气怎么样".encode(), b"\\u0000"),
        "conversations.json",
        "holds a control character (U+0000)",
    ),
    "a zip bomb": (
        _zip({"conversations.json": b"[" + b" " * (12 * 1024 * 1024) + b"]"}),
        "bomb.zip",
        "unpack to more than",
    ),
    # A zip of 2 MB of JSON packs small, but one conversation of it would fill memory at scale.
    "a conversation too large": (
        _zip({"conversations.json": json.dumps([{"mapping": {}, "title": "x" * 2_000_000}]).encode()}),
        "big.zip",
        "A conversation in the file is larger than 1 MB.",
    ),
    "a path out of the zip": (
        _zip({"manifest.json": b"{}", "../../../etc/cron.d/evil.json": b"[]"}),
        "evil.zip",
        "names a file outside itself (../../../etc/cron.d/evil.json)",
    ),
    "an absolute path in the zip": (_zip({"/etc/passwd": b"x"}), "evil.zip", "names a file outside itself"),
    "a damaged zip": (
        _zip({"conversations.json": CHATGPT.read_bytes()})[:2000],
        "broken.zip",
        "The zip file is damaged.",
    ),
    "a zip of something else": (_zip({"notes.txt": b"hello"}), "notes.zip", "chatsite cannot import that file."),
    "an empty file": (b"", "empty.json", "chatsite cannot import that file."),
    "no conversations": (b"[]", "conversations.json", "The file holds no conversations."),
    # The first conversation is fine, the second is not: neither comes in.
    "one bad conversation of two": (
        _archive(_chatsite("Fine", "hello"), _chatsite("Broken", "\x1b[31mred")),
        "chatsite.zip",
        "holds a control character (U+001B)",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_bad_or_hostile_file_is_refused_clearly_and_changes_nothing(alice, settings, case):
    settings.IMPORT_MAX_BYTES = 1024 * 1024  # so a zip may unpack to 10 MB at most
    conversation(alice)
    data, name, error = HOSTILE[case]
    client = logged_in_client(alice)
    before = state(settings)
    response = import_(client, data, name)
    assert response.status_code == 400
    assert error in response.context["error"]
    assert error in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert state(settings) == before


def test_an_import_that_fails_after_storing_files_removes_them_again(alice, settings):
    good = json.loads(json.dumps(_chatsite("Fine", "hello")))
    good["messages"][0]["attachments"] = [
        {"id": "x", "name": "図.png", "kind": "image", "file": "attachments/00000000-0000-4000-8000-000000000001.png"}
    ]
    data = _archive(good, _chatsite("Broken", "\x07"))
    with zipfile.ZipFile(io.BytesIO(data), "a") as archive:
        archive.writestr("attachments/00000000-0000-4000-8000-000000000001.png", png_bytes())
    before = state(settings)
    response = import_(logged_in_client(alice), data, "chatsite.zip")
    assert response.status_code == 400 and state(settings) == before


def test_a_file_over_the_limit_is_refused_before_it_is_read(alice, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    before = state(settings)
    response = import_(logged_in_client(alice), b"[" + b" " * (1200 * 1024) + b"]", "conversations.json")
    assert response.status_code == 413
    assert response.context["error"] == "The file is larger than 1 MB."
    assert state(settings) == before


def test_a_lone_surrogate_in_json_is_not_stored_as_one(alice):
    data = json.dumps(_chatsite("Odd", "a\ud800b"), ensure_ascii=True).encode()
    response = import_(logged_in_client(alice), data, "x.json")
    assert response.status_code == 200  # the parser makes it a "?": no database refuses that
    text = Conversation.objects.get(owner=alice).messages.first().text
    assert text.startswith("a") and text.endswith("b") and "\ud800" not in text


def test_imported_markup_is_stored_as_the_text_it_is(alice):
    response = import_(logged_in_client(alice), json.dumps(_chatsite("Markup", PAYLOAD)).encode(), "x.json")
    assert response.status_code == 200
    assert Conversation.objects.get(owner=alice).messages.first().text == PAYLOAD
    page = logged_in_client(alice).get(response.context["report"].imported[0].url).content.decode()
    # In the page's JSON only, escaped: the browser test shows it rendered as text.
    assert "<script>window.__pwned" not in page and "<img src=x" not in page


def test_the_import_page_says_what_it_takes(alice):
    page = logged_in_client(alice).get("/data/").content.decode()
    assert "conversations.json" in page and 'action="/data/"' in page and "/data/export.zip" in page
