"""The SSE parser gives the same events however the stream is cut into pieces."""

from __future__ import annotations

import pytest

from chatsite.providers.sse import SSEError, SSEParser

# A stream with every feature the parser handles: a keep-alive comment, ignored fields, a
# multi-line event, multi-byte characters (2, 3 and 4 bytes, and a ZWJ emoji sequence), and
# events with another name than "message", which are skipped (a ping, a vendor's HTML).
LF = (
    b": PROCESSING\n\n"
    b"event: ping\ndata: {}\n\n"
    b'data: {"choices":[{"delta":{"content":"Gr\xc3\xbc\xc3\x9fe"}}]}\n\n'
    b"event:vendor.status\ndata: <html><body>busy</body></html>\n\n"
    b"event: message\nid: 7\nretry: 1000\n"
    b"data: first line\ndata:second line\ndata\n\n"
    b'data: {"content":"\xe5\xae\xb6\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"}\n\n'
    b":\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    '{"choices":[{"delta":{"content":"Grüße"}}]}',
    "first line\nsecond line\n",
    '{"content":"家👨\u200d👩"}',
    "[DONE]",
]
CRLF = LF.replace(b"\n", b"\r\n")
CR = LF.replace(b"\n", b"\r")
STREAMS = {"lf": LF, "crlf": CRLF, "cr": CR}


def parse(pieces: list[bytes], **kw: int) -> list[str]:
    parser = SSEParser(**kw)
    events: list[str] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def test_the_whole_stream_at_once_gives_every_event() -> None:
    assert parse([LF]) == EXPECTED


@pytest.mark.parametrize(("name", "cut"), [(name, cut) for name, raw in STREAMS.items() for cut in range(1, len(raw))])
def test_events_do_not_depend_on_chunk_boundaries(name: str, cut: int) -> None:
    raw = STREAMS[name]
    assert parse([raw[:cut], raw[cut:]]) == EXPECTED


@pytest.mark.parametrize("name", STREAMS)
def test_one_byte_at_a_time_gives_the_same_events(name: str) -> None:
    raw = STREAMS[name]
    assert parse([raw[i : i + 1] for i in range(len(raw))]) == EXPECTED


def test_events_are_returned_as_soon_as_their_blank_line_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\ndata: b\n\ndata: c") == ["a", "b"]
    assert parser.feed(b"\n\n") == ["c"]


def test_a_cr_ending_one_piece_and_a_lf_opening_the_next_are_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == ["a"]
    assert parser.feed(b"\ndata: b\r\n\r\n") == ["b"]


def test_mixed_line_endings_are_all_line_endings() -> None:
    assert parse([b"data: a\r\n\ndata: b\r\rdata: c\n\r\n"]) == ["a", "b", "c"]


def test_comments_and_other_fields_are_skipped() -> None:
    raw = b": PROCESSING\n\nevent: ping\nid: 1\nretry: 5\nfoo: bar\n\n:keepalive\n\ndata: x\n\n"
    assert parse([raw]) == ["x"]


def test_an_event_name_holds_for_its_own_event_only() -> None:
    # A named event without data dispatches nothing, and its name does not carry over.
    assert parse([b"event: ping\n\ndata: a\n\nevent: ping\ndata: b\n\ndata: c\n\n"]) == ["a", "c"]
    assert parse([b"event\ndata: bare event field is a message\n\n"]) == ["bare event field is a message"]


def test_data_lines_of_one_event_are_joined_with_newlines() -> None:
    assert parse([b'data: {\ndata:   "a": 1\ndata: }\n\n']) == ['{\n  "a": 1\n}']


def test_only_one_space_after_the_colon_is_removed() -> None:
    raw = b"data:x\n\ndata:  x\n\ndata\n\ndata:\n\ndatax: y\n\n"
    assert parse([raw]) == ["x", " x", "", ""]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse([b"\n\n\r\n\nevent: x\n\n"]) == []


def test_a_multibyte_character_split_between_feeds_is_decoded_whole() -> None:
    emoji = "👋🏽".encode()
    parser = SSEParser()
    events: list[str] = []
    for byte in b"data: " + emoji + b"\n\n":
        events += parser.feed(bytes([byte]))
    assert events == ["👋🏽"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert parse([b"data: a\xffb\n\n"]) == ["a\ufffdb"]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert parse([b"\xef\xbb", b"\xbfdata: a\n\n"]) == ["a"]


def test_close_returns_a_last_event_without_its_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: b\n") == ["a"]
    assert parser.close() == ["b"]


def test_close_returns_a_last_line_without_its_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"x": 1}') == []
    assert parser.close() == ['{"x": 1}']


def test_close_with_nothing_pending_returns_nothing() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\n: bye\n") == ["a"]
    assert parser.close() == []


def test_an_endless_line_raises_once_over_the_limit() -> None:
    parser = SSEParser(max_event_bytes=1000)
    parser.feed(b"data: ")
    with pytest.raises(SSEError):
        for _ in range(20):
            parser.feed(b"x" * 100)


def test_an_event_of_many_data_lines_over_the_limit_raises() -> None:
    parser = SSEParser(max_event_bytes=1000)
    with pytest.raises(SSEError):
        parser.feed(b"data: xxxxxxxxx\n" * 200)


def test_an_oversized_line_arriving_whole_raises() -> None:
    with pytest.raises(SSEError):
        SSEParser(max_event_bytes=1000).feed(b"data: " + b"x" * 2000 + b"\n\n")


def test_the_limit_applies_per_event_not_to_the_whole_stream() -> None:
    events = parse([b"data: " + b"x" * 500 + b"\n\n"] * 100, max_event_bytes=1000)
    assert len(events) == 100


def test_the_default_limit_allows_large_events() -> None:
    big = b"y" * 500_000
    pieces = [b"data: "] + [big[i : i + 1500] for i in range(0, len(big), 1500)] + [b"\n\n"]
    assert parse(pieces) == [big.decode()]
