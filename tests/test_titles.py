"""A new conversation is named by a title model after its first answer, never holding it up."""

import pytest
from asgiref.sync import sync_to_async

from chatsite.chat.models import Conversation
from chatsite.chat.titles import clean_title
from chatsite.teams.models import TeamSettings
from tests.conftest import frames_until, is_done, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


def use_title_model(model) -> None:
    site = TeamSettings.current()
    site.title_model = model
    site.save()


async def test_the_title_model_names_a_new_conversation_after_its_first_answer(alice, model, upstream):
    await sync_to_async(use_title_model)(model)
    upstream.script(tokens=["Here is ", "the plan."], delay=0.01)
    upstream.script(tokens=['"Trip', " to", ' Kyoto"'])  # the title request
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "text": "Plan a week in Kyoto for me, please"})
    frames = await frames_until(socket, is_done)
    # The answer is done first, under the first words…
    assert frames[-1]["message"]["text"] == "Here is the plan."
    first = [f["conversation"]["title"] for f in frames if f["type"] == "conversation"]
    assert first == ["Plan a week in Kyoto for me, please"]
    # …then the model's title arrives, cleaned of its quotes.
    renamed = await frames_until(socket, lambda f: f["type"] == "conversation")
    assert renamed[-1]["conversation"]["title"] == "Trip to Kyoto"
    code = frames[0]["conversation"]["id"]
    assert (await Conversation.objects.aget(code=code)).title == "Trip to Kyoto"
    title_request = upstream.requests[-1]["json"]
    assert "Plan a week in Kyoto" in title_request["messages"][0]["content"] and title_request["max_tokens"] == 24


async def test_a_title_the_user_gave_meanwhile_stays_and_a_failing_title_model_changes_nothing(alice, model, upstream):
    await sync_to_async(use_title_model)(model)
    upstream.script(tokens=["Answer."])
    upstream.script(status=500)  # the title model fails
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "text": "Hello there"})
    done = (await frames_until(socket, is_done))[-1]
    assert done["message"]["status"] == "complete"
    code = done["conversation"]
    await socket.disconnect()
    assert (await Conversation.objects.aget(code=code)).title == "Hello there"
    # Renamed by the user before the model answers: the model's title is not put over it.
    conversation = await Conversation.objects.aget(code=code)
    from chatsite.chat.titles import _retitle

    assert await sync_to_async(_retitle)(code, alice.pk, "First words", "Model's title", model, None) is None
    assert (await Conversation.objects.aget(pk=conversation.pk)).title == "Hello there"


async def test_without_a_title_model_the_first_words_stay_and_nothing_more_is_asked(alice, model, upstream):
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "text": "Hello there"})
    await frames_until(socket, is_done)
    assert len(upstream.requests) == 1


def test_a_models_title_is_cleaned():
    assert clean_title('  "Trip to Kyoto"\n') == "Trip to Kyoto"
    assert clean_title("Title: 京都旅行の計画") == "京都旅行の計画"
    assert clean_title("**Bold**") == "Bold"
    assert len(clean_title("word " * 40)) == 60
