"""Pure decoding of a stream's chunks (chunks.py): chunks seen on real servers (seeds 003 and
004), the odd ones, and text that a database could not store, at every split of the stream."""

import json

import pytest

from chatsite.lib.text import storable
from chatsite.providers.chunks import ChunkDecoder, decode_chunk
from chatsite.providers.events import Citations, Delta, Finish, Logprobs, Reasoning, Refusal, ToolCallDelta, Usage
from chatsite.providers.sse import SSEParser

KEY = "sk-test-0123456789abcdef"


def test_role_only_and_empty_chunks_yield_nothing() -> None:
    role = '{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'
    assert decode_chunk(role, KEY) == []
    assert decode_chunk('{"choices":[{"index":0,"delta":{},"finish_reason":null}]}', KEY) == []
    assert decode_chunk('{"choices":[],"usage":null}', KEY) == []


def test_a_tool_call_chunk_with_null_content_yields_the_call_and_its_finish_but_no_text() -> None:
    chunk = (
        '{"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"id":"call_1",'
        '"type":"function","function":{"name":"get_weather","arguments":"{}"}}]},'
        '"finish_reason":"tool_calls"}]}'
    )
    assert decode_chunk(chunk, KEY) == [ToolCallDelta(0, "call_1", "get_weather", "{}"), Finish("tool_calls")]


def test_tool_call_arguments_sent_as_an_object_are_taken_as_json() -> None:
    chunk = (
        '{"choices":[{"delta":{"content":"","tool_calls":[{"id":"7","function":'
        '{"name":"f","arguments":{"city":"Paris"}}}]},"finish_reason":null}]}'
    )
    assert decode_chunk(chunk, KEY) == [ToolCallDelta(None, "7", "f", '{"city": "Paris"}')]


def test_usage_details_are_read_and_malformed_ones_ignored() -> None:
    chunk = (
        '{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":7,"total_tokens":17,'
        '"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":5}}}'
    )
    assert decode_chunk(chunk, KEY) == [Usage(10, 7, 17, reasoning_tokens=5, cached_tokens=4)]
    odd = '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"completion_tokens_details":"x"}}'
    assert decode_chunk(odd, KEY) == [Usage(1, 1, 2)]


def test_flat_annotations_are_read_and_other_kinds_or_bad_urls_skipped() -> None:
    notes = [
        {"type": "url_citation", "url": "https://flat.example/", "title": 3, "start_index": -1, "end_index": "9"},
        {"type": "file_citation", "file_citation": {"file_id": "f1"}},
        {"type": "url_citation", "url_citation": {"url": ""}},
        {"type": "url_citation", "url_citation": {"url": "https://x/" + "a" * 3000}},
        "nonsense",
    ]
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"annotations": notes}, "finish_reason": None}]})
    cited = {"url": "https://flat.example/", "title": "", "start_index": None, "end_index": None}
    assert decode_chunk(chunk, KEY) == [Citations((cited,))]
    only_bad = json.dumps({"choices": [{"index": 0, "delta": {"annotations": notes[1:]}}]})
    assert decode_chunk(only_bad, KEY) == []


def test_odd_logprobs_are_bounded_not_trusted() -> None:
    content = [
        {"token": "a", "logprob": -1.234567, "top_logprobs": [{"token": "b", "logprob": None}, {"logprob": -1}]},
        {"token": "c", "logprob": 0.5, "top_logprobs": "x"},
        {"token": 7, "logprob": -1},
        {"token": "x" * 500, "logprob": float("-inf"), "top_logprobs": [{"token": "y", "logprob": -1}] * 30},
    ]
    chunk = json.dumps({"choices": [{"index": 0, "delta": {}, "logprobs": {"content": content}}]})
    [event] = decode_chunk(chunk, KEY)
    assert event.tokens[0] == ["a", -1.2346, [["b", -9999.0]]]
    assert event.tokens[1] == ["c", 0.0, []]
    assert len(event.tokens) == 3
    assert event.tokens[2][0] == "x" * 200 and event.tokens[2][1] == -9999.0 and len(event.tokens[2][2]) == 20


def test_a_top_level_list_of_source_urls_is_read_as_citations() -> None:
    chunk = (
        '{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}],'
        '"citations":["https://a.example/x", 7, "https://b.example/"]}'
    )
    events = decode_chunk(chunk, KEY)
    assert events[0] == Delta("Hi")
    assert [item["url"] for item in events[1].items] == ["https://a.example/x", "https://b.example/"]
    assert events[1].items[0]["title"] == ""


