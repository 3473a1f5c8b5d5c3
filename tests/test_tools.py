"""Tools: the calculator, the allow-list, streamed tool calls and the tool loop end to end
(the real ASGI app, the loopback upstream playing both the provider and an HTTP tool)."""

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from channels.db import database_sync_to_async

from chatsite.chat.models import Conversation, Message
from chatsite.providers.client import stream_chat
from chatsite.providers.events import ToolCallDelta
from chatsite.tools import http
from chatsite.tools.calculator import CalculationError, calculate
from chatsite.tools.calls import Round, messages_for
from chatsite.tools.http import READ_LIMIT, url_allowed
from chatsite.tools.models import HttpTool
from tests.conftest import SECRET, answer_text, frames_until, is_done, logged_in_client, open_socket

# -- the calculator ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6 * 7", 42),
        ("2 ^ 10", 1024),
        ("(17.5 * 3) / 4 + 1", 14.125),
        ("sqrt(16) + abs(-2)", 6.0),
        ("10 // 3 + 10 % 3", 4),
        ("-2 ** 2", -4),
        ("round(pi, 3)", 3.142),
        ("12 × 3 ÷ 4", 9.0),
    ],
)
def test_the_calculator_evaluates_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("__import__('os').system('true')", "Only numbers"),
        ("__import__('os')", "Unknown function: __import__"),
        ("(1).__class__", "Only numbers"),
        ("9 ** 9 ** 9", "too large"),
        ("99 ** 9999", "too large"),
        ("1 / 0", "Division by zero"),
        ("sqrt(-1)", "Not defined"),
        ("'a' * 3", "Only numbers"),
        ("x + 1", "Unknown name: x"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 600, "longer than"),
        ("exp(1000)", "too large"),
        ("round(5, -10**7)", "digits up to 100"),
    ],
)
def test_the_calculator_refuses_what_is_not_safe_arithmetic(expression, words):
    with pytest.raises(CalculationError, match=words):
        calculate(expression)


# -- the allow-list ------------------------------------------------------------------------

ALLOWED = ["https://tools.example.com/api", "http://127.0.0.1:9000/"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://tools.example.com/api", True),
        ("https://tools.example.com/api/weather", True),
        ("https://tools.example.com/apiother", False),
        ("https://tools.example.com/api/../admin", False),
        ("https://tools.example.com/api/%2e%2e/admin", False),
        ("https://tools.example.com.evil.net/api", False),
        ("http://tools.example.com/api", False),
        ("https://tools.example.com:8443/api", False),
        ("http://127.0.0.1:9000/anything", True),
        ("http://127.0.0.1:9001/anything", False),
        ("file:///etc/passwd", False),
        ("not a url", False),
    ],
)
def test_http_tools_may_only_call_urls_under_an_allowed_prefix(url, allowed):
    assert url_allowed(url, ALLOWED) is allowed


def test_nothing_is_allowed_when_the_allow_list_is_empty(settings):
    settings.TOOL_ALLOWED_URLS = []
    assert not url_allowed("https://tools.example.com/api")


INTRANET = ["https://tools.intranet/tools/"]


@pytest.mark.parametrize(
    "url",
    [
        "https://tools.intranet/tools/..%2Fadmin",
        "https://tools.intranet/tools/..%2fadmin",
        "HTTPS://TOOLS.INTRANET/tools/..%2Fadmin",
        "https://tools.intranet/tools/%2e%2e%2fadmin",
        "https://tools.intranet/tools/weather%2F..%2F..%2Fadmin",
        "https://tools.intranet/tools/%252e%252e/admin",
        "https://tools.intranet/tools/%252E%252E/admin",
        "https://tools.intranet/tools/..%252Fadmin",
        "https://tools.intranet/tools/..%u002fadmin",  # IIS's %u, which yarl sends as %25u
        "https://tools.intranet/tools/..;/admin",
        "https://tools.intranet/tools/weather;jsessionid=1",
        "https://tools.intranet/tools/..%3B/admin",
        "https://tools.intranet/tools/..%3b/admin",
        "https://tools.intranet/tools/..\\admin",
        "https://tools.intranet/tools/..%5Cadmin",
        "https://tools.intranet/tools/..%5cadmin",
        "https://tools.intranet/tools/%2e/weather",
        "https://tools.intranet/tools/.%2E/admin",
        "https://tools.intranet/tools/%c0%ae%c0%ae/admin",  # overlong UTF-8 for "."
        "https://tools.intranet/tools/..%c0%afadmin",  # ...and for "/"
        "https://tools.intranet/tools/..%\t2Fadmin",  # a tab, which parsers drop
    ],
)
def test_an_http_tool_url_with_an_encoded_separator_or_dot_is_refused(url):
    assert not url_allowed(url, INTRANET)


