"""Files besides images: PDFs, text files and audio, told apart by their bytes, sent to each model
as far as it takes them, and refused (with the reason) when a model cannot take them."""

import base64
import io

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.providers.catalog import refresh_models
from tests.conftest import frames_until, is_done, logged_in_client, open_socket
from tests.samples import (
    mp3_bytes,
    pdf_bytes,
    pdf_of_a_large_stream,
    pdf_of_much_text,
    pdf_that_reads_slowly,
    wav_bytes,
)
from tests.server import sandbox_children


def upload(client, data: bytes, name: str, content_type: str = "application/octet-stream"):
    """A stored upload needs django_db(transaction=True): the view saves through channels'
    database_sync_to_async, which closes a connection left inside a transaction."""
    return client.post("/uploads/", {"file": SimpleUploadedFile(name, data, content_type=content_type)})


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def models(provider) -> tuple:
    """test/model-a takes everything; test/model-b only text (as the upstream's /models says)."""
    refresh_models(provider)
    return provider.models.get(name="test/model-a"), provider.models.get(name="test/model-b")


async def ask(user, conversation, text, attachment_ids) -> list[dict]:
    socket = await open_socket(user)
    await socket.send_json_to(
        {"type": "send", "conversation": str(conversation.code), "text": text, "attachments": attachment_ids}
    )
    frames = await frames_until(socket, lambda f: is_done(f) or f["type"] == "error")
    await socket.disconnect()
    return frames


def last_user_content(upstream) -> list[dict]:
    return upstream.requests[-1]["json"]["messages"][-1]["content"]


# -- uploads ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_pdf_is_recognised_by_its_bytes_and_its_text_kept(alice):
    response = upload(logged_in_client(alice), pdf_bytes("Revenue grew 12%", "Costs fell"), "report.bin")
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["kind"], payload["content_type"], payload["width"]) == ("pdf", "application/pdf", None)
    assert payload["size_bytes"] > 0
    attachment = Attachment.objects.get()
    assert "Revenue grew 12%" in attachment.text and "Costs fell" in attachment.text


@pytest.mark.django_db(transaction=True)
def test_files_other_than_images_are_served_as_downloads_only_to_their_owner(alice, charlie):
    client = logged_in_client(alice)
    url = upload(client, b"a,b\n1,2\n", "data.csv").json()["url"]
    served = client.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "text/plain; charset=utf-8"
    assert served["Content-Disposition"].startswith("attachment;") and "data.csv" in served["Content-Disposition"]
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    assert b"".join(served.streaming_content) == b"a,b\n1,2\n"
    assert logged_in_client(charlie).get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_wav_and_mp3_are_recognised_by_their_headers(alice):
    client = logged_in_client(alice)
    wav = upload(client, wav_bytes(), "voice").json()
    mp3 = upload(client, mp3_bytes(), "song.dat").json()
    assert (wav["kind"], wav["content_type"]) == ("audio", "audio/wav")
    assert (mp3["kind"], mp3["content_type"]) == ("audio", "audio/mpeg")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "name", "status"),
    [
        (b"%PDF-1.7\n garbage that is no PDF", "broken.pdf", 415),
        (b"<html><script>alert(1)</script></html>", "page.html", 415),  # text, but not a text file we take
        (b"hello\x00\x01\x02 binary", "notes.txt", 415),
        (b"\xff\xfe\x00d\x00a\x00t\x00a", "utf16.txt", 415),
        (b"RIFF\x24\x00\x00\x00WAVEjunk", "broken.wav", 415),
        (b"\xff\xfb\x90\x00 just four bytes of header", "fake.mp3", 415),
        (b"x" * 100, "long.txt", 400),  # CHAT_MAX_FILE_CHARS is 50 here
    ],
)
def test_files_that_are_not_what_they_claim_are_refused(alice, settings, data, name, status):
    settings.CHAT_MAX_FILE_CHARS = 50
    response = upload(logged_in_client(alice), data, name)
    assert response.status_code == status, response.json()
    assert response.json()["error"]
    assert not Attachment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_pdf_over_the_page_limit_is_refused_and_a_long_one_cut_with_a_mark(alice, settings):
    settings.CHAT_MAX_PDF_PAGES = 2
    client = logged_in_client(alice)
    response = upload(client, pdf_bytes("one", "two", "three"), "long.pdf")
    assert response.status_code == 400 and "3 pages" in response.json()["error"]
    settings.CHAT_MAX_FILE_CHARS = 20
    assert upload(client, pdf_bytes("a" * 15, "b" * 15), "cut.pdf").status_code == 201
    text = Attachment.objects.get().text
    assert text.startswith("a" * 15) and "cut here, at 20 characters" in text