def chunk(delta: dict, **choice) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None, **choice}]})


# An emoji JSON-escaped as a surrogate pair, its halves in two chunks (seen from a provider).
SPLIT_EMOJI = [chunk({"content": "a\ud83d"}), chunk({"content": "\ude00b"}), chunk({}, finish_reason="stop")]
RAW = "".join(f"data: {payload}\n\n" for payload in SPLIT_EMOJI).encode() + b"data: [DONE]\n\n"


def text_of(pieces: list[bytes]) -> str:
    parser, decoder, text = SSEParser(), ChunkDecoder(KEY), []
    for piece in pieces:
        for payload in parser.feed(piece):
            if payload != "[DONE]":
                text += [event.text for event in decoder.decode(payload) if type(event) is Delta]
    return "".join(text)


def test_surrogate_halves_split_across_chunks_are_joined_into_their_character():
    assert SPLIT_EMOJI[0].count("\\ud83d") == 1  # the JSON really carries the escaped half
    assert text_of([RAW]) == "a\U0001f600b"


@pytest.mark.parametrize("cut", range(1, len(RAW)))
def test_the_joined_text_does_not_depend_on_network_boundaries(cut):
    assert text_of([RAW[:cut], RAW[cut:]]) == "a\U0001f600b"


def test_halves_that_never_pair_and_nul_are_dropped_from_every_field():
    decoder = ChunkDecoder(KEY)
    events = decoder.decode(
        json.dumps(
            {
                "choices": [
                    {
                        "delta": {
                            "reasoning_content": "think\udc00\x00ing",
                            "content": "x\udfffy\x00z",
                            "refusal": "no\x00pe",
                            "tool_calls": [
                                {"index": 0, "id": "c\x001", "function": {"name": "f", "arguments": '{"q": "\ud800"}'}}
                            ],
                            "annotations": [
                                {
                                    "type": "url_citation",
                                    "url_citation": {"url": "https://a.example/\x00", "title": "T\udc00"},
                                }
                            ],
                        },
                        "logprobs": {
                            "content": [
                                {"token": "\ud83d", "logprob": -0.1, "top_logprobs": [{"token": "\x00", "logprob": -1}]}
                            ]
                        },
                        "finish_reason": None,
                    }
                ]
            }
        )
    )
    assert Reasoning("thinking") in events
    assert Delta("xyz") in events
    assert Refusal("nope") in events
    [call] = [event for event in events if type(event) is ToolCallDelta]
    assert (call.id, call.arguments) == ("c1", '{"q": ""}')
    [cited] = [event for event in events if type(event) is Citations]
    assert cited.items[0]["url"] == "https://a.example/" and cited.items[0]["title"] == "T"
    [probs] = [event for event in events if type(event) is Logprobs]
    assert probs.tokens[0][0] == "" and probs.tokens[0][2][0][0] == ""
    for event in events:  # everything is now text both databases store
        for value in getattr(event, "__slots__", ()):
            if isinstance(text := getattr(event, value), str):
                text.encode("utf-8")
                assert "\x00" not in text


def test_a_held_half_waits_only_for_its_own_field():
    decoder = ChunkDecoder(KEY)
    assert decoder.decode(chunk({"content": "a\ud83d"})) == [Delta("a")]
    # A thought in between does not take the answer's half.
    assert decoder.decode(chunk({"reasoning_content": "hm", "content": "\ude00"})) == [
        Reasoning("hm"),
        Delta("\U0001f600"),
    ]


def test_a_half_left_at_the_end_of_the_stream_is_dropped():
    decoder = ChunkDecoder(KEY)
    assert decoder.decode(chunk({"content": "end\ud83d"})) == [Delta("end")]
    assert decoder.decode(chunk({}, finish_reason="stop")) == [Finish("stop")]


def test_storable_keeps_what_is_valid():
    assert storable("plain") == "plain"
    assert storable("日本語 \U0001f600 tab\tnew\nline") == "日本語 \U0001f600 tab\tnew\nline"


def test_negative_or_absurd_token_counts_are_not_trusted():
    events = decode_chunk('{"choices":[],"usage":{"prompt_tokens":-5,"completion_tokens":99999999999}}')
    assert events == [Usage(0, 100_000_000, 100_000_000)]
