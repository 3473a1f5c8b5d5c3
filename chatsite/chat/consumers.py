"""The chat websocket: turns frames into calls and group events into frames."""

import json

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chatsite.accounts.sockets import session_group, user_group
from chatsite.chat import turns
from chatsite.chat.generation import control_group_for, ensure_reaper, group_for, start_generation
from chatsite.chat.models import Message
from chatsite.chat.payloads import message_payload, turn_frames
from chatsite.chat.sendqueue import send_queue

CLOSE_LOGGED_OUT = 4401
CLOSE_TOO_BIG = 1009


@database_sync_to_async
def _owned_conversation(user, code) -> tuple[str, bool]:
    """(conversation id, has a streaming answer) or ChatError: the one ownership check."""
    conversation = turns.get_conversation(user, code)
    streaming = conversation.messages.filter(status=Message.Status.STREAMING).exists()
    return str(conversation.code), streaming


@database_sync_to_async
def _last_answer(code: str) -> dict | None:
    """The conversation's last answer, when it is finished: a tab that was away may have missed its end."""
    answer = Message.objects.filter(conversation__code=code, role=Message.Role.ASSISTANT).order_by("-pk").first()
    if answer is None or answer.status == Message.Status.STREAMING:
        return None
    return message_payload(answer, attachments=[])


@database_sync_to_async
def _take_turn(action, *args) -> tuple[turns.Turn, list[dict]]:
    """Run a turn (regenerate, edit, continue) and build its frames, in the database thread."""
    turn = action(*args)
    return turn, turn_frames(turn)


class ChatConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        # Channels closes stale database connections before every event, a thread hop per
        # streamed delta per socket. Every database call here goes through
        # database_sync_to_async, which does that itself, so events skip it.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated or not self.user.is_active:
            await self.close(code=CLOSE_LOGGED_OUT)
            return
        self.subscribed: str | None = None
        self.personal_groups = [user_group(self.user.pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            self.personal_groups.append(session_group(session_key))
        for group in self.personal_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        if attach := getattr(self.channel_layer, "attach", None):
            # In-process layer: events arrive by a plain call (see chatsite/lib/layers.py).
            attach(self.channel_name, self.dispatch)
        ensure_reaper()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        # Leaving stops nothing: the answer goes on and is saved (see generation.py).
        if detach := getattr(self.channel_layer, "detach", None):
            detach(self.channel_name)
        for group in getattr(self, "personal_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "subscribed", None):
            await self.channel_layer.group_discard(group_for(self.subscribed), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None or text_data is None:
            await self._error("Frames must be JSON text.")
            return
        if len(text_data) > settings.CHAT_MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("Frames must be JSON objects.")
            return
        if not isinstance(frame, dict):
            await self._error("Frames must be JSON objects.")
            return
        handler = self.HANDLERS.get(frame.get("type"))
        if handler is None:
            await self._error("Unknown frame type.")
            return
        try:
            await handler(self, frame)
        except turns.ChatError as error:
            await self._error(error.message, frame.get("conversation"))

    # -- frames from the browser -----------------------------------------------------------

    async def on_subscribe(self, frame: dict) -> None:
        code, streaming = await _owned_conversation(self.user, frame.get("conversation"))
        await self._join(code)
        if streaming:
            await self._ask_snapshot(code)
        elif last := await _last_answer(code):
            await self.send(text_data=json.dumps({"type": "done", "conversation": code, "message": last}))

    async def on_send(self, frame: dict) -> None:
        ask = turns.Ask(
            self.user, frame.get("conversation"), frame.get("text"), frame.get("attachments") or [], frame.get("model")
        )
        # Its answer is streaming already (see sendqueue.py).
        await self._announce(*await send_queue().send(ask))

    async def on_regenerate(self, frame: dict) -> None:
        await self._begin(*await _take_turn(turns.regenerate, self.user, frame.get("conversation")))

    async def on_edit(self, frame: dict) -> None:
        await self._begin(
            *await _take_turn(turns.edit, self.user, frame.get("conversation"), frame.get("message"), frame.get("text"))
        )

    async def on_continue(self, frame: dict) -> None:
        await self._begin(*await _take_turn(turns.continue_answer, self.user, frame.get("conversation")))

    async def on_stop(self, frame: dict) -> None:
        code, _ = await _owned_conversation(self.user, frame.get("conversation"))
        # Reaches the generation in whichever process runs it.
        await self.channel_layer.group_send(control_group_for(code), {"type": "gen.stop"})

    async def on_resync(self, frame: dict) -> None:
        code, streaming = await _owned_conversation(self.user, frame.get("conversation"))
        if streaming:
            await self._ask_snapshot(code)

    HANDLERS = {
        "subscribe": on_subscribe,
        "send": on_send,
        "regenerate": on_regenerate,
        "edit": on_edit,
        "continue": on_continue,
        "stop": on_stop,
        "resync": on_resync,
    }

    async def _join(self, code: str) -> None:
        """Follow this conversation's group (a tab shows one conversation at a time)."""
        if self.subscribed == code:
            return
        if self.subscribed:
            await self.channel_layer.group_discard(group_for(self.subscribed), self.channel_name)
        self.subscribed = code
        await self.channel_layer.group_add(group_for(code), self.channel_name)

    async def _begin(self, turn: turns.Turn, events: list[dict]) -> None:
        # The upstream request starts first; its first token is a network round trip away,
        # while the frames go out now.
        start_generation(turn.conversation.code, turn.answer, turn.request)
        await self._announce(turn, events)

    async def _announce(self, turn: turns.Turn, events: list[dict]) -> None:
        code = str(turn.conversation.code)
        await self._join(code)
        group = group_for(code)
        for event in events:
            await self.channel_layer.group_send(group, event)

    async def _ask_snapshot(self, code: str) -> None:
        await self.channel_layer.group_send(
            control_group_for(code), {"type": "gen.resync", "reply_to": self.channel_name}
        )

    async def _error(self, message: str, conversation=None) -> None:
        frame = {"type": "error", "error": message}
        if isinstance(conversation, str):
            frame["conversation"] = conversation[:64]
        await self.send(text_data=json.dumps(frame))

    # -- group events to the browser -------------------------------------------------------

    async def _forward(self, event: dict) -> None:
        # Only the subscribed conversation's events reach the tab (a late event from a
        # conversation the tab just left is dropped).
        if event.get("conversation") != self.subscribed:
            return
        await self.send(text_data=json.dumps({**event, "type": event["type"].removeprefix("chat.")}))

    chat_delta = _forward
    chat_snapshot = _forward
    chat_done = _forward
    chat_message = _forward
    chat_truncated = _forward

    async def chat_conversation(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"type": "conversation", "conversation": event["conversation"]}))

    async def user_logout(self, event: dict) -> None:
        await self.close(code=CLOSE_LOGGED_OUT)
