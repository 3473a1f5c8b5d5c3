"""Pages and small JSON endpoints of the chat; the streaming itself is in consumers.py."""

import functools
import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from chatsite.chat import keeping, retention, turns
from chatsite.chat.budgets import remaining
from chatsite.chat.files import TEXT_EXTENSIONS, store_upload, too_large
from chatsite.chat.images import FORMATS, UploadRejected
from chatsite.chat.models import Attachment, Conversation, Preset
from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.chat.payloads import attachment_payload, conversation_payload, message_payload, preset_payload
from chatsite.lib.text import TextRefused, check_value
from chatsite.providers.bootstrap import localmodel_down_reason
from chatsite.providers.models import LanguageModel
from chatsite.teams import access
from chatsite.teams.models import TeamSettings
from chatsite.tools import registry


def _conversation_or_404(request: HttpRequest, code) -> Conversation:
    try:
        return Conversation.objects.owned(request.user, code)
    except Conversation.DoesNotExist:
        raise Http404(turns.NOT_FOUND) from None


def _json_body(request: HttpRequest) -> dict:
    """The request's JSON object with every text in it checked (ChatError otherwise)."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return {}
    try:
        return check_value(body) if isinstance(body, dict) else {}
    except TextRefused as error:
        raise turns.ChatError(error.message) from None


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(message)}, status=status)


def _refusals(view):
    """A JSON view whose refusals (ChatError, ParameterError) answer 400 with their message."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except turns.ChatError as error:
            return _error(error.message)
        except (ParameterError, TextRefused) as error:
            return _error(str(error))

    return wrapper


def _model_choices(allowed: list[LanguageModel]) -> list[dict]:
    return [
        {
            "id": str(m.code),
            "label": m.display_name,
            "provider": m.provider.name,
            "is_demo": m.provider.managed == "local",
            "abilities": m.abilities(),
        }
        for m in allowed
    ]


# Messages a page shows at first, and each time the reader scrolls back to the top: a
# conversation of thousands opens as fast as one of fifty.
PAGE_MESSAGES = 50


def _page_of_messages(
    conversation: Conversation, before: int | None = None, size: int = PAGE_MESSAGES
) -> tuple[list[dict], bool]:
    """The `size` messages before the message with pk `before` (the last ones when None),
    oldest first, and whether there are older ones."""
    queryset = conversation.messages.order_by("-pk").prefetch_related("attachments")
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    page = list(queryset[: size + 1])
    return [message_payload(m) for m in reversed(page[:size])], len(page) > size


def _newer_page(
    conversation: Conversation, after: int, size: int = PAGE_MESSAGES, *, inclusive: bool = False
) -> tuple[list[dict], bool]:
    """The `size` messages after the message with pk `after` (from it, when inclusive), oldest
    first, and whether there are newer ones: a page opened at a message, scrolled down."""
    newer = {"pk__gte" if inclusive else "pk__gt": after}
    queryset = conversation.messages.filter(**newer).order_by("pk").prefetch_related("attachments")
    page = list(queryset[: size + 1])
    return [message_payload(m) for m in page[:size]], len(page) > size


