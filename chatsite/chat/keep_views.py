"""JSON endpoints that keep and order a user's conversations (keeping.py): pin, archive,
folders and moves. Every object comes through its user's own queryset, so another user's id
answers 404, exactly like one that does not exist, and changes nothing."""

from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from chatsite.chat import keeping
from chatsite.chat.models import Folder
from chatsite.chat.turns import ChatError
from chatsite.chat.views import _conversation_or_404, _json_body, _refusals


def _folder_or_404(request: HttpRequest, code) -> Folder:
    try:
        return Folder.objects.owned(request.user, code)
    except Folder.DoesNotExist:
        raise Http404(gettext("Folder not found.")) from None


def _flag(body: dict, name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise ChatError(gettext("“%(name)s” must be true or false.") % {"name": name})
    return value


@require_POST
@_refusals
def pin(request: HttpRequest, code) -> JsonResponse:
    conversation = _conversation_or_404(request, code)
    keeping.pin(conversation, _flag(_json_body(request), "pinned"))
    return JsonResponse(keeping.kept_payload(conversation))


@require_POST
@_refusals
def archive(request: HttpRequest, code) -> JsonResponse:
    conversation = _conversation_or_404(request, code)
    keeping.archive(conversation, _flag(_json_body(request), "archived"))
    return JsonResponse(keeping.kept_payload(conversation))


@require_POST
@_refusals
def move(request: HttpRequest, code) -> JsonResponse:
    """Into the folder `{"folder": id}`, or out of any with `{"folder": null}`."""
    conversation = _conversation_or_404(request, code)
    body = _json_body(request)
    if "folder" not in body:
        return JsonResponse({"error": gettext("Say which folder to move it to.")}, status=400)
    folder = _folder_or_404(request, body["folder"]) if body["folder"] is not None else None
    keeping.move(conversation, folder)
    return JsonResponse(keeping.kept_payload(conversation))


@require_POST
@_refusals
def create_folder(request: HttpRequest) -> JsonResponse:
    folder = keeping.create_folder(request.user, _json_body(request).get("name"))
    return JsonResponse(keeping.folder_payload(folder), status=201)


@require_POST
@_refusals
def rename_folder(request: HttpRequest, code) -> JsonResponse:
    folder = _folder_or_404(request, code)
    keeping.rename_folder(folder, _json_body(request).get("name"))
    return JsonResponse(keeping.folder_payload(folder))


@require_POST
def delete_folder(request: HttpRequest, code) -> JsonResponse:
    keeping.delete_folder(_folder_or_404(request, code))
    return JsonResponse({"ok": True})


@require_GET
def archived(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"conversations": [keeping.kept_payload(c) for c in keeping.archived(request.user)]})
