"""The database side of a chat turn: send (in batches), regenerate, edit and continue, each
ending in an answer to stream.

Plain synchronous functions (the consumer calls them through database_sync_to_async); each
checks ownership through Conversation.objects.for_user (for_users for a batch) and raises or
returns ChatError with a message for the user.
"""

import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.chat.parameters import request_parameters
from chatsite.chat.prompt import build_messages
from chatsite.providers.client import build_body
from chatsite.providers.families import system_role, token_field
from chatsite.providers.models import LanguageModel
from chatsite.rows import update_rows
from chatsite.tools.registry import ToolSpec, specs_for

NOT_FOUND = "Conversation not found."
STILL_STREAMING = "An answer is still streaming in this conversation; stop it first."
ATTACH_AGAIN = "An attached file was not found; attach it again."


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
    model_id: int | None = None  # where a learned quirk (the length limit's field) is remembered
    tools: tuple[ToolSpec, ...] = ()  # what the model may call, as the body's "tools" says
    user_id: int | None = None  # whose data a tool may read (search in their own conversations)

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


def _histories(conversations: list[Conversation]) -> dict[int, list[Message]]:
    """Each conversation's messages, oldest first, with their attachments: one query (two when
    there are earlier messages) for all of them."""
    histories: dict[int, list[Message]] = {conversation.pk: [] for conversation in conversations}
    if histories:
        # Primary keys grow with time, unlike timestamps that two rows may share.
        for message in (
            Message.objects.filter(conversation__in=list(histories)).order_by("pk").prefetch_related("attachments")
        ):
            histories[message.conversation_id].append(message)
    return histories


def _refuse_if_streaming(history: list[Message]) -> None:
    # A second answer would interleave with the first.
    if any(message.status == Message.Status.STREAMING for message in history):
        raise ChatError(STILL_STREAMING)


def _history(conversation: Conversation) -> list[Message]:
    history = _histories([conversation])[conversation.pk]
    _refuse_if_streaming(history)
    return history


@dataclass
class _Plan:
    """A turn decided but not written: the messages to add after history, the answer last."""

    conversation: Conversation
    model: LanguageModel
    history: list[Message]
    new: list[Message]
    attachments: list[Attachment] = field(default_factory=list)  # go with new[0], a new question

    @property
    def answer(self) -> Message:
        return self.new[-1]


def _plan(conversation: Conversation, model: LanguageModel, history: list[Message], *new: Message) -> _Plan:
    answer = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_name=model.name,
        provider_name=model.provider.name,
    )
    return _Plan(conversation, model, history, [*new, answer])


def _write(plans: list[_Plan]) -> None:
    """Write the planned turns: a handful of statements however many."""
    # One INSERT for every new message (all get their ids back).
    Message.objects.bulk_create([message for plan in plans for message in plan.new])
    now = timezone.now()
    for plan in plans:
        conversation = plan.conversation
        asked = [*plan.history, *plan.new[:-1]]
        if (
            conversation.title == Conversation._meta.get_field("title").default
            and sum(message.role == Message.Role.USER for message in asked) == 1
        ):
            # The first question names the conversation (its first file's name when it has no text).
            conversation.title = title_from(asked[-1].text) or title_from(_first_file_name(asked[-1])) or "Image"
        conversation.model = plan.model
        # The conversation moves to the top of the list.
        conversation.updated = now
        if plan.attachments:
            Attachment.objects.filter(pk__in=[a.pk for a in plan.attachments]).update(message=plan.new[0])
    update_rows(
        Conversation,
        ["title", "model", "updated"],
        ["id"],
        [(plan.conversation.title, plan.model.pk, now, plan.conversation.pk) for plan in plans],
    )


def _request(plan: _Plan, extra: list[dict] = ()) -> UpstreamRequest:
    """The upstream request for a written turn. Built after the transaction: it reads and
    encodes the history's files, which must not hold the database (SQLite has one writer)."""
    conversation, model = plan.conversation, plan.model
    tools = tools_for(conversation, model)
    asked = [*plan.history, *plan.new[:-1]]
    messages = build_messages(conversation, asked, system_role(model.name), model.abilities(), tools=bool(tools))
    body = request_body(model, [*messages, *extra], conversation.parameters, tools)
    provider = model.provider
    return UpstreamRequest(provider.base_url, provider.api_key, body, model.pk, tuple(tools), conversation.owner_id)