@pytest.mark.parametrize(
    "url",
    [
        "https://tools.intranet/tools/weather",
        "https://tools.intranet/tools/v1.2/weather.json",
        "https://tools.intranet/tools/caf%C3%A9",
        "https://tools.intranet/tools/a%20b",
        "https://tools.intranet/tools/weather?city=a;b&path=%2F",
    ],
)
def test_plain_paths_with_dots_or_other_escapes_and_any_query_are_allowed(url):
    assert url_allowed(url, INTRANET)


# -- streamed tool calls -------------------------------------------------------------------

CALLS = [
    {"id": "call_abc", "name": "calculator", "arguments": '{"expression": "6 * 7"}'},
    # Ids without OpenAI's "call_" prefix (as several gateways send them) must pass through.
    {"id": "toolu_01XyZ", "name": "current_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
]


@pytest.mark.parametrize("style", ["fragments", "whole", "no_index", "parallel"])
@pytest.mark.parametrize("content", ["null", "empty", "absent"])
async def test_streamed_tool_calls_are_assembled_whatever_the_server_style(upstream, style, content):
    upstream.script(tokens=[], tool_calls=CALLS, tool_style=style, tool_content=content)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    events = [event async for event in stream_chat(upstream.base_url, SECRET, body)]
    assert all(type(e).__name__ != "Delta" for e in events), "an empty or null content is not text"
    assert events[-1].reason == "tool_calls"
    assembled = Round(0)
    for event in events:
        if isinstance(event, ToolCallDelta):
            assembled.add(event)
    calls = assembled.close(at=0)
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        (call["id"], call["name"], json.loads(call["arguments"])) for call in CALLS
    ]


def test_a_call_without_an_id_gets_one_and_a_nameless_call_is_dropped():
    calls = Round(0)
    calls.add(ToolCallDelta(0, "", "calculator", '{"expression":'))
    calls.add(ToolCallDelta(0, "", "", ' "1+1"}'))
    calls.add(ToolCallDelta(1, "", "", "{}"))
    [call] = calls.close(at=5)
    assert call["id"].startswith("call_") and len(call["id"]) > 10
    assert (call["name"], call["arguments"], call["at"]) == ("calculator", '{"expression": "1+1"}', 5)


def test_a_reused_index_with_a_new_id_is_a_new_call_and_a_reply_runs_at_most_16_calls():
    calls = Round(0)
    calls.add(ToolCallDelta(0, "a", "calculator", "{}"))
    calls.add(ToolCallDelta(0, "b", "calculator", "{}"))  # Gemini-style: every call at index 0
    for i in range(1, 17):
        calls.add(ToolCallDelta(i, f"c{i}", "calculator", "{}"))
    closed = calls.close(at=0)
    assert [c["id"] for c in closed[:2]] == ["a", "b"] and len(closed) == 18
    assert [c["status"] for c in closed].count("error") == 2
    assert "at most 16" in closed[-1]["result"]