# -- hostile PDFs: read in a sandbox child (chatsite/lib/sandbox.py) --------------------------


@pytest.mark.django_db(transaction=True)
def test_a_one_page_pdf_with_far_more_text_than_the_cap_is_cut_within_the_page(alice, settings):
    # 450 million characters on its one page: read whole it would take minutes and gigabytes,
    # and be stopped (10 s, 512 MB); counted as it is read, it stops at the cap.
    response = upload(logged_in_client(alice), pdf_of_much_text(), "much.pdf")
    assert response.status_code == 201, response.json()
    text = Attachment.objects.get().text
    mark = f"\n[… the text was cut here, at {settings.CHAT_MAX_FILE_CHARS:,} characters]"
    assert text.endswith(mark)
    kept = text.removesuffix(mark)
    assert len(kept) == settings.CHAT_MAX_FILE_CHARS and set(kept) == {"A", "\n"}


@pytest.mark.django_db
def test_a_pdf_that_reads_for_longer_than_the_limit_is_refused_and_its_reader_killed(alice, settings):
    settings.CHAT_PDF_SECONDS = 1  # the PDF takes minutes
    response = upload(logged_in_client(alice), pdf_that_reads_slowly(), "slow.pdf")
    assert response.status_code == 415
    assert response.json()["error"] == (
        "Reading the PDF's text took longer than 1 s, so it was stopped. "
        "A simpler PDF, or its text as a .txt file, will do."
    )
    assert sandbox_children() == []  # killed at the deadline, not left reading
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_a_pdf_that_needs_more_memory_than_the_limit_is_refused(alice, settings):
    settings.CHAT_PDF_MEMORY_MB = 150  # its page's 70 MB stream, read and parsed, needs more
    response = upload(logged_in_client(alice), pdf_of_a_large_stream(), "large.pdf")
    assert response.status_code == 415
    assert response.json()["error"] == "Reading the PDF's text needed more than 150 MB of memory, so it was stopped."
    assert not Attachment.objects.exists()


# -- what goes upstream ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_pdf_goes_as_a_file_part_to_a_model_that_reads_files(alice, provider, upstream):
    reader, _ = await sync_to_async(models)(provider)
    client = await sync_to_async(logged_in_client)(alice)
    data = pdf_bytes("The answer is 42")
    attachment = (await sync_to_async(upload)(client, data, "facts.pdf")).json()
    conversation = await Conversation.objects.acreate(owner=alice, model=reader)
    frames = await ask(alice, conversation, "Summarise", [attachment["id"]])
    assert frames[-1]["type"] == "done"
    content = last_user_content(upstream)
    assert content[0] == {"type": "text", "text": "Summarise"}
    assert content[1] == {
        "type": "file",
        "file": {
            "filename": "facts.pdf",
            "file_data": "data:application/pdf;base64," + base64.b64encode(data).decode(),
        },
    }
    shown = next(f["message"] for f in frames if f["type"] == "message")["attachments"]
    assert [(a["kind"], a["name"]) for a in shown] == [("pdf", "facts.pdf")]