def _turn(plan: _Plan, request: UpstreamRequest, **truncation) -> Turn:
    return Turn(plan.conversation, list(plan.new), plan.answer, request, **truncation)


def _first_file_name(question: Message) -> str:
    attachments = getattr(question, "known_attachments", None)
    if attachments is None:
        attachments = list(question.attachments.all())
    return attachments[0].original_name if attachments else ""


# What each kind of attachment needs of the model, and how the refusal says it.
NEEDS = {Attachment.Kind.IMAGE: ("vision", "images"), Attachment.Kind.AUDIO: ("audio", "audio")}


def _check_model_takes(model: LanguageModel, attachments: list[Attachment]) -> None:
    """Refuse a send the model cannot take; files go to any model (as text when it reads none)."""
    for attachment in attachments:
        ability, what = NEEDS.get(attachment.kind, (None, ""))
        if ability and not getattr(model, ability):
            raise ChatError(f"{model.display_name} does not take {what}: pick another model or remove the {what}.")


def _check_text(text: object, *, allow_empty: bool) -> str:
    if not isinstance(text, str):
        raise ChatError("The message must be text.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS:,} characters.")
    if not text.strip() and not allow_empty:
        raise ChatError("The message is empty.")
    return text


@dataclass(frozen=True)
class Ask:
    """One `send`: a user's new message (text and attachment ids) in one of their conversations."""

    user: object
    conversation: object
    text: object
    attachments: object = ()
    model: object = None


def send_many(asks: list[Ask]) -> list[Turn | ChatError]:
    """Several sends in one transaction and a handful of statements, each with its own result.

    A burst of messages (a team after a meeting, a script) would otherwise cost each turn its own
    ORM queries, about 2 ms of the database thread's CPU, while every answer waits its turn.
    """
    results: list[Turn | ChatError | None] = [None] * len(asks)
    keys: dict[int, tuple] = {}
    for i, ask in enumerate(asks):
        try:
            _check_ask(ask)
            keys[i] = (ask.user, _uuid(ask.conversation))
        except ChatError as error:
            results[i] = error
    plans: dict[int, _Plan] = {}
    with transaction.atomic():
        owned = {
            (c.owner_id, c.code): c
            for c in Conversation.objects.for_users(keys.values())
            .select_related("model__provider")
            .select_for_update(of=("self",))
        }
        histories = _histories(list(owned.values()))
        taken: set[int] = set()  # conversations answering in this batch
        claimed: set[int] = set()  # attachments sent in this batch
        for i, (user, code) in keys.items():
            ask = asks[i]
            try:
                conversation = owned.get((user.pk, code))
                if conversation is None:
                    raise ChatError(NOT_FOUND)
                history = histories[conversation.pk]
                _refuse_if_streaming(history)
                if conversation.pk in taken:  # a second send to it in this batch
                    raise ChatError(STILL_STREAMING)
                model = _usable_model(conversation, ask.model)
                attachments = _claim(ask.user, ask.attachments)
                _check_model_takes(model, attachments)
                if claimed.intersection(a.pk for a in attachments):  # already sent in this batch
                    raise ChatError(ATTACH_AGAIN)
                claimed.update(a.pk for a in attachments)
                question = Message(conversation=conversation, role=Message.Role.USER, text=ask.text)
                question.known_attachments = attachments
                plans[i] = _plan(conversation, model, history, question)
                plans[i].attachments = attachments
                taken.add(conversation.pk)
            except ChatError as error:
                results[i] = error
        if plans:
            _write(list(plans.values()))
    for i, plan in plans.items():
        results[i] = _turn(plan, _request(plan))
    return results


def _check_ask(ask: Ask) -> None:
    attachments = ask.attachments
    if not isinstance(attachments, list | tuple) or len(attachments) > settings.CHAT_MAX_IMAGES_PER_MESSAGE:
        raise ChatError(f"At most {settings.CHAT_MAX_IMAGES_PER_MESSAGE} files can go with one message.")
    _check_text(ask.text, allow_empty=bool(attachments))


def _uuid(code) -> uuid.UUID:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        # A malformed id answers exactly like another user's id.
        raise ChatError(NOT_FOUND) from None