def test_an_answer_with_tools_goes_back_as_assistant_and_tool_messages():
    calls = [
        {"id": "a1", "name": "calculator", "arguments": "{}", "round": 0, "at": 11, "status": "done", "result": "2"},
        {"id": "a2", "name": "calculator", "arguments": "", "round": 0, "at": 11, "status": "error", "result": "E"},
        {"id": "b1", "name": "current_time", "arguments": "{}", "round": 1, "at": 13, "status": "stopped"},
    ]
    messages = messages_for("Let me see.\n\nOK", calls)
    assert messages[0] == {
        "role": "assistant",
        "content": "Let me see.",
        "tool_calls": [
            {"id": "a1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}},
            {"id": "a2", "type": "function", "function": {"name": "calculator", "arguments": "{}"}},
        ],
    }
    assert messages[1:3] == [
        {"role": "tool", "tool_call_id": "a1", "content": "2"},
        {"role": "tool", "tool_call_id": "a2", "content": "E"},
    ]
    assert messages[3]["content"] is None and messages[3]["tool_calls"][0]["id"] == "b1"
    assert messages[4] == {"role": "tool", "tool_call_id": "b1", "content": messages[4]["content"]}
    assert "not run" in messages[4]["content"]
    assert messages[5] == {"role": "assistant", "content": "OK"}


# -- the tool loop, end to end -------------------------------------------------------------


@pytest.fixture
def conversation(alice, model):
    return Conversation.objects.create(owner=alice, model=model, tools=["calculator", "current_time"])


async def ask(user, conversation, text="What is 6 times 7?", timeout=10):
    socket = await open_socket(user)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": text})
    # Subscribing to a conversation with an answer sends that answer's final state first.
    answer = []

    def new_answer_done(frame):
        if frame["type"] == "error":
            raise AssertionError(frame)
        if frame["type"] == "message" and frame["message"]["status"] == "streaming":
            answer.append(frame["message"]["id"])
        return is_done(frame) and frame["message"]["id"] in answer

    frames = await frames_until(socket, new_answer_done, timeout=timeout)
    await socket.disconnect()
    return frames


def calc(expression, ident="call_1"):
    return {"id": ident, "name": "calculator", "arguments": json.dumps({"expression": expression})}


@pytest.mark.django_db(transaction=True)
async def test_a_tool_call_is_run_and_its_result_given_back_until_the_model_answers(alice, conversation, upstream):
    upstream.script(tokens=[], tool_calls=[calc("6 * 7")])
    upstream.script(tokens=["It is ", "42."])
    frames = await ask(alice, conversation)

    first, second = upstream.requests[-2]["json"], upstream.requests[-1]["json"]
    assert [tool["function"]["name"] for tool in first["tools"]] == ["calculator", "current_time"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["expression"]
    assert second["messages"][-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "6 * 7"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    done = frames[-1]["message"]
    assert done["status"] == "complete", done["error"]
    assert done["text"] == answer_text(frames) == "It is 42."
    [call] = done["tool_calls"]
    assert (call["name"], call["status"], call["result"]) == ("calculator", "done", "42")
    # The browser saw the call stream in, run, and finish.
    states = [c["status"] for f in frames if f["type"] == "delta" for c in f.get("tool_calls", [])]
    assert states[0] == "streaming" and "running" in states and states[-1] == "done"
    # Usage adds up over both requests; the context counts only the last one.
    assert done["completion_tokens"] == 2
    assert done["prompt_tokens"] > done["context_tokens"] - 2 > 0
    row = await Message.objects.aget(code=done["id"])
    assert row.tool_calls[0]["result"] == "42" and row.text == "It is 42."

    # The next turn sends the whole exchange back.
    upstream.script(tokens=["Yes."])
    await ask(alice, conversation, "Sure?")
    history = upstream.requests[-1]["json"]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant", "user"]
    assert history[1]["tool_calls"][0]["id"] == "call_1" and history[2]["content"] == "42"
    assert history[3] == {"role": "assistant", "content": "It is 42."}


@pytest.mark.django_db(transaction=True)
async def test_parallel_calls_with_foreign_ids_are_all_run(alice, conversation, upstream):
    upstream.script(tokens=["Checking."], tool_calls=CALLS, tool_style="parallel", tool_content="empty")
    upstream.script(tokens=["Done."])
    frames = await ask(alice, conversation)
    done = frames[-1]["message"]
    assert done["status"] == "complete", done["error"]
    assert [(c["id"], c["status"]) for c in done["tool_calls"]] == [("call_abc", "done"), ("toolu_01XyZ", "done")]
    assert json.loads(done["tool_calls"][1]["result"])["timezone"] == "Asia/Tokyo"
    sent = upstream.requests[-1]["json"]["messages"]
    assert sent[-3]["content"] == "Checking."
    assert [m.get("tool_call_id") for m in sent[-2:]] == ["call_abc", "toolu_01XyZ"]
    # The text of both rounds reads as two paragraphs.
    assert done["text"] == "Checking.\n\nDone."


@pytest.mark.django_db(transaction=True)
async def test_a_failing_tool_gives_the_model_an_error_result_not_a_crash(alice, conversation, upstream):
    upstream.script(tokens=[], tool_calls=[calc("1 / 0"), {"id": "c2", "name": "rm_rf", "arguments": "{}"}])
    upstream.script(tokens=["Sorry."])
    frames = await ask(alice, conversation)
    done = frames[-1]["message"]
    assert done["status"] == "complete"
    assert [(c["status"], c["result"]) for c in done["tool_calls"]] == [
        ("error", "Error: Division by zero."),
        ("error", "Error: There is no tool named 'rm_rf' here."),
    ]
    results = [m["content"] for m in upstream.requests[-1]["json"]["messages"] if m["role"] == "tool"]
    assert results == ["Error: Division by zero.", "Error: There is no tool named 'rm_rf' here."]


@pytest.mark.django_db(transaction=True)
async def test_a_model_that_keeps_calling_tools_is_stopped_at_the_round_limit(alice, conversation, upstream, settings):
    settings.CHAT_TOOL_ROUNDS = 2
    upstream.set_default(tokens=["again "], tool_calls=[calc("1 + 1")])
    frames = await ask(alice, conversation)
    done = frames[-1]["message"]
    assert done["status"] == "error"
    assert "Stopped after 2 rounds of tool calls" in done["error"]
    assert len(upstream.requests) == 3
    assert done["text"].startswith("again")
    assert [c["status"] for c in done["tool_calls"]] == ["done", "done", "stopped"]


@pytest.mark.django_db(transaction=True)
async def test_required_tool_choice_is_relaxed_once_the_tool_was_called(alice, conversation, upstream):
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        parameters={"extra_body": {"tool_choice": "required"}}
    )
    upstream.script(tokens=[], tool_calls=[calc("2 + 2")])
    upstream.script(tokens=["4"])
    await ask(alice, conversation)
    assert [r["json"]["tool_choice"] for r in upstream.requests[-2:]] == ["required", "auto"]


@pytest.mark.django_db(transaction=True)
async def test_without_tools_switched_on_nothing_about_tools_is_sent(alice, model, upstream):
    conversation = await Conversation.objects.acreate(
        owner=alice, model=model, parameters={"extra_body": {"tool_choice": "auto"}}
    )
    old = await Message.objects.acreate(conversation=conversation, role="user", text="6*7?")
    await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        text="42",
        tool_calls=[{"id": "x", "name": "calculator", "arguments": "{}", "round": 0, "at": 0, "status": "done"}],
    )
    assert old.pk
    await ask(alice, conversation, "Thanks")
    sent = upstream.requests[-1]["json"]
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["messages"] == [
        {"role": "user", "content": "6*7?"},
        {"role": "assistant", "content": "42"},
        {"role": "user", "content": "Thanks"},
    ]


@pytest.mark.django_db(transaction=True)
async def test_searching_conversations_finds_only_the_users_own(alice, bob, model, upstream):
    mine = await Conversation.objects.acreate(owner=alice, model=model, title="Holiday plans")
    await Message.objects.acreate(conversation=mine, role="user", text="The zebra crossing in Kyoto was lovely")
    theirs = await Conversation.objects.acreate(owner=bob, model=model, title="Bob's secrets")
    await Message.objects.acreate(conversation=theirs, role="user", text="My zebra password is hunter2")
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["search_conversations"])
    upstream.script(
        tokens=[], tool_calls=[{"id": "s1", "name": "search_conversations", "arguments": '{"query": "zebra"}'}]
    )
    upstream.script(tokens=["Found it."])
    done = (await ask(alice, conversation, "Where did I see a zebra?"))[-1]["message"]
    [found] = json.loads(done["tool_calls"][0]["result"])
    assert found["conversation"] == "Holiday plans" and "Kyoto" in found["excerpt"]
    assert "hunter2" not in done["tool_calls"][0]["result"]


