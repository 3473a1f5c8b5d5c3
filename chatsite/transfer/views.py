"""Export (a conversation as Markdown or JSON, everything as a zip) and import, for one's own
conversations only: every export starts from Conversation.objects.for_user."""

import json
import zoneinfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from chatsite.chat.models import Conversation
from chatsite.transfer.archive import stream_archive
from chatsite.transfer.document import conversation_document
from chatsite.transfer.errors import ImportRefused
from chatsite.transfer.importing import import_file
from chatsite.transfer.markdown import conversation_markdown
from chatsite.transfer.names import content_disposition, safe_filename


def _zone(user) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _download(body, content_type: str, filename: str) -> HttpResponse:
    response = (StreamingHttpResponse if not isinstance(body, bytes) else HttpResponse)(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _conversation(request: HttpRequest, code) -> Conversation:
    try:
        return Conversation.objects.owned(request.user, code)
    except Conversation.DoesNotExist:
        raise Http404(_("Conversation not found.")) from None


@require_GET
def export_markdown(request: HttpRequest, code) -> HttpResponse:
    conversation = _conversation(request, code)
    text = conversation_markdown(conversation_document(conversation), _zone(request.user))
    name = safe_filename(conversation.title, "md")
    return _download(text.encode(), "text/markdown; charset=utf-8", name)


@require_GET
def export_json(request: HttpRequest, code) -> HttpResponse:
    conversation = _conversation(request, code)
    body = json.dumps(conversation_document(conversation), ensure_ascii=False, indent=1).encode()
    return _download(body, "application/json", safe_filename(conversation.title, "json"))


@require_GET
def export_all(request: HttpRequest) -> HttpResponse:
    day = timezone.localdate(timezone=_zone(request.user)).isoformat()
    name = safe_filename(f"chatsite {request.user.get_username()} {day}", "zip")
    return _download(stream_archive(request.user, _zone(request.user)), "application/zip", name)


def _max_mb() -> str:
    return f"{settings.IMPORT_MAX_BYTES / (1024 * 1024):g} MB"


def _too_large(request: HttpRequest, upload) -> bool:
    """Whether the upload is over IMPORT_MAX_BYTES (by its declared length, before it is read)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > settings.IMPORT_MAX_BYTES + 64 * 1024 or (
        upload is not None and upload.size > settings.IMPORT_MAX_BYTES
    )


@require_http_methods(["GET", "POST"])
def transfer_page(request: HttpRequest) -> HttpResponse:
    """Export everything, and import: the report of what came in and what did not, or why the
    file was refused (then nothing changed)."""
    context = {"max_bytes": settings.IMPORT_MAX_BYTES, "max_size": _max_mb(), "report": None, "error": ""}
    if request.method == "GET":
        return render(request, "transfer/page.html", context)
    status = 400
    if _too_large(request, None):  # before the body is parsed
        context["error"], status = _("The file is larger than %(size)s.") % {"size": _max_mb()}, 413
        return render(request, "transfer/page.html", context, status=status)
    upload = request.FILES.get("file")
    if upload is None:
        context["error"] = _("Choose a file to import.")
    elif _too_large(request, upload):
        context["error"], status = _("The file is larger than %(size)s.") % {"size": _max_mb()}, 413
    else:
        context["file_name"] = upload.name
        try:
            context["report"] = import_file(request.user, upload.file)
            status = 200
        except ImportRefused as refused:
            context["error"] = refused.message
    return render(request, "transfer/page.html", context, status=200 if context["report"] else status)
