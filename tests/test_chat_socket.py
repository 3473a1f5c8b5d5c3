"""The chat websocket end to end: the real ASGI app, a real session, the loopback upstream."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chatsite.chat.models import Conversation, Message
from chatsite.chat.saving import reap_stale
from tests.conftest import SECRET, answer_text, frames_until, is_done, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def conversation(alice, model):
    return Conversation.objects.create(owner=alice, model=model)


async def start(socket, conversation, text="Hi there"):
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": text})
    return code


async def saved(message_id: str) -> Message:
    return await Message.objects.aget(code=message_id)


async def test_answer_streams_in_and_is_saved(alice, conversation, upstream):
    socket = await open_socket(alice)
    await start(socket, conversation, "Hi there")
    frames = await frames_until(socket, is_done)

    added = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["role"] for m in added] == ["user", "assistant"]
    assert added[0]["text"] == "Hi there"
    assert added[1]["status"] == "streaming"
    assert answer_text(frames) == "Hello, world!"
    done = frames[-1]["message"]
    assert done["status"] == "complete"
    assert done["text"] == "Hello, world!"
    assert done["finish_reason"] == "stop"
    assert done["completion_tokens"] == 4
    assert done["first_token_ms"] is not None

    row = await saved(done["id"])
    assert (row.text, row.status, row.completion_tokens, row.model_name) == (
        "Hello, world!",
        "complete",
        4,
        "test/model-a",
    )
    sent = upstream.requests[-1]
    assert sent["json"]["model"] == "test/model-a"
    assert sent["json"]["stream"] is True
    assert sent["json"]["stream_options"] == {"include_usage": True}
    assert sent["json"]["messages"] == [{"role": "user", "content": "Hi there"}]
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    assert all(SECRET not in str(f) for f in frames)
    await socket.disconnect()


async def test_conversation_gets_its_title_from_the_first_message(alice, conversation, upstream):
    socket = await open_socket(alice)
    await start(socket, conversation, "How do   I bake bread?")
    frames = await frames_until(socket, is_done)
    titles = [f["conversation"]["title"] for f in frames if f["type"] == "conversation"]
    assert titles == ["How do I bake bread?"]
    await socket.disconnect()


async def test_history_and_system_prompt_are_sent_upstream(alice, conversation, upstream):
    conversation.system_prompt = "Be brief."
    conversation.parameters = {"temperature": 0.3}
    await conversation.asave()
    socket = await open_socket(alice)
    await start(socket, conversation, "One")
    await frames_until(socket, is_done)
    await socket.send_json_to({"type": "send", "conversation": str(conversation.code), "text": "Two"})
    await frames_until(socket, is_done)
    body = upstream.requests[-1]["json"]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": "Two"},
    ]
    assert body["temperature"] == 0.3
    await socket.disconnect()


async def test_second_tab_sees_the_same_stream(alice, conversation, upstream):
    upstream.script(tokens=[f"t{i} " for i in range(20)], delay=0.01)
    first = await open_socket(alice)
    second = await open_socket(alice)
    await second.send_json_to({"type": "subscribe", "conversation": str(conversation.code)})
    await asyncio.sleep(0.05)
    await start(first, conversation)
    frames_first = await frames_until(first, is_done)
    frames_second = await frames_until(second, is_done)
    expected = "".join(f"t{i} " for i in range(20))
    assert answer_text(frames_first) == expected
    assert answer_text(frames_second) == expected
    await first.disconnect()
    await second.disconnect()


async def test_stop_keeps_partial_answer_and_closes_upstream(alice, conversation, upstream):
    upstream.script(tokens=[f"w{i} " for i in range(200)], delay=0.02)
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 3)
    await socket.send_json_to({"type": "stop", "conversation": code})
    frames = await frames_until(socket, is_done, timeout=2)
    done = frames[-1]["message"]
    assert done["status"] == "stopped"
    assert done["text"].startswith("w0 w1 w2 ")
    assert len(done["text"].split()) < 200
    assert await upstream.wait_disconnects_async(1, timeout=2), "the upstream request was not closed"
    row = await saved(done["id"])
    assert (row.status, row.text) == ("stopped", done["text"])
    await socket.disconnect()


async def test_closing_the_tab_does_not_stop_or_lose_the_answer(alice, conversation, upstream):
    upstream.script(tokens=[f"x{i} " for i in range(30)], delay=0.01)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, lambda f: f["type"] == "delta")
    answer_id = next(
        f["message"]["id"] for f in frames if f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    await socket.disconnect()
    for _ in range(100):
        row = await saved(answer_id)
        if row.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert row.status == "complete"
    assert row.text == "".join(f"x{i} " for i in range(30))


async def test_growing_answer_is_written_while_it_streams(alice, conversation, upstream):
    upstream.script(tokens=[f"y{i} " for i in range(40)], delay=0.02)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 10)
    answer_id = next(
        f["message"]["id"] for f in frames if f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    await asyncio.sleep(0.15)  # a few flush ticks
    row = await saved(answer_id)
    assert row.status == "streaming"
    assert row.text.startswith("y0 y1 y2 ")
    await frames_until(socket, is_done)
    await socket.disconnect()


async def test_reload_mid_answer_shows_text_so_far_then_the_rest(alice, conversation, upstream):
    tokens = [f"z{i} " for i in range(40)]
    upstream.script(tokens=tokens, delay=0.015)
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 5)
    await socket.disconnect()  # the tab reloads

    reloaded = await open_socket(alice)
    await reloaded.send_json_to({"type": "subscribe", "conversation": code})
    frames = await frames_until(reloaded, is_done)
    snapshot = next(f for f in frames if f["type"] == "snapshot")
    assert snapshot["message"]["text"].startswith("z0 z1 z2 z3 ")
    text, seq = snapshot["message"]["text"], snapshot["seq"]
    for frame in frames:
        if frame["type"] == "delta" and frame["seq"] > seq:
            assert frame["seq"] == seq + 1, "a gap after the snapshot"
            text, seq = text + frame["text"], frame["seq"]
    assert text == "".join(tokens) == frames[-1]["message"]["text"]
    await reloaded.disconnect()


@pytest.mark.parametrize(
    ("script", "status", "words"),
    [
        ({"status": 401}, "error", "API key"),
        ({"status": 404}, "error", "404"),
        ({"status": 429, "retry_after": 20}, "error", "20"),
        ({"status": 500}, "error", "500"),
        ({"drop_after": 2}, "error", "dropped"),
        ({"malformed_after": 2}, "error", ""),
        ({"error_event_after": 2}, "error", ""),
        ({"finish_reason": None, "done": False}, "error", ""),
    ],
)
async def test_provider_failures_are_told_and_partial_text_kept(alice, conversation, upstream, script, status, words):
    upstream.script(tokens=["Part", "ial", " more", " text"], **script)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    done = frames[-1]["message"]
    # However fast it fails, the tab is shown the answer streaming first, then its end.
    [shown] = [f["message"] for f in frames if f["type"] == "message" and f["message"]["id"] == done["id"]]
    assert shown["status"] == "streaming" and not shown["error"]
    assert done["status"] == status
    assert done["error"]
    assert words.lower() in done["error"].lower()
    assert SECRET not in done["error"]
    if script.get("drop_after") or script.get("malformed_after") or script.get("error_event_after"):
        assert done["text"] == "Partial"
    row = await saved(done["id"])
    assert (row.status, row.text, row.error) == (done["status"], done["text"], done["error"])
    await socket.disconnect()


async def test_hanging_provider_times_out_with_a_clear_error(alice, conversation, upstream, settings):
    settings.PROVIDER_IDLE_TIMEOUT = 0.3
    upstream.script(hang=True)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    done = frames[-1]["message"]
    assert done["status"] == "error"
    assert "sent nothing for 0.3 s" in done["error"]
    await socket.disconnect()


async def test_unreachable_provider_is_an_error_not_a_hang(alice, conversation, provider):
    provider.base_url = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    await provider.asave()
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    assert frames[-1]["message"]["status"] == "error"
    assert frames[-1]["message"]["error"]
    await socket.disconnect()


async def test_huge_chunk_arrives_whole(alice, conversation, upstream):
    upstream.script(tokens=["a"], huge_chunk=200_000)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    assert frames[-1]["message"]["status"] == "complete"
    assert len(frames[-1]["message"]["text"]) == 200_001
    await socket.disconnect()


async def test_second_send_while_streaming_is_refused(alice, conversation, upstream):
    upstream.script(tokens=["slow "] * 30, delay=0.02)
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    await frames_until(socket, lambda f: f["type"] == "delta")
    await socket.send_json_to({"type": "send", "conversation": code, "text": "again"})
    frames = await frames_until(socket, lambda f: f["type"] == "error")
    assert "still streaming" in frames[-1]["error"]
    await frames_until(socket, is_done)
    await socket.disconnect()


async def test_regenerate_replaces_the_last_answer(alice, conversation, upstream):
    socket = await open_socket(alice)
    code = await start(socket, conversation, "Question")
    first = (await frames_until(socket, is_done))[-1]["message"]
    upstream.script(tokens=["Another", " answer"])
    await socket.send_json_to({"type": "regenerate", "conversation": code})
    frames = await frames_until(socket, is_done)
    truncated = next(f for f in frames if f["type"] == "truncated")
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert truncated["after"] == str(question.code)
    assert frames[-1]["message"]["text"] == "Another answer"
    assert not await Message.objects.filter(code=first["id"]).aexists()
    assert [m.text async for m in Message.objects.filter(conversation=conversation)] == ["Question", "Another answer"]
    await socket.disconnect()


async def test_edit_resends_and_drops_later_messages(alice, conversation, upstream):
    socket = await open_socket(alice)
    code = await start(socket, conversation, "First question")
    await frames_until(socket, is_done)
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Second question"})
    await frames_until(socket, is_done)
    first = await Message.objects.aget(conversation=conversation, text="First question")
    upstream.script(tokens=["Edited", " answer"])
    await socket.send_json_to(
        {"type": "edit", "conversation": code, "message": str(first.code), "text": "Better question"}
    )
    frames = await frames_until(socket, is_done)
    assert frames[-1]["message"]["text"] == "Edited answer"
    texts = [m.text async for m in Message.objects.filter(conversation=conversation)]
    assert texts == ["Better question", "Edited answer"]
    assert upstream.requests[-1]["json"]["messages"] == [{"role": "user", "content": "Better question"}]
    await socket.disconnect()


async def test_answers_left_streaming_by_a_dead_process_are_marked_interrupted(alice, conversation):
    orphan = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="streaming", text="half an ans"
    )
    reaped = await sync_to_async(reap_stale)(0)
    assert [m.pk for m in reaped] == [orphan.pk]
    row = await Message.objects.aget(pk=orphan.pk)
    assert row.status == "interrupted"
    assert row.text == "half an ans"
    assert row.error


async def test_oversized_frame_says_why_and_closes_the_socket_with_4009(alice, conversation, settings):
    socket = await open_socket(alice)
    await socket.send_to(text_data='{"type": "send", "text": "' + "x" * (settings.CHAT_MAX_FRAME_BYTES + 1) + '"}')
    # daphne passes no close reason on: the reason comes first, as an error frame.
    error = await socket.receive_json_from(timeout=2)
    assert error["type"] == "error" and "too large" in error["error"] and "64 KB" in error["error"]
    output = await socket.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4009}


async def test_malformed_frames_get_an_error_and_the_socket_stays(alice, conversation, upstream):
    socket = await open_socket(alice)
    for raw in ["not json", "[1, 2]", '{"type": "launch-missiles"}']:
        await socket.send_to(text_data=raw)
        frame = await socket.receive_json_from(timeout=2)
        assert frame["type"] == "error"
    await start(socket, conversation)
    assert (await frames_until(socket, is_done))[-1]["message"]["status"] == "complete"
    await socket.disconnect()


async def test_subscribing_after_the_answer_ended_sends_its_final_state(alice, conversation, upstream):
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    done = (await frames_until(socket, is_done))[-1]["message"]
    await socket.disconnect()
    returning = await open_socket(alice)
    await returning.send_json_to({"type": "subscribe", "conversation": code})
    frame = await returning.receive_json_from(timeout=2)
    assert frame == {"type": "done", "conversation": code, "message": done}
    await returning.disconnect()


async def test_users_sending_at_the_same_moment_each_get_their_own_answer(alice, bob, charlie, model, upstream):
    # Sends that arrive together are written in one trip to the database (sendqueue.py).
    users = [alice, bob, charlie]
    conversations = [await Conversation.objects.acreate(owner=user, model=model) for user in users]
    sockets = [await open_socket(user) for user in users]
    for socket, conversation in zip(sockets, conversations, strict=True):
        await socket.send_json_to({"type": "subscribe", "conversation": str(conversation.code)})
    await asyncio.gather(
        *(
            socket.send_json_to({"type": "send", "conversation": str(conversation.code), "text": f"From {user}"})
            for socket, conversation, user in zip(sockets, conversations, users, strict=True)
        )
    )
    for socket, conversation, user in zip(sockets, conversations, users, strict=True):
        frames = await frames_until(socket, is_done)
        shown = {f["conversation"]["id"] if f["type"] == "conversation" else f["conversation"] for f in frames}
        assert shown == {str(conversation.code)}
        questions = [f["message"]["text"] for f in frames if f["type"] == "message" and f["message"]["role"] == "user"]
        assert questions == [f"From {user}"]
        assert answer_text(frames) == "Hello, world!"
        assert frames[-1]["message"]["status"] == "complete"
        await socket.disconnect()
    sent = sorted(r["json"]["messages"][-1]["content"] for r in upstream.requests)
    assert sent == sorted(f"From {user}" for user in users)


async def test_thinking_streams_and_is_saved_apart_from_the_answer(alice, conversation, upstream):
    upstream.script(reasoning=["Hmm, ", "a greeting."], tokens=["Hi", "!"], delay=0.01)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)

    deltas = [f for f in frames if f["type"] == "delta"]
    assert "".join(d.get("reasoning", "") for d in deltas) == "Hmm, a greeting."
    assert answer_text(frames) == "Hi!"
    done = frames[-1]["message"]
    assert (done["text"], done["reasoning"], done["reasoning_tokens"]) == ("Hi!", "Hmm, a greeting.", 2)
    row = await saved(done["id"])
    assert (row.text, row.reasoning, row.reasoning_tokens, row.completion_tokens) == ("Hi!", "Hmm, a greeting.", 2, 4)
    await socket.disconnect()

    # The thinking is never sent back to the provider.
    socket = await open_socket(alice)
    await start(socket, conversation, "And now?")
    await frames_until(socket, lambda f: is_done(f) and f["message"]["id"] != done["id"])
    assert upstream.requests[-1]["json"]["messages"][1] == {"role": "assistant", "content": "Hi!"}
    await socket.disconnect()


async def test_a_tab_that_rejoins_while_the_model_thinks_gets_the_thinking_so_far(alice, conversation, upstream):
    upstream.script(reasoning=[f"r{i} " for i in range(30)], tokens=["Done."], delay=0.02)
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 3)
    await socket.disconnect()

    reloaded = await open_socket(alice)
    await reloaded.send_json_to({"type": "subscribe", "conversation": code})
    frames = await frames_until(reloaded, is_done)
    snapshot = next(f for f in frames if f["type"] == "snapshot")
    later = [f for f in frames if f["type"] == "delta" and f["seq"] > snapshot["seq"]]
    shown = snapshot["message"]["reasoning"] + "".join(f.get("reasoning", "") for f in later)
    assert snapshot["message"]["reasoning"].startswith("r0 r1 ")
    assert shown == "".join(f"r{i} " for i in range(30))
    assert frames[-1]["message"]["text"] == "Done."
    await reloaded.disconnect()


async def test_a_refusal_is_streamed_and_saved_apart_from_the_empty_answer(alice, conversation, upstream):
    upstream.script(tokens=[], refusal=["I can't ", "help with that."])
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    assert "".join(f.get("refusal", "") for f in frames if f["type"] == "delta") == "I can't help with that."
    done = frames[-1]["message"]
    assert (done["text"], done["refusal"], done["status"]) == ("", "I can't help with that.", "complete")
    row = await saved(done["id"])
    assert row.refusal == "I can't help with that."
    await socket.disconnect()


async def test_usage_the_provider_did_not_send_is_estimated_and_marked(alice, conversation, upstream):
    upstream.script(tokens=["abcd", "efgh", "ij"], usage=False)  # 10 characters
    socket = await open_socket(alice)
    await start(socket, conversation, "Hi there, how are you?")  # 22 characters
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert (done["prompt_tokens"], done["completion_tokens"], done["total_tokens"]) == (6, 3, 9)
    assert done["usage_estimated"] is True
    await socket.disconnect()

    upstream.script(tokens=["ok"])  # reported: not estimated
    socket = await open_socket(alice)
    await start(socket, conversation, "Again")
    done2 = (await frames_until(socket, lambda f: is_done(f) and f["message"]["id"] != done["id"]))[-1]["message"]
    assert done2["usage_estimated"] is False
    assert done2["completion_tokens"] == 1
    await socket.disconnect()


async def test_continue_grows_an_answer_cut_off_at_its_length_limit(alice, conversation, upstream):
    upstream.script(tokens=["One ", "two "], finish_reason="length")
    socket = await open_socket(alice)
    code = await start(socket, conversation, "Count")
    first = (await frames_until(socket, is_done))[-1]["message"]
    assert first["finish_reason"] == "length"

    upstream.script(tokens=["three."])
    await socket.send_json_to({"type": "continue", "conversation": code})
    frames = await frames_until(socket, is_done)
    again = next(f["message"] for f in frames if f["type"] == "message")
    assert (again["id"], again["status"], again["text"]) == (first["id"], "streaming", "One two ")
    assert [f["seq"] for f in frames if f["type"] == "delta"][0] == 1
    done = frames[-1]["message"]
    assert (done["id"], done["text"], done["finish_reason"]) == (first["id"], "One two three.", "stop")
    assert done["completion_tokens"] == first["completion_tokens"] + 1  # the usage of both requests
    sent = upstream.requests[-1]["json"]["messages"]
    assert sent[-2] == {"role": "assistant", "content": "One two "}
    assert sent[-1]["role"] == "user" and "Continue" in sent[-1]["content"]
    assert await Message.objects.filter(conversation=conversation).acount() == 2

    # A complete answer cannot be continued.
    await socket.send_json_to({"type": "continue", "conversation": code})
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and "length limit" in error["error"]
    await socket.disconnect()


async def test_a_model_that_refuses_max_tokens_is_retried_with_max_completion_tokens_and_remembered(
    alice, conversation, model, upstream
):
    conversation.parameters = {"max_tokens": 50}
    await conversation.asave()
    upstream.script(tokens=["Fine."], refuse_field="max_tokens")
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert (done["status"], done["text"]) == ("complete", "Fine.")
    refused, retried = upstream.requests[-2]["json"], upstream.requests[-1]["json"]
    assert refused["max_tokens"] == 50 and "max_completion_tokens" not in refused
    assert retried["max_completion_tokens"] == 50 and "max_tokens" not in retried
    await model.arefresh_from_db()
    assert model.token_field == "max_completion_tokens"

    # Next time the right field goes at once.
    upstream.script(tokens=["Again."], refuse_field="max_tokens")
    await socket.send_json_to({"type": "send", "conversation": code, "text": "More"})
    await frames_until(socket, lambda f: is_done(f) and f["message"]["id"] != done["id"])
    assert upstream.requests[-1]["json"]["max_completion_tokens"] == 50
    assert len(upstream.requests) == 3
    await socket.disconnect()


async def test_the_system_prompt_goes_as_developer_to_o_series_models(alice, provider, upstream):
    o3 = await provider.models.acreate(name="openai/o3-mini")
    conversation = await Conversation.objects.acreate(owner=alice, model=o3, system_prompt="Be brief.")
    conversation.parameters = {"max_tokens": 20}
    await conversation.asave()
    socket = await open_socket(alice)
    await start(socket, conversation)
    await frames_until(socket, is_done)
    sent = upstream.requests[-1]["json"]
    assert sent["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert sent["max_completion_tokens"] == 20 and "max_tokens" not in sent
    await socket.disconnect()


@pytest.mark.parametrize(
    ("tokens", "check"),
    [
        (['{"city": ', '"Paris"}'], "valid"),
        (['{"city": ', "3}"], "Does not match the schema at city: 3 is not of type 'string'"),
        (['{"city": "Par'], "Not valid JSON: "),
    ],
)
async def test_an_answer_asked_for_by_json_schema_is_checked_against_it(alice, conversation, upstream, tokens, check):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    conversation.parameters = {
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    }
    await conversation.asave()
    upstream.script(tokens=tokens)
    socket = await open_socket(alice)
    await start(socket, conversation)
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["json_check"].startswith(check)
    assert (await saved(done["id"])).json_check == done["json_check"]
    await socket.disconnect()


def url_citation(url: str, title: str, start: int | None = None, end: int | None = None) -> dict:
    cited: dict = {"url": url, "title": title}
    if start is not None:
        cited |= {"start_index": start, "end_index": end}
    return {"type": "url_citation", "url_citation": cited}


@pytest.mark.parametrize("where", ["delta", "finish", "message"])
async def test_citations_are_streamed_deduplicated_by_url_and_saved(alice, conversation, upstream, where):
    notes = [
        url_citation("https://example.com/hello", "Hello page", 0, 5),
        url_citation("https://example.com/world", "World page", 7, 12),
        url_citation("https://example.com/hello", "Hello again", 13, 13),  # the same page, another span
    ]
    upstream.script(annotations=notes, annotations_in=where)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)

    expected = [
        {"url": "https://example.com/hello", "title": "Hello page", "start_index": 0, "end_index": 5},
        {"url": "https://example.com/world", "title": "World page", "start_index": 7, "end_index": 12},
    ]
    sent = [c for f in frames if f["type"] == "delta" for c in f.get("citations", [])]
    assert sent == expected
    assert answer_text(frames) == "Hello, world!"
    done = frames[-1]["message"]
    assert done["citations"] == expected
    row = await saved(done["id"])
    assert row.citations == expected
    await socket.disconnect()


async def test_an_answer_without_citations_or_logprobs_sends_none(alice, conversation, upstream):
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    assert all("citations" not in f and "logprobs" not in f for f in frames if f["type"] == "delta")
    assert (frames[-1]["message"]["citations"], frames[-1]["message"]["logprobs"]) == ([], [])
    assert "logprobs" not in upstream.requests[-1]["json"]
    assert "web_search_options" not in upstream.requests[-1]["json"]
    await socket.disconnect()


async def test_web_search_options_reach_a_model_that_searches_and_no_other(alice, conversation, model, upstream):
    options = {
        "search_context_size": "low",
        "user_location": {"type": "approximate", "approximate": {"country": "FR", "city": "Lyon"}},
    }
    conversation.parameters = {"web_search_options": options, "reasoning_effort": "low", "logprobs": True}
    await conversation.asave()
    await type(model).objects.filter(pk=model.pk).aupdate(web_search=True, reasoning=False, logprobs=False)
    socket = await open_socket(alice)
    await start(socket, conversation)
    await frames_until(socket, is_done)
    sent = upstream.requests[-1]["json"]
    assert sent["web_search_options"] == options
    # What the model is known not to take is left out, not sent to be refused.
    assert "reasoning_effort" not in sent and "logprobs" not in sent
    await type(model).objects.filter(pk=model.pk).aupdate(web_search=False, reasoning=True)
    await socket.send_json_to({"type": "send", "conversation": str(conversation.code), "text": "Again"})
    await frames_until(socket, lambda f: f["type"] == "message" and f["message"]["text"] == "Again")
    await frames_until(socket, is_done)
    sent = upstream.requests[-1]["json"]
    assert "web_search_options" not in sent and sent["reasoning_effort"] == "low"
    await socket.disconnect()


LOGPROBS = [(-0.01, [("Hi", -4.8)]), (-0.9, [(";", -0.7)]), (-2.3, [(" there", -0.2), (" you", -3.0)]), (0, [])]


async def test_logprobs_asked_for_are_streamed_with_the_text_and_saved(alice, conversation, upstream):
    conversation.parameters = {"logprobs": True, "top_logprobs": 2}
    await conversation.asave()
    upstream.script(logprobs=LOGPROBS, delay=0.01)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)

    sent = upstream.requests[-1]["json"]
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    expected = [
        ["Hello", -0.01, [["Hello", -0.01], ["Hi", -4.8]]],
        [",", -0.9, [[",", -0.9], [";", -0.7]]],
        [" world", -2.3, [[" world", -2.3], [" there", -0.2]]],
        ["!", 0, [["!", 0]]],
    ]
    streamed = [token for f in frames if f["type"] == "delta" for token in f.get("logprobs", [])]
    assert streamed == expected
    # Each token comes in the same frame as its text: the browser can append both together.
    for frame in (f for f in frames if f["type"] == "delta"):
        assert "".join(t[0] for t in frame.get("logprobs", [])) == frame["text"]
    done = frames[-1]["message"]
    assert done["logprobs"] == expected
    row = await saved(done["id"])
    assert row.logprobs == expected
    await socket.disconnect()


async def test_a_tab_that_rejoins_gets_the_logprobs_so_far_then_the_rest(alice, conversation, upstream):
    conversation.parameters = {"logprobs": True}
    await conversation.asave()
    tokens = [f"z{i} " for i in range(30)]
    upstream.script(tokens=tokens, logprobs=[(-0.1 * i, []) for i in range(30)], delay=0.015)
    socket = await open_socket(alice)
    code = await start(socket, conversation)
    await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 3)
    await socket.disconnect()

    reloaded = await open_socket(alice)
    await reloaded.send_json_to({"type": "subscribe", "conversation": code})
    frames = await frames_until(reloaded, is_done)
    snapshot = next(f for f in frames if f["type"] == "snapshot")
    shown = list(snapshot["message"]["logprobs"])
    assert "".join(t[0] for t in shown) == snapshot["message"]["text"]
    for frame in frames:
        if frame["type"] == "delta" and frame["seq"] > snapshot["seq"]:
            shown += frame.get("logprobs", [])
    assert [t[0] for t in shown] == tokens
    assert shown == frames[-1]["message"]["logprobs"]
    await reloaded.disconnect()


async def test_stored_logprobs_are_capped(alice, conversation, upstream, monkeypatch):
    monkeypatch.setattr("chatsite.chat.generation.LOGPROB_TOKENS", 3)
    conversation.parameters = {"logprobs": True}
    await conversation.asave()
    upstream.script(logprobs=[(-0.5, [])] * 4)
    socket = await open_socket(alice)
    await start(socket, conversation)
    frames = await frames_until(socket, is_done)
    done = frames[-1]["message"]
    assert done["text"] == "Hello, world!"
    assert [t[0] for t in done["logprobs"]] == ["Hello", ",", " world"]
    assert len([t for f in frames if f["type"] == "delta" for t in f.get("logprobs", [])]) == 3
    await socket.disconnect()


@pytest.mark.parametrize(
    "quirks",
    [
        {"role_chunk": False},
        {"usage_in_finish": True},
        {"keepalive": True, "crlf": True},
        {"split": True, "role_chunk": False, "usage_in_finish": True},
        {"model": "openai/gpt-4o-2024-08-06"},  # chunks name a dated model, not the one asked for
    ],
)
async def test_gateway_quirks_give_the_same_answer_and_usage(alice, conversation, upstream, quirks):
    upstream.script(tokens=["Fine", " ", "thanks", "."], **quirks)
    socket = await open_socket(alice)
    await start(socket, conversation, "How are you")
    frames = await frames_until(socket, is_done)
    done = frames[-1]["message"]
    assert (done["status"], done["text"], answer_text(frames)) == ("complete", "Fine thanks.", "Fine thanks.")
    assert (done["completion_tokens"], done["usage_estimated"]) == (4, False)
    await socket.disconnect()


async def test_a_send_without_a_conversation_makes_one_with_the_settings_the_page_held(alice, model, upstream):
    socket = await open_socket(alice)
    other_tab = await open_socket(alice)
    await socket.send_json_to(
        {
            "type": "send",
            "text": "Hello there",
            "model": str(model.code),
            "system_prompt": "Answer in French.",
            "parameters": {"temperature": 0.3},
            "tools": ["calculator"],
            "ref": "new-1",
        }
    )
    frames = await frames_until(socket, is_done)
    created = frames[0]
    assert created["type"] == "created" and created["ref"] == "new-1"
    conversation = created["conversation"]
    assert (conversation["system_prompt"], conversation["parameters"], conversation["tools"]) == (
        "Answer in French.",
        {"temperature": 0.3},
        ["calculator"],
    )
    assert conversation["model"] == str(model.code)
    # Then the usual frames of a turn, all naming the new conversation.
    assert {f["conversation"] for f in frames[1:] if f["type"] != "conversation"} == {conversation["id"]}
    assert answer_text(frames) == "Hello, world!" and frames[-1]["message"]["status"] == "complete"
    row = await Conversation.objects.select_related("owner").aget(code=conversation["id"])
    assert (row.owner_id, row.title) == (alice.pk, "Hello there")
    sent = upstream.requests[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert sent["temperature"] == 0.3 and sent["tools"][0]["function"]["name"] == "calculator"
    # Another tab of hers is not told of a chat it did not start.
    with pytest.raises(asyncio.TimeoutError):
        await other_tab.receive_json_from(timeout=0.3)


async def test_a_refused_new_chat_makes_no_conversation_and_says_why_with_its_ref(alice, model, upstream):
    socket = await open_socket(alice)
    for frame, reason in [
        ({"parameters": {"temperature": 5}}, "temperature must be between 0 and 2"),
        ({"system_prompt": 42}, "The system prompt must be text"),
        ({"tools": ["no-such-tool"]}, "Unknown tool"),
        ({"model": "00000000-0000-0000-0000-000000000000"}, "That model is not available."),
    ]:
        await socket.send_json_to({"type": "send", "text": "Hi", "ref": "r", **frame})
        error = await socket.receive_json_from(timeout=2)
        assert error["type"] == "error" and reason in error["error"] and error["ref"] == "r"
    assert not await Conversation.objects.aexists()
    assert not upstream.requests