@pytest.fixture
def http_tool(db, upstream, settings):
    settings.TOOL_ALLOWED_URLS = [upstream.base_url.removesuffix("/v1") + "/tools/"]
    return HttpTool.objects.create(
        name="weather",
        description="The weather in a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        url=upstream.base_url.removesuffix("/v1") + "/tools/weather",
        authorization="Bearer tool-secret",
        timeout=1,
    )


@pytest.mark.django_db(transaction=True)
async def test_an_http_tool_is_called_with_the_arguments_as_json(alice, model, upstream, http_tool):
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["weather"])
    upstream.tool_answers["weather"] = {"body": {"city": "Paris", "sky": "clear"}}
    upstream.script(tokens=[], tool_calls=[{"id": "w1", "name": "weather", "arguments": '{"city": "Paris"}'}])
    upstream.script(tokens=["Clear skies."])
    frames = await ask(alice, conversation, "Weather in Paris?")
    done = frames[-1]["message"]
    [call] = done["tool_calls"]
    assert call["status"] == "done" and json.loads(call["result"]) == {"city": "Paris", "sky": "clear"}
    [tool_request] = [r for r in upstream.requests if r["path"] == "/tools/weather"]
    assert tool_request["json"] == {"city": "Paris"}
    assert tool_request["headers"]["authorization"] == "Bearer tool-secret"
    # Not compressed: the shared client hands the body over as it comes.
    assert tool_request["headers"]["accept-encoding"] == "identity"
    definition = upstream.requests[-1]["json"]["tools"][0]["function"]
    assert definition == {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": http_tool.parameters,
    }
    assert all("tool-secret" not in json.dumps(f) for f in frames)


