"""Sharing a conversation by link: making, updating and revoking one's links, reading a link one's
team was given, and continuing it as one's own copy."""

from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.chat.views import attachment_response
from chatsite.sharing.access import audience, may_read
from chatsite.sharing.copying import copy_share
from chatsite.sharing.models import Share
from chatsite.transfer.document import conversation_document


def _own_conversation(request: HttpRequest, code) -> Conversation:
    try:
        return Conversation.objects.owned(request.user, code)
    except Conversation.DoesNotExist:
        raise Http404(_("Conversation not found.")) from None


def _payload(request: HttpRequest, share: Share) -> dict:
    return {
        "url": request.build_absolute_uri(share.get_absolute_url()),
        "title": share.title,
        "shared": share.shared.isoformat(),
        "messages": share.message_count,
        "revoke_url": reverse("sharing:revoke", args=[share.token]),
    }


def _snapshot(share: Share, conversation: Conversation) -> None:
    share.snapshot = conversation_document(conversation, finished_only=True)
    share.message_count = len(share.snapshot["messages"])
    share.title = conversation.title
    share.shared = timezone.now()


@require_http_methods(["GET", "POST"])
def conversation_share(request: HttpRequest, code) -> JsonResponse:
    """GET: the conversation's live link, if any, and who a link reaches. POST: share it as it
    is now (a new link, or the same link brought up to now)."""
    conversation = _own_conversation(request, code)
    live = Share.objects.filter(conversation=conversation, revoked_at__isnull=True)
    share = live.first()
    if request.method == "POST":
        try:
            with transaction.atomic():
                share = live.select_for_update().first() or Share(conversation=conversation, owner=request.user)
                _snapshot(share, conversation)
                share.save()
        except IntegrityError:  # two tabs made the first link at once: the other one's stands
            share = live.first()
    teams = audience(request.user)
    return JsonResponse(
        {"share": _payload(request, share) if share else None, "teams": teams, "everyone": not teams},
        status=201 if request.method == "POST" else 200,
    )


@require_POST
def revoke(request: HttpRequest, token: str) -> HttpResponse:
    share = Share.objects.filter(token=token, owner=request.user).first()
    if share is None:
        raise Http404(_("Shared link not found."))
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
    if request.content_type == "application/json":
        return JsonResponse({"ok": True})
    return redirect("sharing:list")


def _unavailable(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "sharing/unavailable.html", {"message": message}, status=status)


def _readable(request: HttpRequest, token: str) -> Share | HttpResponse:
    """The share behind the link when this user may read it, else the page that says why not."""
    share = Share.objects.select_related("owner").filter(token=token).first()
    if share is None:
        return _unavailable(request, _("There is no shared conversation at this link."), 404)
    if share.revoked_at is not None:
        return _unavailable(request, _("This link was revoked by the person who shared it."), 410)
    if not may_read(request.user, share):
        return _unavailable(
            request, _("This conversation was shared with a team you are not in, so you cannot read it."), 403
        )
    return share


def _file_url(share: Share, attachment: dict) -> str:
    return reverse("sharing:file", args=[share.token, attachment["id"]])


def _page_messages(share: Share) -> list[dict]:
    """The snapshot's messages in the shape the chat page's renderer takes (chat/payloads.py)."""
    shown = []
    for message in share.snapshot.get("messages", []):
        usage = message.get("usage") or {}
        shown.append(
            {
                **{key: message.get(key) for key in ("id", "role", "text", "model", "finish_reason")},
                **{key: message.get(key) or "" for key in ("reasoning", "refusal", "error")},
                **{key: usage.get(key) for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens")},
                "cached_tokens": usage.get("cached_tokens"),
                "usage_estimated": bool(usage.get("estimated")),
                "tool_calls": message.get("tool_calls") or [],
                "citations": message.get("citations") or [],
                "logprobs": [],
                "json_check": "",
                "status": message.get("status") or Message.Status.COMPLETE,
                "created": message.get("created"),
                "attachments": [
                    {**{k: v for k, v in attachment.items() if k != "text"}, "url": _file_url(share, attachment)}
                    for attachment in message.get("attachments", [])
                ],
            }
        )
    return shown


@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    share = _readable(request, token)
    if isinstance(share, HttpResponse):
        return share
    context = {
        "share": share,
        "is_owner": share.owner_id == request.user.pk,
        "messages": _page_messages(share),
    }
    # The site's Referrer-Policy (same-origin) keeps the link out of the Referer of pages it links
    # to; no-referrer would make the browser send `Origin: null` with its forms, which CSRF refuses.
    return render(request, "sharing/shared.html", context)


@require_GET
def shared_file(request: HttpRequest, token: str, code) -> FileResponse | HttpResponse:
    share = _readable(request, token)
    if isinstance(share, HttpResponse):
        return share
    listed = {a.get("id") for m in share.snapshot.get("messages", []) for a in m.get("attachments", [])}
    item = None
    if str(code) in listed:
        item = Attachment.objects.filter(
            code=code, owner_id=share.owner_id, message__conversation_id=share.conversation_id
        ).first()
    if item is None:
        raise Http404(_("Attachment not found."))
    return attachment_response(item)


@require_POST
def copy(request: HttpRequest, token: str) -> HttpResponse:
    """Continue as my own copy: the snapshot becomes a conversation of the reader's."""
    share = _readable(request, token)
    if isinstance(share, HttpResponse):
        return share
    conversation = copy_share(request.user, share)
    return redirect("chat:conversation", conversation.code)


@require_GET
def share_list(request: HttpRequest) -> HttpResponse:
    shares = Share.objects.filter(owner=request.user, revoked_at__isnull=True).only(
        "token", "title", "shared", "message_count", "conversation_id"
    )
    teams = audience(request.user)
    return render(request, "sharing/list.html", {"shares": shares, "teams": teams})