def _page_around(conversation: Conversation, at: int) -> tuple[list[dict], bool, bool]:
    """A page with the message with pk `at` in its middle, oldest first, and whether there are
    older and newer ones."""
    before, has_older = _page_of_messages(conversation, at, PAGE_MESSAGES // 2)
    after, has_newer = _newer_page(conversation, at, PAGE_MESSAGES - PAGE_MESSAGES // 2, inclusive=True)
    return before + after, has_older, has_newer


def _message_pk(conversation: Conversation, code) -> int | None:
    """The pk of the conversation's message with this id; None for any other id."""
    try:
        return conversation.messages.only("pk").get(code=code).pk
    except (ValidationError, ValueError, TypeError, conversation.messages.model.DoesNotExist):
        return None


@require_GET
def older_messages(request: HttpRequest, code) -> JsonResponse:
    """The page of messages before `?before=<message id>`, for a reader scrolling back; or, with
    `?after=<message id>`, the page after it, for one scrolling down a page opened at a message."""
    conversation = _conversation_or_404(request, code)
    if "after" in request.GET:
        after = _message_pk(conversation, request.GET["after"])
        if after is None:
            return _error(gettext("Message not found."), 404)
        messages, has_newer = _newer_page(conversation, after)
        return JsonResponse({"messages": messages, "has_newer": has_newer})
    before = _message_pk(conversation, request.GET.get("before"))
    if before is None:
        return _error(gettext("Message not found."), 404)
    messages, has_older = _page_of_messages(conversation, before)
    return JsonResponse({"messages": messages, "has_older": has_older})


@require_GET
def index(request: HttpRequest, code=None) -> HttpResponse:
    conversation = _conversation_or_404(request, code) if code else None
    messages, has_older, has_newer = [], False, False
    # ?at=<message id>: opened at that message (a search result), with the messages around it.
    at = _message_pk(conversation, request.GET["at"]) if conversation and "at" in request.GET else None
    if at is not None:
        messages, has_older, has_newer = _page_around(conversation, at)
    elif conversation:
        messages, has_older = _page_of_messages(conversation)
    allowed = turns.models_for(request.user)
    allowed_ids = {m.pk for m in allowed}
    models = _model_choices(allowed)
    default = next((m for m in allowed if m.is_default), allowed[0] if allowed else None)
    current = conversation.model if conversation and conversation.model else default
    # A conversation whose model is no longer allowed to this user says so (and the picker
    # offers the allowed ones).
    unavailable = None
    if current is not None and current not in allowed:
        unavailable = turns.not_allowed(current, allowed)
    config = {
        "conversation": conversation_payload(conversation) if conversation else None,
        "messages": messages,
        "has_older": has_older,
        "has_newer": has_newer,
        "at": request.GET["at"] if at is not None else None,
        "older_url": "/c/00000000-0000-0000-0000-000000000000/messages/",
        "models": models,
        "default_model": str(default.code) if default else None,
        "current_model": str(current.code) if current else None,
        "ws_path": "/ws/chat/",
        "upload_url": "/uploads/",
        "create_url": "/c/new/",
        "conversation_url": "/c/00000000-0000-0000-0000-000000000000/",
        "max_upload_bytes": settings.CHAT_MAX_UPLOAD_BYTES,
        "max_frame_bytes": settings.CHAT_MAX_FRAME_BYTES,
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "allowed_image_types": list(FORMATS.values()),
        "text_extensions": sorted(TEXT_EXTENSIONS),
        "demo_notice": bool(current and current.provider.managed == "local"),
        "demo_down": localmodel_down_reason(current.provider) if current else None,
        "no_models": not models,
        "model_unavailable": unavailable,
        "budget": remaining(access.rules(), request.user.pk),
        "presets": [preset_payload(p, allowed_ids) for p in Preset.objects.select_related("model__provider")],
        "preset_url": "/presets/",
        "tools": registry.choices(),
    }
    kept = keeping.sidebar(request.user)  # pinned, folders, the rest
    return render(
        request,
        "chat/chat.html",
        {
            "conversation": conversation,
            "conversations": kept.rest,
            "kept": kept,
            "config": config,
            "may_delete": TeamSettings.current().members_may_delete,
        },
    )


@require_POST
@_refusals
def create(request: HttpRequest) -> JsonResponse:
    model_code = _json_body(request).get("model")
    model = turns.pick_model(model_code, request.user) if model_code else turns.default_model(request.user)
    conversation = Conversation.objects.create(owner=request.user, model=model)
    return JsonResponse(conversation_payload(conversation), status=201)


@require_POST
@_refusals
def rename(request: HttpRequest, code) -> JsonResponse:
    conversation = _conversation_or_404(request, code)
    title = _json_body(request).get("title")
    if not isinstance(title, str) or not title.strip():
        return _error(gettext("The title is empty."))
    conversation.title = " ".join(title.split())[:200]
    conversation.save(update_fields=["title", "updated"])
    return JsonResponse(conversation_payload(conversation))


@require_POST
def delete(request: HttpRequest, code) -> JsonResponse:
    conversation = _conversation_or_404(request, code)
    if not TeamSettings.current().members_may_delete:
        # A site that must keep records: "delete" archives (js/archived.js shows the message).
        keeping.archive(conversation, True)
        message = gettext("Conversations are kept on this site: it was archived instead of deleted.")
        return JsonResponse({"ok": True, "archived": True, "message": message})
    retention.delete(Conversation.objects.filter(pk=conversation.pk))
    return JsonResponse({"ok": True})


@require_POST
@_refusals
def set_model(request: HttpRequest, code) -> JsonResponse:
    conversation = _conversation_or_404(request, code)
    conversation.model = turns.pick_model(_json_body(request).get("model"), request.user)
    conversation.save(update_fields=["model", "updated"])
    return JsonResponse(conversation_payload(conversation))


def _settings_from(user, body: dict, current_prompt: str = "", current_parameters: dict | None = None):
    """(system prompt, parameters, model or None) from a request body; ChatError or
    ParameterError saying why not."""
    prompt = turns.check_system_prompt(body.get("system_prompt", current_prompt))
    parameters = clean_parameters(body.get("parameters", current_parameters or {}))
    model = turns.pick_model(body["model"], user) if body.get("model") else None
    return prompt, parameters, model


@require_POST
@_refusals
def set_options(request: HttpRequest, code) -> JsonResponse:
    """System prompt, parameters, the tools switched on and optionally the model; only
    allow-listed, range-checked values are kept."""
    conversation = _conversation_or_404(request, code)
    body = _json_body(request)
    conversation.system_prompt, conversation.parameters, model = _settings_from(
        request.user, body, conversation.system_prompt, conversation.parameters
    )
    conversation.model = model or conversation.model
    if "tools" in body:
        try:
            conversation.tools = registry.clean_names(body["tools"])
        except ValueError as error:
            return _error(str(error))
    conversation.save(update_fields=["system_prompt", "parameters", "model", "tools", "updated"])
    return JsonResponse(conversation_payload(conversation))


@require_POST
@_refusals
def create_preset(request: HttpRequest) -> JsonResponse:
    """Save a team-wide preset: a name, a system prompt, parameters and optionally a model."""
    body = _json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        return _error(gettext("Give the preset a name of at most 100 characters."))
    prompt, parameters, model = _settings_from(request.user, body)
    if Preset.objects.filter(name=name.strip()).exists():
        return _error(gettext("A preset with that name exists already."))
    preset = Preset.objects.create(
        name=name.strip(), system_prompt=prompt, parameters=parameters, model=model, created_by=request.user
    )
    return JsonResponse(preset_payload(preset, {model.pk} if model else set()), status=201)


@require_POST
async def upload(request: HttpRequest) -> JsonResponse:
    # Async: the file is read in store_upload's few reader threads (a PDF's text can take
    # seconds), so many uploads at once cannot take a thread each; store_upload says where.
    # Oversized bodies are refused by the server before they are read (see chatsite/lib/daphne.py);
    # this is the second line, for servers that do not.
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.CHAT_MAX_UPLOAD_BYTES + 64 * 1024:
        error = too_large()
        return _error(error.message, error.status)
    try:
        attachment = await store_upload(request)
    except UploadRejected as error:
        return _error(error.message, error.status)
    return JsonResponse(attachment_payload(attachment), status=201)


@require_GET
def attachment(request: HttpRequest, code) -> FileResponse:
    try:
        item = Attachment.objects.get(code=code, owner=request.user)
    except (Attachment.DoesNotExist, ValidationError, ValueError):
        raise Http404(gettext("Attachment not found.")) from None
    return attachment_response(item)


def attachment_response(item: Attachment) -> FileResponse:
    """An attachment's file as served to those who may see it (its owner; a shared link's readers)."""
    # Only our re-encoded raster images, PDFs, audio and plain text are stored, never HTML or
    # SVG, and never sniffed. Images show inline; anything else is a download.
    if item.kind == Attachment.Kind.IMAGE:
        response = FileResponse(item.file.open("rb"), content_type=item.content_type)
        response["Content-Disposition"] = f'inline; filename="{item.code}.{item.extension}"'
    else:
        content_type = "text/plain; charset=utf-8" if item.kind == Attachment.Kind.TEXT else item.content_type
        name = item.original_name or f"{item.code}.{item.extension}"
        response = FileResponse(item.file.open("rb"), content_type=content_type, as_attachment=True, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