@pytest.mark.parametrize(
    ("answer", "allowed", "words"),
    [
        ({"status": 500, "body": "boom"}, True, "Error: The tool answered HTTP 500: boom"),
        ({"delay": 3}, True, "Error: The tool did not answer within 1 s."),
        ({}, False, "Error: This tool's URL is not on the allow-list"),
    ],
)
@pytest.mark.django_db(transaction=True)
async def test_an_http_tool_that_fails_gives_an_error_result(
    alice, model, upstream, http_tool, settings, answer, allowed, words
):
    if not allowed:  # the allow-list changed after the tool was saved
        settings.TOOL_ALLOWED_URLS = ["https://elsewhere.example.com/"]
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["weather"])
    upstream.tool_answers["weather"] = answer
    upstream.script(tokens=[], tool_calls=[{"id": "w1", "name": "weather", "arguments": '{"city": "Oslo"}'}])
    upstream.script(tokens=["No luck."])
    done = (await ask(alice, conversation))[-1]["message"]
    assert done["status"] == "complete"
    assert done["tool_calls"][0]["status"] == "error"
    assert done["tool_calls"][0]["result"].startswith(words)


@pytest.mark.parametrize(("slots", "overlap"), [(1, False), (64, True)])
@pytest.mark.django_db(transaction=True)
async def test_tool_calls_in_flight_are_bounded_per_process(
    alice, model, upstream, http_tool, settings, slots, overlap
):
    settings.TOOL_CALLS_PER_PROCESS = slots
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["weather"])
    upstream.tool_answers["weather"] = {"delay": 0.3, "body": {"sky": "clear"}}
    calls = [{"id": f"w{i}", "name": "weather", "arguments": "{}"} for i in range(2)]
    upstream.script(tokens=[], tool_calls=calls, tool_style="parallel")
    upstream.script(tokens=["Clear twice."])
    done = (await ask(alice, conversation, "Weather, twice?"))[-1]["message"]
    assert [call["status"] for call in done["tool_calls"]] == ["done", "done"]
    (_, first_began, first_ended), (_, second_began, _) = sorted(upstream.tool_log, key=lambda entry: entry[1])
    # The model's two calls run at the same time unless the process has no slot to spare.
    assert (second_began < first_ended) is overlap


