"""Teams: access to models per group, a team's own provider key, budgets, and usage counted per day.

Over the real socket on the real ASGI app and the loopback upstream; two users (or two tabs)
at once where the point is about concurrency; on SQLite and on PostgreSQL + Redis.
"""

import asyncio
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from chatsite.chat.models import Conversation, Message
from chatsite.providers.models import LanguageModel
from chatsite.teams.models import Budget, DailyUsage, Team, TeamProviderKey
from tests.conftest import frames_until, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def model_b(provider):
    return LanguageModel.objects.create(provider=provider, name="test/model-b")


def make_team(name: str, *members, models=(), providers=()) -> Team:
    group = Group.objects.create(name=name)
    team = Team.objects.create(group=group)
    group.user_set.add(*members)
    team.allowed_models.add(*models)
    team.allowed_providers.add(*providers)
    return team


async def turn(user, frame: dict, timeout: float = 5.0) -> dict:
    """Send a frame on a fresh socket; the `done` of its answer, or the `error` refusing it."""
    socket = await open_socket(user)
    await socket.send_json_to(frame)
    last = (await frames_until(socket, lambda f: f["type"] in ("done", "error"), timeout))[-1]
    await socket.disconnect()
    return last


def page_config(user, path: str = "/") -> dict:
    client = Client()
    client.force_login(user)
    html = client.get(path).content.decode()
    start = html.index('<script id="chat-config" type="application/json">') + len(
        '<script id="chat-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


# -- access per group ------------------------------------------------------------------------------


async def test_a_model_listed_by_a_team_is_for_its_members_only_over_http_and_websocket(
    alice, bob, model, model_b, upstream
):
    await sync_to_async(make_team)("Research", alice, models=[model_b])
    # Alice, a member, starts a chat with it.
    done = await turn(alice, {"type": "send", "text": "Hi", "model": str(model_b.code)})
    assert done["type"] == "done" and done["message"]["status"] == "complete"
    assert upstream.requests[-1]["json"]["model"] == "test/model-b"
    # Bob, not a member, is refused with a clear message naming what he may use, by hand too.
    error = await turn(bob, {"type": "send", "text": "Hi", "model": str(model_b.code)})
    assert error["type"] == "error"
    assert error["error"] == "test/model-b is not available to you. Models you may use: test/model-a."
    assert not await Conversation.objects.filter(owner=bob).aexists()
    # The picker does not offer it to him; it does to her.
    assert [m["label"] for m in (await sync_to_async(page_config)(bob))["models"]] == ["test/model-a"]
    assert {m["label"] for m in (await sync_to_async(page_config)(alice))["models"]} == {"test/model-a", "test/model-b"}


def test_setting_a_model_not_allowed_is_refused_and_a_conversation_left_with_one_says_so(bob, model, model_b):
    make_team("Research", models=[model_b])
    mine = Conversation.objects.create(owner=bob, model=model)
    client = Client()
    client.force_login(bob)
    for url, body in [
        (f"/c/{mine.code}/model/", {"model": str(model_b.code)}),
        (f"/c/{mine.code}/options/", {"model": str(model_b.code)}),
        ("/c/new/", {"model": str(model_b.code)}),
    ]:
        answer = client.post(url, body, content_type="application/json")
        assert answer.status_code == 400 and "not available to you" in answer.json()["error"], url
    # A conversation whose model was allowed when it began, and is not any more.
    Conversation.objects.filter(pk=mine.pk).update(model=model_b)
    config = page_config(bob, f"/c/{mine.code}/")
    assert config["model_unavailable"].startswith("test/model-b is not available to you.")
    assert [m["label"] for m in config["models"]] == ["test/model-a"]


async def test_a_conversation_whose_model_is_no_longer_allowed_refuses_the_next_send(bob, model, model_b, upstream):
    mine = await Conversation.objects.acreate(owner=bob, model=model_b)
    await sync_to_async(make_team)("Research", models=[model_b])
    error = await turn(bob, {"type": "send", "conversation": str(mine.code), "text": "Hi"})
    assert error["type"] == "error" and "test/model-b is not available to you" in error["error"]
    assert not await Message.objects.filter(conversation=mine).aexists() and not upstream.requests


async def test_a_provider_listed_by_a_team_restricts_every_model_of_it_and_a_superuser_keeps_them(
    alice, bob, model, upstream, django_user_model
):
    await sync_to_async(make_team)("Research", alice, providers=[model.provider])
    assert (await turn(alice, {"type": "send", "text": "Hi there"}))["type"] == "done"
    error = await turn(bob, {"type": "send", "text": "Hi there"})  # the default model, restricted now
    assert error["type"] == "error" and error["error"] == "No model is available: an admin has to add a provider first."
    root = await sync_to_async(django_user_model.objects.create_superuser)("root", password="root-password-1")
    assert (await turn(root, {"type": "send", "text": "Hi there"}))["type"] == "done"


async def test_a_model_sent_by_hand_for_a_conversation_or_a_regeneration_is_refused(bob, model, model_b, upstream):
    mine = await Conversation.objects.acreate(owner=bob, model=model)
    await sync_to_async(make_team)("Research", models=[model_b])
    error = await turn(bob, {"type": "send", "conversation": str(mine.code), "text": "Hi", "model": str(model_b.code)})
    assert error["type"] == "error" and error["error"].startswith("test/model-b is not available to you.")
    await mine.arefresh_from_db()
    assert mine.model_id == model.pk and not upstream.requests
    # A conversation left with a model that became restricted: its regeneration is refused too.
    done = await turn(bob, {"type": "send", "conversation": str(mine.code), "text": "Hi"})
    assert done["type"] == "done"
    await Conversation.objects.filter(pk=mine.pk).aupdate(model=model_b)
    error = await turn(bob, {"type": "regenerate", "conversation": str(mine.code)})
    assert error["type"] == "error" and "test/model-b is not available to you" in error["error"]
    assert len(upstream.requests) == 1


def test_a_preset_cannot_be_saved_with_a_model_not_allowed(bob, model, model_b):
    from chatsite.chat.models import Preset

    make_team("Research", models=[model_b])
    client = Client()
    client.force_login(bob)
    answer = client.post("/presets/", {"name": "Deep", "model": str(model_b.code)}, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"].startswith("test/model-b is not available to you.")
    assert not Preset.objects.exists()


def test_presets_name_their_model_only_to_those_who_may_use_it(alice, bob, model, model_b):
    from chatsite.chat.models import Preset

    make_team("Research", alice, models=[model_b])
    Preset.objects.create(name="Deep", model=model_b)
    assert page_config(alice)["presets"][0]["model"] == str(model_b.code)
    assert page_config(bob)["presets"][0]["model"] is None


async def test_a_team_key_is_sent_for_its_members_and_their_usage_is_billed_to_the_team(alice, bob, model, upstream):
    team = await sync_to_async(make_team)("Research", alice)
    await TeamProviderKey.objects.acreate(team=team, provider=model.provider, api_key="sk-team-research")
    done = await turn(alice, {"type": "send", "text": "Hi there"})
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-team-research"
    assert "sk-team-research" not in json.dumps(done)
    await turn(bob, {"type": "send", "text": "Hi there"})
    assert upstream.requests[-1]["headers"]["authorization"].endswith("sk-test-secret-key-do-not-leak")
    rows = {(row.user_id, row.team_name, row.requests) async for row in DailyUsage.objects.all()}
    assert rows == {(alice.pk, "Research", 1), (bob.pk, "", 1)}
    answer = await Message.objects.aget(code=done["message"]["id"])
    assert answer.billed_team_id == team.pk


# -- budgets ---------------------------------------------------------------------------------------


async def test_a_spent_token_budget_refuses_the_next_turn_saying_which_limit_and_when_it_resets(alice, model, upstream):
    await Budget.objects.acreate(user=alice, tokens_per_day=5)
    first = await turn(alice, {"type": "send", "text": "Hi there"})  # nothing used yet: admitted
    assert first["type"] == "done" and first["message"]["total_tokens"] == 6  # 2 prompt + 4 answer
    error = await turn(alice, {"type": "send", "conversation": first["conversation"], "text": "More"})
    assert error["type"] == "error"
    assert error["error"].startswith("Your budget of 5 tokens for today is used up (6 used, 0 left); it resets on ")
    assert await Message.objects.filter(conversation__owner=alice).acount() == 2  # nothing of it saved
    assert len(upstream.requests) == 1  # and no provider was called


async def test_two_tabs_cannot_both_spend_the_last_tokens(alice, model, upstream):
    await Budget.objects.acreate(user=alice, tokens_per_day=1000)
    today = timezone.localdate()
    await DailyUsage.objects.acreate(
        day=today, user=alice, provider_name="Loopback", model_name="test/model-a", requests=9, total_tokens=990
    )
    upstream.set_default(tokens=["slow"] * 20, delay=0.05)
    tabs = [await open_socket(alice) for _ in range(2)]
    await asyncio.gather(*(tab.send_json_to({"type": "send", "text": f"tab {i}"}) for i, tab in enumerate(tabs)))
    ends = [(await frames_until(tab, lambda f: f["type"] in ("done", "error"), 10))[-1] for tab in tabs]
    kinds = sorted(end["type"] for end in ends)
    assert kinds == ["done", "error"], ends
    [error] = [end for end in ends if end["type"] == "error"]
    assert "held by answers still streaming" in error["error"]


async def test_a_team_budget_is_shared_by_its_members(alice, charlie, model, upstream):
    team = await sync_to_async(make_team)("Research", alice, charlie)
    await Budget.objects.acreate(team=team, tokens_per_day=5)
    assert (await turn(alice, {"type": "send", "text": "Hi there"}))["type"] == "done"
    error = await turn(charlie, {"type": "send", "text": "Hi there"})
    assert error["type"] == "error" and error["error"].startswith("Team Research’s budget of 5 tokens for today")


async def test_a_budgets_messages_a_minute_are_counted(alice, model, upstream, same_minute):
    await Budget.objects.acreate(user=alice, messages_per_minute=1)
    assert (await turn(alice, {"type": "send", "text": "Hi there"}))["type"] == "done"
    error = await turn(alice, {"type": "send", "text": "Again"})
    assert error["type"] == "error" and error["error"].startswith("You have sent 1 message this minute, the limit")


async def test_a_cost_budget_is_reckoned_from_the_models_prices(alice, model, upstream):
    await LanguageModel.objects.filter(pk=model.pk).aupdate(
        price_input=Decimal("1000000"), price_output=Decimal("2000000")
    )
    await Budget.objects.acreate(user=alice, cost_per_month=Decimal("5"))
    done = await turn(alice, {"type": "send", "text": "Hi there"})
    answer = await Message.objects.aget(code=done["message"]["id"])
    assert answer.cost == Decimal("10")  # 2 prompt tokens at 1 per token, 4 answer tokens at 2
    error = await turn(alice, {"type": "send", "text": "Again"})
    assert error["type"] == "error" and error["error"].startswith("Your budget of 5.00 USD for this month is spent")


async def test_usage_is_counted_from_the_providers_counts_estimated_when_it_sends_none(alice, model, upstream):
    upstream.script(tokens=["abcd", "efgh"], usage=False)
    await turn(alice, {"type": "send", "text": "Hi there"})
    await turn(alice, {"type": "send", "text": "Hi there"})
    [row] = [row async for row in DailyUsage.objects.filter(user=alice)]
    assert (row.requests, row.estimated_requests) == (2, 1)
    assert row.total_tokens == 6 + 4  # the provider's 2 + 4; the estimate: 8 characters each way, 4 a token


async def test_a_turn_with_tool_rounds_counts_every_round(alice, model, upstream):
    conversation = await Conversation.objects.acreate(owner=alice, model=model, tools=["calculator"])
    upstream.script(tokens=[], tool_calls=[{"id": "c1", "name": "calculator", "arguments": '{"expression": "2+2"}'}])
    upstream.script(tokens=["Four."])
    done = await turn(alice, {"type": "send", "conversation": str(conversation.code), "text": "2+2?"})
    [row] = [row async for row in DailyUsage.objects.filter(user=alice)]
    assert row.requests == 1 and row.total_tokens == done["message"]["total_tokens"]

    def prompt_words(request: dict) -> int:  # the upstream's own prompt count
        return sum(len(str(m.get("content", "")).split()) for m in request["json"]["messages"])

    rounds = [r for r in upstream.requests if r["path"].endswith("/chat/completions")]
    assert len(rounds) == 2
    assert row.prompt_tokens == sum(prompt_words(r) for r in rounds)  # both rounds, not only the last


async def test_answers_ending_together_tell_each_user_their_own_budget_in_their_language(alice, bob, model, upstream):
    """The budgets of answers that end together are read at once (budgetnews.py); each user is
    still told only their own, in their own language."""
    await Budget.objects.acreate(user=alice, tokens_per_day=100)
    await Budget.objects.acreate(user=bob, tokens_per_day=50)
    bob.language = "ja"
    await bob.asave()
    sockets = [await open_socket(alice), await open_socket(bob)]
    await asyncio.gather(*(s.send_json_to({"type": "send", "text": "Hi there"}) for s in sockets))
    told = [(await frames_until(s, lambda f: f["type"] == "budget", 5))[-1]["budget"] for s in sockets]
    assert [b[0]["left"] for b in told] == ["94", "44"]  # each less the 6 their answer used
    assert [b[0]["limit"] for b in told] == ["100", "50"]
    assert [b[0]["label"] for b in told] == ["You: tokens today", "あなた：今日のトークン"]
    for s in sockets:
        await s.disconnect()


async def test_the_composer_is_told_what_is_left(alice, model, upstream):
    await Budget.objects.acreate(user=alice, tokens_per_day=100)
    config = await sync_to_async(page_config)(alice)
    assert config["budget"][0]["label"] == "You: tokens today" and config["budget"][0]["left"] == "100"
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "text": "Hi there"})
    frames = await frames_until(socket, lambda f: f["type"] == "budget", 5)
    assert frames[-1]["budget"][0]["left"] == "94"  # 100 less the 6 the answer used
