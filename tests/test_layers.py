"""The in-process channel layer (queued and direct delivery) and the coalescing window."""

import pytest

from chatsite.lib.layers import LocalChannelLayer


@pytest.mark.asyncio
async def test_group_events_reach_queued_and_attached_members_in_order():
    layer = LocalChannelLayer()
    queued = await layer.new_channel()
    attached = await layer.new_channel()
    got = []

    async def handler(message):
        got.append(message["n"])

    layer.attach(attached, handler)
    for channel in (queued, attached):
        await layer.group_add("g", channel)
    for n in range(3):
        await layer.group_send("g", {"type": "x", "n": n})
    await layer.send(attached, {"type": "x", "n": 3})

    assert got == [0, 1, 2, 3]
    assert [(await layer.receive(queued))["n"] for _ in range(3)] == [0, 1, 2]


@pytest.mark.asyncio
async def test_a_failing_handler_does_not_stop_the_others_or_the_sender(caplog):
    layer = LocalChannelLayer()
    broken, working = await layer.new_channel(), await layer.new_channel()
    got = []

    async def fail(message):
        raise RuntimeError("socket gone")

    async def record(message):
        got.append(message["type"])

    layer.attach(broken, fail)
    layer.attach(working, record)
    await layer.group_add("g", broken)
    await layer.group_add("g", working)
    await layer.group_send("g", {"type": "chat.delta"})

    assert got == ["chat.delta"]
    assert "socket gone" in caplog.text


@pytest.mark.asyncio
async def test_a_detached_channel_gets_its_messages_queued_again():
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    got = []

    async def record(message):
        got.append(message)

    layer.attach(channel, record)
    layer.detach(channel)
    await layer.send(channel, {"type": "x"})
    assert got == []
    assert (await layer.receive(channel))["type"] == "x"


def test_the_coalescing_window_widens_with_the_live_answers_to_hold_the_frame_rate(settings):
    from chatsite.chat.runtime import Runtime

    settings.STREAM_COALESCE_MS, settings.STREAM_FRAME_RATE, settings.STREAM_COALESCE_MAX_MS = 20, 1000, 150
    runtime = Runtime()
    for live, window in [(0, 0.020), (10, 0.020), (50, 0.050), (100, 0.100), (400, 0.150)]:
        runtime.generations.clear()
        runtime.generations.update(dict.fromkeys(range(live)))
        assert runtime.coalesce_window() == pytest.approx(window)