@pytest.mark.django_db(transaction=True)
async def test_stop_while_a_tool_runs_keeps_the_call_marked_stopped(alice, model, upstream, http_tool):
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["weather"])
    upstream.tool_answers["weather"] = {"delay": 0.9}
    upstream.script(tokens=[], tool_calls=[{"id": "w1", "name": "weather", "arguments": "{}"}])
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Weather?"})
    await frames_until(socket, lambda f: any(c["status"] == "running" for c in f.get("tool_calls", [])))
    await socket.send_json_to({"type": "stop", "conversation": code})
    done = (await frames_until(socket, is_done))[-1]["message"]
    await socket.disconnect()
    assert done["status"] == "stopped"
    assert done["tool_calls"][0]["status"] == "stopped"
    upstream.script(tokens=["Hi."])
    await ask(alice, conversation, "Never mind")
    sent = upstream.requests[-1]["json"]["messages"]
    assert sent[2]["role"] == "tool" and "not run" in sent[2]["content"]


@pytest.mark.django_db(transaction=True)
async def test_a_tab_joining_mid_answer_gets_the_calls_so_far(alice, conversation, upstream):
    upstream.script(tokens=[], tool_calls=[calc("3 * 3")])
    upstream.script(tokens=["Nine", " it", " is."], first_delay=0.6)
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "3*3?"})
    await frames_until(socket, lambda f: any(c["status"] == "done" for c in f.get("tool_calls", [])))
    other = await open_socket(alice)
    await other.send_json_to({"type": "subscribe", "conversation": code})
    snapshot = await frames_until(other, lambda f: f["type"] == "snapshot")
    assert snapshot[-1]["message"]["tool_calls"][0]["result"] == "9"
    await frames_until(socket, is_done)
    await asyncio.gather(socket.disconnect(), other.disconnect())


# -- the switch ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_settings_panel_switches_tools_on_and_refuses_unknown_ones(alice, conversation, http_tool):
    client = logged_in_client(alice)
    url = f"/c/{conversation.code}/options/"
    answer = client.post(url, json.dumps({"tools": ["weather", "calculator"]}), content_type="application/json")
    assert answer.status_code == 200 and answer.json()["tools"] == ["weather", "calculator"]
    answer = client.post(url, json.dumps({"tools": ["shell"]}), content_type="application/json")
    assert answer.status_code == 400 and "Unknown tool: shell" in answer.json()["error"]
    conversation.refresh_from_db()
    assert conversation.tools == ["weather", "calculator"]
    page = client.get(f"/c/{conversation.code}/").content.decode()
    assert '"name": "weather"' in page and "tool-secret" not in page and "/tools/weather" not in page


@pytest.mark.django_db
def test_an_admin_cannot_save_a_tool_outside_the_allow_list(admin_client, settings):
    settings.TOOL_ALLOWED_URLS = ["https://tools.example.com/"]
    form = {
        "name": "lookup",
        "description": "d",
        "parameters": '{"type": "object"}',
        "url": "http://169.254.169.254/latest/meta-data",
        "authorization": "",
        "timeout": "5",
        "enabled": "on",
    }
    answer = admin_client.post("/admin/tools/httptool/add/", form)
    assert "not on the allow-list" in answer.content.decode()
    assert not HttpTool.objects.exists()
    answer = admin_client.post("/admin/tools/httptool/add/", {**form, "url": "https://tools.example.com/lookup"})
    assert answer.status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_a_model_that_cannot_call_tools_gets_none_but_the_switch_is_kept(alice, model, upstream):
    await type(model).objects.filter(pk=model.pk).aupdate(tools=False)
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["calculator"])
    upstream.script(tokens=["No tools here."])
    done = (await ask(alice, conversation, "6*7?"))[-1]["message"]
    assert done["status"] == "complete"
    assert "tools" not in upstream.requests[-1]["json"]
    await conversation.arefresh_from_db()
    assert conversation.tools == ["calculator"]


@pytest.mark.django_db(transaction=True)
async def test_a_long_tool_answer_is_read_whole_then_cut_with_a_note(alice, model, upstream, http_tool, settings):
    settings.TOOL_RESULT_CHARS = 150_000
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["weather"])
    upstream.tool_answers["weather"] = {"body": "x" * 200_000}
    upstream.script(tokens=[], tool_calls=[{"id": "w1", "name": "weather", "arguments": "{}"}])
    upstream.script(tokens=["Long."])
    done = (await ask(alice, conversation))[-1]["message"]
    result = done["tool_calls"][0]["result"]
    assert result.startswith("x" * 150_000)
    assert result.endswith("[cut: the result was 200,000 characters, only the first 150,000 are given]")


