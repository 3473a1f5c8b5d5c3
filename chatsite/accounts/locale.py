"""The reader's language and time zone: the one place that decides them.

A signed-in user's own choice (their profile, or the switch in the top bar) comes first; else
the language cookie (the switch, before signing in); else the browser's Accept-Language
(Django's LocaleMiddleware, which runs before this). The choice is also written to the cookie,
so the login page after signing out still speaks it, and the websocket, which has no Django
request, reads the same three things (for_scope).
"""

import zoneinfo
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header


def supported(code: str | None) -> str | None:
    """The language of settings.LANGUAGES that code names (zh-TW → zh-hant), or None."""
    if not code:
        return None
    try:
        # Lower case: Django looks its fallbacks (zh-tw → zh-hant) up by lower-case names.
        return translation.get_supported_language_variant(code.lower())
    except LookupError:
        return None


def chosen_by(user) -> str | None:
    """The user's own choice of language; None follows the browser."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return supported(user.language)


def zone_of(user) -> zoneinfo.ZoneInfo | None:
    """The user's time zone; None is the server's (TIME_ZONE)."""
    name = getattr(user, "time_zone", "") if getattr(user, "is_authenticated", False) else ""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def remember(response: HttpResponse, language: str) -> None:
    """Keep the language in the browser's cookie (Django's, as set_language writes it)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class UserLocale:
    """After AuthenticationMiddleware: the signed-in user's language and time zone for this
    request (LocaleMiddleware has already applied the cookie's or the browser's)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = chosen_by(user)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        zone = zone_of(user)
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        response = self.get_response(request)
        if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
            remember(response, language)
        return response


def for_scope(scope: dict) -> str:
    """The language of a websocket connection: the user's, the cookie's, the browser's."""
    language = chosen_by(scope.get("user"))
    if language:
        return language
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header: as if there were none
        cookies = SimpleCookie()
    cookie = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    language = supported(cookie.value if cookie else None)
    if language:
        return language
    for code, _quality in parse_accept_lang_header(headers.get("accept-language", "")):
        if code != "*" and (language := supported(code)):
            return language
    return settings.LANGUAGE_CODE
