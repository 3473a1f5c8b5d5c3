"""Conversations as users leave them (questions with files, answers with reasoning and tool calls),
written to the database directly, for the export, import and sharing tests."""

from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile

from chatsite.chat.files import read_file
from chatsite.chat.models import Attachment, Conversation, Message
from tests.samples import png_bytes

PAYLOAD = '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">'
START = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def attach(message: Message, data: bytes, name: str) -> Attachment:
    """A file attached to the message, checked and stored as an upload is."""
    attachment, data = read_file(data, name, message.conversation.owner)
    attachment.message = message
    attachment.file.save(str(attachment.code), ContentFile(data), save=True)
    return attachment


def conversation(owner, title: str = "二分探索と日本語のテスト", *, image: bool = True, model=None) -> Conversation:
    """A conversation of four messages: a question with an image and a text file, an answer that
    thought and called a tool, a question carrying markup, an answer with Markdown."""
    chat = Conversation.objects.create(owner=owner, title=title, model=model, system_prompt="Answer in 日本語.")
    messages = [
        Message(conversation=chat, role="user", text="この図を説明して。"),
        Message(
            conversation=chat,
            role="assistant",
            text="図は赤い長方形です。計算すると 6 です。",
            reasoning="The user wants a description; compute 2*3 first.",
            model_name="openai/gpt-4o",
            provider_name="OfoxAI",
            finish_reason="stop",
            prompt_tokens=120,
            completion_tokens=40,
            total_tokens=160,
            tool_calls=[
                {
                    "id": "call_1",
                    "name": "calculator",
                    "arguments": '{"expression": "2*3"}',
                    "round": 0,
                    "at": len("図は赤い長方形です。"),
                    "status": "done",
                    "result": "6",
                    "ms": 3,
                }
            ],
            citations=[{"url": "https://example.com/rect", "title": "長方形", "start_index": 0, "end_index": 4}],
        ),
        Message(conversation=chat, role="user", text=f"Show this as text: {PAYLOAD}"),
        Message(
            conversation=chat,
            role="assistant",
            text=f"**Bold** and `code`, and the markup stays text: {PAYLOAD}",
            model_name="openai/gpt-4o",
            provider_name="OfoxAI",
            finish_reason="stop",
        ),
    ]
    Message.objects.bulk_create(messages)
    for n, message in enumerate(messages):
        message.created = START + timedelta(minutes=n)
    Message.objects.bulk_update(messages, ["created"])
    Conversation.objects.filter(pk=chat.pk).update(created=START)
    chat.refresh_from_db()
    if image:
        attach(messages[0], png_bytes(), "図.png")
        attach(messages[0], "メモ: 長方形\n".encode(), "メモ.txt")
    return chat