@pytest.mark.django_db(transaction=True)
async def test_a_model_that_reads_no_files_gets_their_text(alice, provider, upstream):
    _, text_only = await sync_to_async(models)(provider)
    client = await sync_to_async(logged_in_client)(alice)
    pdf = (await sync_to_async(upload)(client, pdf_bytes("The answer is 42"), "facts.pdf")).json()
    notes = (await sync_to_async(upload)(client, b"# Notes\nbuy milk\n", "notes.md")).json()
    conversation = await Conversation.objects.acreate(owner=alice, model=text_only)
    frames = await ask(alice, conversation, "", [pdf["id"], notes["id"]])
    assert frames[-1]["type"] == "done"
    content = last_user_content(upstream)
    assert content == [
        {"type": "text", "text": '<file name="facts.pdf">\nThe answer is 42\n</file>'},
        {"type": "text", "text": '<file name="notes.md">\n# Notes\nbuy milk\n\n</file>'},
    ]
    conversation = await Conversation.objects.aget(pk=conversation.pk)
    assert conversation.title == "facts.pdf"  # a question without text is named after its file


@pytest.mark.django_db(transaction=True)
async def test_audio_goes_as_input_audio_to_a_model_that_hears(alice, provider, upstream):
    hearing, _ = await sync_to_async(models)(provider)
    client = await sync_to_async(logged_in_client)(alice)
    wav, mp3 = wav_bytes(), mp3_bytes()
    ids = [
        (await sync_to_async(upload)(client, data, name)).json()["id"]
        for data, name in [(wav, "a.wav"), (mp3, "b.mp3")]
    ]
    conversation = await Conversation.objects.acreate(owner=alice, model=hearing)
    await ask(alice, conversation, "Transcribe", ids)
    content = last_user_content(upstream)
    assert content[1:] == [
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(mp3).decode(), "format": "mp3"}},
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "data", "name"), [("images", png_bytes(), "p.png"), ("audio", wav_bytes(), "a.wav")])
async def test_a_model_that_cannot_take_an_image_or_audio_refuses_the_send_and_nothing_is_lost(
    alice, provider, upstream, kind, data, name
):
    _, text_only = await sync_to_async(models)(provider)
    client = await sync_to_async(logged_in_client)(alice)
    attachment = (await sync_to_async(upload)(client, data, name)).json()
    conversation = await Conversation.objects.acreate(owner=alice, model=text_only)
    frames = await ask(alice, conversation, "What is this?", [attachment["id"]])
    assert frames[-1]["type"] == "error"
    assert frames[-1]["error"] == f"test/model-b does not take {kind}: pick another model or remove the {kind}."
    assert not [r for r in upstream.requests if r["path"].endswith("/chat/completions")]
    assert not await Message.objects.filter(conversation=conversation).aexists()
    # The upload is still the user's, unsent, and goes with the next send to a model that takes it.
    assert await Attachment.objects.filter(code=attachment["id"], message__isnull=True).aexists()


@pytest.mark.django_db(transaction=True)
async def test_another_users_file_answers_like_a_missing_one(alice, charlie, provider, upstream):
    client = await sync_to_async(logged_in_client)(alice)
    pdf = (await sync_to_async(upload)(client, pdf_bytes("secret"), "secret.pdf")).json()
    conversation = await Conversation.objects.acreate(owner=charlie, model=await provider.models.aget())
    frames = await ask(charlie, conversation, "Read this", [pdf["id"]])
    assert frames[-1]["error"] == "An attached file was not found; attach it again."


@pytest.mark.django_db
def test_an_image_in_the_history_is_left_out_for_a_model_that_cannot_see(alice, provider):
    from chatsite.chat.prompt import build_messages

    reader, text_only = models(provider)
    conversation = Conversation.objects.create(owner=alice, model=reader)
    question = Message.objects.create(conversation=conversation, role="user", text="Look")
    data = png_bytes()
    image = Attachment(
        owner=alice, message=question, content_type="image/png", original_name="p.png", size_bytes=len(data)
    )
    image.file.save("p", ContentFile(data))
    history = list(conversation.messages.prefetch_related("attachments"))
    [message] = build_messages(conversation, history, abilities=text_only.abilities())
    assert message["content"][1] == {
        "type": "text",
        "text": "[p.png: an image left out; this model does not take images.]",
    }
    [message] = build_messages(conversation, history, abilities=reader.abilities())
    assert message["content"][1]["type"] == "image_url"
