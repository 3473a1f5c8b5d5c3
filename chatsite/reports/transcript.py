"""The admin's transcript view: a conversation as its owner reads it (the chat's own renderer,
Markdown through its sanitizer), with the files it carries, after the reading rules."""

from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from chatsite.chat.models import Attachment, Conversation
from chatsite.chat.payloads import message_payload
from chatsite.chat.views import attachment_response
from chatsite.reports import reading
from chatsite.teams.models import TeamSettings


def _conversation(model_admin, request: HttpRequest, object_id: str) -> Conversation:
    # get_object goes through the admin's get_queryset, so a team admin's scope applies.
    conversation = model_admin.get_object(request, object_id)
    if conversation is None or not model_admin.has_view_permission(request, conversation):
        raise Http404(_("Conversation not found."))
    return conversation


def transcript_view(model_admin, request: HttpRequest, object_id: str) -> HttpResponse:
    conversation = _conversation(model_admin, request, object_id)
    allowed = reading.read(request, conversation, reading.View.TRANSCRIPT)
    if isinstance(allowed, HttpResponse):
        return allowed
    context = {
        **model_admin.admin_site.each_context(request),
        "conversation": conversation,
        "change_url": reverse("admin:chat_conversation_change", args=[conversation.pk]),
        "list_url": reverse("admin:chat_conversation_changelist"),
    }
    if not allowed:
        return render(request, "reports/reading_off.html", context, status=403)
    messages = list(conversation.messages.prefetch_related("attachments"))
    shown = []
    for message in messages:
        payload = message_payload(message, list(message.attachments.all()))
        payload["logprobs"] = []
        for attachment in payload["attachments"]:
            attachment["url"] = reverse(
                "admin:chat_conversation_transcript_file", args=[conversation.pk, attachment["id"]]
            )
        shown.append(payload)
    totals = conversation.messages.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"))
    context.update(
        messages=shown,
        message_count=len(messages),
        tokens=totals["tokens"] or 0,
        cost=totals["cost"],
        currency=TeamSettings.current().currency,
        models=sorted({m.model_name for m in messages if m.model_name}),
        providers=sorted({m.provider_name for m in messages if m.provider_name}),
    )
    return render(request, "reports/transcript.html", context)


def transcript_file(model_admin, request: HttpRequest, object_id: str, code) -> HttpResponse:
    """A file the transcript shows: only to whoever just read that transcript (or its change
    page), so a file is never a way around the reading rules."""
    conversation = _conversation(model_admin, request, object_id)
    if reading.policy() == reading.Reading.OFF and conversation.owner_id != request.user.pk:
        raise Http404(_("Attachment not found."))
    if not reading.recently_read(request.user, conversation):
        raise Http404(_("Attachment not found."))
    item = Attachment.objects.filter(code=code, message__conversation=conversation).first()
    if item is None:
        raise Http404(_("Attachment not found."))
    return attachment_response(item)
