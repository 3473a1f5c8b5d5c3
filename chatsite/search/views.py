"""The search box's answers: the user's own conversations and messages matching a query."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chatsite.search.searching import search
from chatsite.search.terms import MAX_WORD_CHARS, MAX_WORDS

MAX_QUERY_CHARS = MAX_WORDS * (MAX_WORD_CHARS + 1)


@require_GET
def results(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "")[:MAX_QUERY_CHARS]
    return JsonResponse({"query": query, "results": [found.payload() for found in search(request.user, query)]})