def _claim(user, attachment_codes) -> list[Attachment]:
    """The user's own unsent attachments with these ids, or ChatError."""
    if not attachment_codes:
        return []
    try:
        attachments = list(Attachment.objects.filter(owner=user, message__isnull=True, code__in=list(attachment_codes)))
    except (ValidationError, ValueError, TypeError):  # malformed ids
        attachments = []
    if len(attachments) != len(set(map(str, attachment_codes))):
        raise ChatError(ATTACH_AGAIN)
    return attachments


def regenerate(user, conversation_code) -> Turn:
    with transaction.atomic():
        conversation = get_conversation(user, conversation_code, lock=True)
        history = _history(conversation)
        asked = [i for i, message in enumerate(history) if message.role == Message.Role.USER]
        if not asked:
            raise ChatError("There is nothing to regenerate yet.")
        last_question = history[asked[-1]]
        conversation.messages.filter(pk__gt=last_question.pk).delete()
        plan = _plan(conversation, _usable_model(conversation, None), history[: asked[-1] + 1])
        _write([plan])
    return _turn(plan, _request(plan), truncated_after=last_question, truncated=True)


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
        plan = _plan(conversation, _usable_model(conversation, None), history[: at + 1])
        _write([plan])
    # The edited message is resent whole so every tab shows the new text.
    request = _request(plan)
    return Turn(conversation, [question, plan.answer], plan.answer, request, truncated_after=question, truncated=True)


# Sent after an answer cut off for length: the Chat Completions API has no portable way to
# resume an assistant message, so the model is asked to go on from its own last words.
CONTINUE_PROMPT = "Continue exactly where your last message stopped, without repeating anything."


def continue_answer(user, conversation_code) -> Turn:
    """Ask for more of the last answer when it was cut off for length; the same message grows."""
    with transaction.atomic():
        conversation = get_conversation(user, conversation_code, lock=True)
        history = _history(conversation)
        answer = history[-1] if history else None
        if answer is None or answer.role != Message.Role.ASSISTANT or answer.finish_reason != "length":
            raise ChatError("Only an answer cut off at its length limit can be continued.")
        model = _usable_model(conversation, None)
        answer.status = Message.Status.STREAMING
        answer.finish_reason = ""
        answer.model_name, answer.provider_name = model.name, model.provider.name
        answer.save(update_fields=["status", "finish_reason", "model_name", "provider_name", "updated"])
    # The whole history, the answer so far included, then the request for more.
    plan = _Plan(conversation, model, history, [answer])
    request = _request(plan, [{"role": "user", "content": CONTINUE_PROMPT}])
    return Turn(conversation, [answer], answer, request)


def tools_for(conversation: Conversation, model: LanguageModel) -> list[ToolSpec]:
    """The tools switched on for the conversation, when its model can call tools (a model
    known not to would refuse the request, or ignore them)."""
    if not conversation.tools or not model.tools:
        return []
    return specs_for(conversation.tools)


# Stored parameters a model without the ability would refuse (a strict provider fails the
# whole request): left out when the conversation moves to such a model; the settings panel says why.
NEEDS_ABILITY = {
    "web_search_options": "web_search",
    "logprobs": "logprobs",
    "top_logprobs": "logprobs",
    "reasoning_effort": "reasoning",
    "response_format": "json",
}


def request_body(model: LanguageModel, messages: list[dict], parameters: dict, tools: list[ToolSpec] = ()) -> dict:
    params, extra = request_parameters(parameters, model.provider.extra_body)
    for name, ability in NEEDS_ABILITY.items():
        if name in params and not getattr(model, ability):
            del params[name]
    if "max_tokens" in params:
        # Above the model's largest answer a provider refuses the request: ask for that much.
        limit = model.max_output_tokens
        params[token_field(model.name, model.token_field)] = min(params.pop("max_tokens"), limit or 1 << 62)
    body = build_body(model.name, messages, params, extra)
    if tools:
        body["tools"] = [spec.definition() for spec in tools]
    else:
        # A tool_choice from the extra fields means nothing without tools (and is refused).
        body.pop("tool_choice", None)
        body.pop("parallel_tool_calls", None)
    return body


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59].rstrip() + "…"
