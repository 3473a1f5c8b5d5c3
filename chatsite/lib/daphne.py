"""Runs chatsite under daphne, with what daphne does not do on its own.

daphne reads a whole request body (into memory or a temp file) before the application sees
it, so a view cannot refuse an oversized upload before the work is done. The limit is set
here, on daphne's request object, where the Content-Length header is first known.
"""

from daphne.http_protocol import WebRequest

_TOO_LARGE = b'{"error": "The request is too large."}'


def limit_request_bodies(max_bytes: int) -> None:
    """Answer 413 and close as soon as a request declares, or sends, more than max_bytes."""
    if getattr(WebRequest, "_chatsite_body_limit", None) is not None:
        WebRequest._chatsite_body_limit = max_bytes
        return
    original_got_length = WebRequest.gotLength
    original_handle_chunk = WebRequest.handleContentChunk
    WebRequest._chatsite_body_limit = max_bytes

    def refuse(request: WebRequest) -> None:
        request._chatsite_refused = True
        transport = request.channel.transport
        transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
        )
        transport.loseConnection()

    def got_length(request: WebRequest, length: int | None) -> None:
        request._chatsite_received = 0
        request._chatsite_refused = False
        original_got_length(request, length)
        if length is not None and length > WebRequest._chatsite_body_limit:
            refuse(request)

    def handle_chunk(request: WebRequest, data: bytes) -> None:
        if request._chatsite_refused:
            return
        request._chatsite_received += len(data)
        if request._chatsite_received > WebRequest._chatsite_body_limit:  # chunked, no length
            refuse(request)
            return
        original_handle_chunk(request, data)

    def process(request: WebRequest):
        if getattr(request, "_chatsite_refused", False):
            return None
        return original_process(request)

    original_process = WebRequest.process
    WebRequest.gotLength = got_length
    WebRequest.handleContentChunk = handle_chunk
    WebRequest.process = process
