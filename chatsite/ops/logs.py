"""One log line per request and per answer, as text or JSON (LOG_FORMAT=json) for log shippers.

A line carries ids, figures and states, never a message's text, a key or a header: what goes
into `extra` here is chosen field by field.
"""

from __future__ import annotations

import json
import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

requests = logging.getLogger("chatsite.requests")
answers = logging.getLogger("chatsite.answers")

# The fields a line may carry (anything else in a record's __dict__ is left out of JSON).
FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
    "conversation_id",
    "message_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "error_kind",
)


class JsonFormatter(logging.Formatter):
    """A JSON object per line: time, level, logger, message, and the known fields present."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual text line, with the known fields after it as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name, None) is not None
        )
        return f"{line} {fields}" if fields else line


class RequestLog:
    """Middleware: a line per HTTP request (the path without its query, which may carry a
    token). Sync and async alike, so an async view costs no thread hop for it."""

    sync_capable = async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        began = time.monotonic()
        response = self.get_response(request)
        _log(request, response, began)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        began = time.monotonic()
        response = await self.get_response(request)
        _log(request, response, began)
        return response


def _log(request: HttpRequest, response: HttpResponse, began: float) -> None:
    # The user as the auth middleware left it (no query: a lazy user already loaded, or not).
    user = getattr(request, "_cached_user", None)
    requests.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path[:300],
            "status": response.status_code,
            "duration_ms": round((time.monotonic() - began) * 1000, 1),
            "user_id": user.pk if user is not None and user.is_authenticated else None,
        },
    )
