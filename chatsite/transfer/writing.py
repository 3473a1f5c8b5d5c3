"""A cleaned chatsite document (validate.py) written as a new conversation of one user: new ids
throughout (never the document's: those name someone's conversation, maybe another user's), its
times kept, its model the one of that name when this user may use it."""

from datetime import datetime

from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.providers.models import LanguageModel
from chatsite.teams import access
from chatsite.tools import registry
from chatsite.transfer.document import USAGE_FIELDS


def _time(value: str | None, default: datetime) -> datetime:
    return datetime.fromisoformat(value) if value else default


def model_named(user, name: str) -> LanguageModel | None:
    """The usable model of this name (as sent upstream) when the user may use it, else None (the
    conversation then uses the default, as a new chat does)."""
    if not name:
        return None
    rules = access.rules()
    for model in LanguageModel.objects.usable().filter(name=name).select_related("provider"):
        if rules.may_use(user, model):
            return model
    return None


def write_conversation(
    user, document: dict, attachments: dict[int, list[Attachment]], *, keep_dates: bool = True
) -> Conversation:
    """The document as the user's new conversation (call inside a transaction). attachments: the
    checked, stored, unsaved attachments of each message, by its index in the document.
    keep_dates=False: the conversation itself is new today (a copy, at the top of the list)."""
    now = timezone.now()
    source = document["conversation"]
    known_tools = {choice["name"] for choice in registry.choices()} if source["tools"] else set()
    first = document["messages"][0]["created"] if document["messages"] else None
    created = _time(source["created"] or first, now)
    conversation = Conversation.objects.create(
        owner=user,
        title=source["title"],
        model=model_named(user, source["model"]),
        system_prompt=source["system_prompt"],
        parameters=source["parameters"],
        tools=[name for name in dict.fromkeys(source["tools"]) if name in known_tools],
        archived_at=now if source["archived"] else None,
    )
    messages, times = [], []
    last = created
    for raw in document["messages"]:
        # In order: the page orders by id, the history by time, and both must agree.
        last = max(last, _time(raw["created"], last))
        times.append(last)
        message = Message(conversation=conversation, role=raw["role"], text=raw["text"])
        if raw["role"] == Message.Role.ASSISTANT:
            message.model_name, message.provider_name = raw["model"], raw["provider"]
            message.status, message.finish_reason = raw["status"], raw["finish_reason"]
            message.reasoning, message.refusal, message.error = raw["reasoning"], raw["refusal"], raw["error"]
            for name in USAGE_FIELDS:
                setattr(message, name, raw["usage"][name])
            message.usage_estimated = raw["usage_estimated"]
            message.tool_calls, message.citations = raw["tool_calls"], raw["citations"]
        messages.append(message)
    Message.objects.bulk_create(messages, batch_size=500)
    # created is set on insert (auto_now_add); the document's own times are put back after.
    for message, moment in zip(messages, times, strict=True):
        message.created = moment
    Message.objects.bulk_update(messages, ["created"], batch_size=500)
    rows = []
    for index, found in attachments.items():
        for attachment in found:
            attachment.message = messages[index]
            rows.append(attachment)
    Attachment.objects.bulk_create(rows, batch_size=500)
    updated = max(_time(source["updated"], last), last)
    if not keep_dates:
        created = updated = now
    Conversation.objects.filter(pk=conversation.pk).update(created=created, updated=updated)
    conversation.created, conversation.updated = created, updated
    return conversation