@pytest.mark.django_db(transaction=True)
async def test_a_call_cut_short_by_stop_goes_back_later_as_a_valid_call_not_run(alice, conversation, upstream):
    upstream.script(tokens=[], tool_calls=[calc("1 + 2 + 3 + 4 + 5 + 6")], delay=0.3)
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Sum?"})
    await frames_until(socket, lambda f: bool(f.get("tool_calls")))
    await socket.send_json_to({"type": "stop", "conversation": code})
    done = (await frames_until(socket, is_done))[-1]["message"]
    await socket.disconnect()
    [call] = done["tool_calls"]
    assert (call["status"], call["id"]) == ("stopped", "call_1")
    upstream.script(tokens=["OK."])
    await ask(alice, conversation, "Never mind")
    sent = upstream.requests[-1]["json"]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == "{}"  # the cut JSON is not sent
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": sent[2]["content"]}


@pytest.mark.django_db
def test_an_http_tools_authorization_is_write_only_in_the_admin(admin_client, settings):
    settings.TOOL_ALLOWED_URLS = ["https://tools.example.com/"]
    tool = HttpTool.objects.create(
        name="lookup", description="d", url="https://tools.example.com/lookup", authorization="Bearer s3cret"
    )
    page = admin_client.get(f"/admin/tools/httptool/{tool.pk}/change/").content.decode()
    assert "s3cret" not in page
    form = {
        "name": "lookup",
        "description": "new",
        "parameters": "{}",
        "url": tool.url,
        "timeout": "5",
        "enabled": "on",
    }
    assert (
        admin_client.post(f"/admin/tools/httptool/{tool.pk}/change/", {**form, "authorization": ""}).status_code == 302
    )
    tool.refresh_from_db()
    assert (tool.description, tool.authorization) == ("new", "Bearer s3cret")  # empty keeps it
    admin_client.post(f"/admin/tools/httptool/{tool.pk}/change/", {**form, "clear_authorization": "on"})
    tool.refresh_from_db()
    assert tool.authorization == ""


# -- what a tool's answer may not carry ----------------------------------------------------

TOOL_AUTHORIZATION = "Bearer tk-9f8e7d6c5b4a3210"
TOKEN = TOOL_AUTHORIZATION.removeprefix("Bearer ")


