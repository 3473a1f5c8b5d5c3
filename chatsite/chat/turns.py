"""The database side of a chat turn: send, regenerate and edit, each ending in an answer to stream.

Plain synchronous functions (the consumer calls them through database_sync_to_async); each
checks ownership through Conversation.objects.for_user and raises ChatError with a message
for the user.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.chat.prompt import build_messages
from chatsite.providers.client import build_body
from chatsite.providers.models import LanguageModel

NOT_FOUND = "Conversation not found."


class ChatError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class UpstreamRequest:
    """Everything the generation needs; the key stays on the server side."""

    base_url: str
    api_key: str = ""
    body: dict | None = None

    def __repr__(self) -> str:  # never print the key, even in a traceback
        return f"UpstreamRequest(base_url={self.base_url!r})"


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    added: list[Message]  # new messages, in order; the last is the streaming answer
    answer: Message
    request: UpstreamRequest
    truncated_after: Message | None = None
    truncated: bool = False


def get_conversation(user, code, *, lock: bool = False) -> Conversation:
    queryset = Conversation.objects.for_user(user).select_related("model__provider")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(code=code)
    except (Conversation.DoesNotExist, ValidationError, ValueError, TypeError):
        # A malformed id answers exactly like another user's id.
        raise ChatError(NOT_FOUND) from None


def default_model() -> LanguageModel | None:
    usable = LanguageModel.objects.usable()
    return usable.filter(is_default=True).first() or usable.first()


def pick_model(code) -> LanguageModel:
    try:
        return LanguageModel.objects.usable().get(code=code)
    except (LanguageModel.DoesNotExist, ValidationError, ValueError, TypeError):
        raise ChatError("That model is not available.") from None


def _usable_model(conversation: Conversation, model_code) -> LanguageModel:
    if model_code:
        return pick_model(model_code)
    model = conversation.model
    if model is None or model.hidden or not model.provider.enabled:
        model = default_model()
    if model is None:
        raise ChatError("No model is available: an admin has to add a provider first.")
    return model


def _history(conversation: Conversation) -> list[Message]:
    """The conversation's messages, oldest first, with their attachments; one query when it is
    new. Refuses while an answer streams: a second one would interleave with it."""
    # Primary keys grow with time, unlike timestamps that two rows may share.
    history = list(conversation.messages.order_by("pk").prefetch_related("attachments"))
    if any(message.status == Message.Status.STREAMING for message in history):
        raise ChatError("An answer is still streaming in this conversation; stop it first.")
    return history


def _start_answer(
    conversation: Conversation, model: LanguageModel, history: list[Message], new: tuple[Message, ...] = ()
) -> tuple[Message, UpstreamRequest]:
    """Write the new messages and the streaming answer after history; build the request."""
    provider = model.provider
    answer = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_name=model.name,
        provider_name=provider.name,
    )
    # One INSERT for the question and its answer (both get their ids back).
    Message.objects.bulk_create([*new, answer])
    messages = build_messages(conversation, [*history, *new])
    if (
        conversation.title == Conversation._meta.get_field("title").default
        and len(messages) - bool(conversation.system_prompt.strip()) == 1
    ):
        # The first question names the conversation.
        conversation.title = title_from(answer_question_text(messages)) or "Image"
    body = build_body(model.name, messages, conversation.parameters, provider.extra_body)
    conversation.model = model
    # Bumps `updated`: the conversation moves to the top of the list.
    conversation.save(update_fields=["title", "model", "updated"])
    return answer, UpstreamRequest(provider.base_url, provider.api_key, body)


def answer_question_text(messages: list[dict]) -> str:
    content = messages[-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") == "text")


def _check_text(text: object, *, allow_empty: bool) -> str:
    if not isinstance(text, str):
        raise ChatError("The message must be text.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS:,} characters.")
    if not text.strip() and not allow_empty:
        raise ChatError("The message is empty.")
    return text


def send(user, conversation_code, text, attachment_codes=(), model_code=None) -> Turn:
    if not isinstance(attachment_codes, list | tuple) or len(attachment_codes) > settings.CHAT_MAX_IMAGES_PER_MESSAGE:
        raise ChatError(f"At most {settings.CHAT_MAX_IMAGES_PER_MESSAGE} images can go with one message.")
    text = _check_text(text, allow_empty=bool(attachment_codes))
    with transaction.atomic():
        conversation = get_conversation(user, conversation_code, lock=True)
        history = _history(conversation)
        model = _usable_model(conversation, model_code)
        attachments = []
        if attachment_codes:
            try:
                attachments = list(
                    Attachment.objects.filter(owner=user, message__isnull=True, code__in=list(attachment_codes))
                )
            except (ValidationError, ValueError, TypeError):  # malformed ids
                attachments = []
            if len(attachments) != len(set(map(str, attachment_codes))):
                raise ChatError("An attached image was not found; attach it again.")
        question = Message(conversation=conversation, role=Message.Role.USER, text=text)
        question.known_attachments = attachments
        answer, request = _start_answer(conversation, model, history, (question,))
        if attachments:
            Attachment.objects.filter(pk__in=[a.pk for a in attachments]).update(message=question)
    return Turn(conversation, [question, answer], answer, request)


def regenerate(user, conversation_code) -> Turn:
    with transaction.atomic():
        conversation = get_conversation(user, conversation_code, lock=True)
        history = _history(conversation)
        asked = [i for i, message in enumerate(history) if message.role == Message.Role.USER]
        if not asked:
            raise ChatError("There is nothing to regenerate yet.")
        last_question = history[asked[-1]]
        conversation.messages.filter(pk__gt=last_question.pk).delete()
        model = _usable_model(conversation, None)
        answer, request = _start_answer(conversation, model, history[: asked[-1] + 1])
    return Turn(conversation, [answer], answer, request, truncated_after=last_question, truncated=True)


def edit(user, conversation_code, message_code, text) -> Turn:
    text = _check_text(text, allow_empty=False)
    with transaction.atomic():
        conversation = get_conversation(user, conversation_code, lock=True)
        history = _history(conversation)
        at = next(
            (
                i
                for i, message in enumerate(history)
                if message.role == Message.Role.USER and str(message.code) == str(message_code)
            ),
            None,
        )
        if at is None:
            raise ChatError("Message not found.")
        question = history[at]
        conversation.messages.filter(pk__gt=question.pk).delete()
        question.text = text
        question.save(update_fields=["text", "updated"])
        model = _usable_model(conversation, None)
        answer, request = _start_answer(conversation, model, history[: at + 1])
    # The edited message is resent whole so every tab shows the new text.
    return Turn(conversation, [question, answer], answer, request, truncated_after=question, truncated=True)


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59].rstrip() + "…"