@pytest.fixture
async def echo_tool():
    """A real HTTP tool server on loopback that echoes the Authorization header it is sent:
    /tools/refuse in a 401 text body, /tools/echo in a 200 JSON body (the whole header and its
    token apart), /tools/padded after 290 characters of a 401 body, /tools/long at the end of a
    body longer than what is read. `seen` lists the headers it got."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        seen.append(header)
        name = request.match_info["name"]
        if name == "refuse":
            return web.Response(status=401, text=f"401 invalid credentials: {header}")
        if name == "padded":
            return web.Response(status=401, text="x" * 290 + f" rejected {header}")
        if name == "long":
            return web.Response(text="y" * (READ_LIMIT - 10) + header)
        return web.json_response({"you sent": header, "token": header.partition(" ")[2], "ok": True})

    app = web.Application()
    app.router.add_post("/tools/{name}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield SimpleNamespace(base=f"http://127.0.0.1:{port}/tools/", seen=seen)
    await runner.cleanup()


async def call_tool(url: str, authorization: str = TOOL_AUTHORIZATION) -> str:
    async with aiohttp.ClientSession() as session:
        return await http.call(session, url, {}, timeout=5, authorization=authorization)


@pytest.mark.parametrize("name", ["refuse", "padded"])
async def test_a_tool_that_echoes_its_authorization_in_an_error_does_not_pass_it_on(echo_tool, settings, name):
    settings.TOOL_ALLOWED_URLS = [echo_tool.base]
    with pytest.raises(http.ToolFailed) as failed:
        await call_tool(echo_tool.base + name)
    assert echo_tool.seen == [TOOL_AUTHORIZATION], "the tool itself got the header"
    message = str(failed.value)
    assert message.startswith("The tool answered HTTP 401:")
    # Not even the first characters of it, where the message is cut at 300 characters.
    assert "tk-9f8" not in message and "Bearer t" not in message


async def test_a_tool_that_echoes_its_authorization_in_a_result_does_not_pass_it_on(echo_tool, settings):
    settings.TOOL_ALLOWED_URLS = [echo_tool.base]
    result = json.loads(await call_tool(echo_tool.base + "echo"))
    assert result == {"you sent": "[Authorization]", "token": "[Authorization]", "ok": True}
    long = await call_tool(echo_tool.base + "long")
    assert long.startswith("y" * 1000) and "tk-9f8" not in long and not long.endswith("Bear")


@pytest.mark.parametrize(
    ("authorization", "echoed", "gone"),
    [
        ("Bearer ab/cd+ef==", '{"token": "ab\\/cd+ef=="}', "cd+ef"),  # JSON may escape "/"
        ('Bearer quo"te', '{"header": "Bearer quo\\"te"}', "quo"),
        ("Bearer Tk-Case-1234", "unknown token tk-case-1234", "case-1234"),
        ("Basic YWxpY2U6czNjcjN0LXB3", "YWxpY2U6czNjcjN0LXB3 is alice:s3cr3t-pw", "s3cr3t"),
        ("Basic YWxpY2U6czNjcjN0LXB3", "wrong password s3cr3t-pw", "s3cr3t"),
        ("sk-no-scheme-token", "key sk-no-scheme-token is invalid", "no-scheme"),
    ],
)
def test_every_spelling_of_the_authorization_is_scrubbed(authorization, echoed, gone):
    scrubbed = http.scrub(echoed, authorization)
    assert "[Authorization]" in scrubbed and gone not in scrubbed.lower()


@pytest.mark.django_db(transaction=True)
async def test_an_echoed_authorization_reaches_neither_the_model_nor_the_transcript(
    alice, model, upstream, echo_tool, settings
):
    settings.TOOL_ALLOWED_URLS = [echo_tool.base]
    for name in ("refuse", "echo"):
        await HttpTool.objects.acreate(
            name=name, description=name, url=echo_tool.base + name, authorization=TOOL_AUTHORIZATION
        )
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["refuse", "echo"])
    upstream.script(
        tokens=[],
        tool_calls=[{"id": "t1", "name": "refuse", "arguments": "{}"}, {"id": "t2", "name": "echo", "arguments": "{}"}],
    )
    upstream.script(tokens=["Done."])
    frames = await ask(alice, conversation, "Try both tools")
    assert echo_tool.seen == [TOOL_AUTHORIZATION] * 2
    results = [m["content"] for m in upstream.requests[-1]["json"]["messages"] if m["role"] == "tool"]
    assert results[0] == "Error: The tool answered HTTP 401: 401 invalid credentials: [Authorization]"
    assert json.loads(results[1])["token"] == "[Authorization]"
    # database_sync_to_async closes its connection after the read (PostgreSQL would not drop
    # the test database with it open).
    row = await database_sync_to_async(Message.objects.get)(code=frames[-1]["message"]["id"])
    for seen_by in (json.dumps(upstream.requests), json.dumps(frames), json.dumps(row.tool_calls)):
        assert TOKEN not in seen_by


@pytest.mark.parametrize("path", ["..%2Fadmin", "%252e%252e/admin", "..;/admin", "..%5Cadmin"])
async def test_a_tool_whose_url_became_ambiguous_is_not_called(echo_tool, settings, path):
    settings.TOOL_ALLOWED_URLS = [echo_tool.base]
    with pytest.raises(http.ToolFailed, match="encoded"):
        await call_tool(echo_tool.base + path)
    assert echo_tool.seen == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["..%2Fadmin", "%252e%252e/admin", "..;/admin", "..%5cadmin", "%2E%2E/admin"])
def test_an_admin_cannot_save_a_tool_url_with_an_encoded_separator(admin_client, settings, path):
    settings.TOOL_ALLOWED_URLS = ["https://tools.intranet/tools/"]
    form = {
        "name": "lookup",
        "description": "d",
        "parameters": '{"type": "object"}',
        "url": "https://tools.intranet/tools/" + path,
        "timeout": "5",
        "enabled": "on",
    }
    answer = admin_client.post("/admin/tools/httptool/add/", form)
    assert answer.status_code == 200
    assert "a server may read it as another path" in answer.content.decode()
    assert not HttpTool.objects.exists()
