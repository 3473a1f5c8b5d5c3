"""The chat websocket: turns frames into calls and group events into frames."""

import json
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext_lazy

from chatsite.accounts import locale
from chatsite.chat import events, frames, runtime, turns
from chatsite.chat.models import Message
from chatsite.chat.payloads import conversation_payload, message_payload
from chatsite.lib.layers import DirectDelivery

log = logging.getLogger(__name__)

CLOSE_LOGGED_OUT = 4401
CLOSE_TOO_MANY = 4429  # the user's socket cap (the error frame before it says so)
CLOSE_RESTART = 4012  # the server restarts (1012, as an application may send it): the browser reconnects
UNEXPECTED = gettext_lazy("chatsite could not handle that; try again.")
# Frame fields a send without a conversation takes for the conversation it makes.
NEW_CHAT_OPTIONS = ("system_prompt", "parameters", "tools")


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


class ChatConsumer(AsyncWebsocketConsumer):
    subscribed: str | None = None
    personal_groups: tuple[str, ...] = ()
    counted = False
    left = False
    language: str | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (closed, crashed, cancelled by the server), nothing of
            # it stays in the channel layer.
            await self._leave()

    async def dispatch(self, message: dict) -> None:
        if message["type"].startswith("websocket."):
            # From the socket. Whatever it says to the user is in their language, decided once
            # per socket (a change of language reloads the page, and so the socket). Channels'
            # own dispatch would first tidy the database connections in a thread hop of its own,
            # a third of a millisecond before every turn; every handler reaches the database
            # through database_sync_to_async, which tidies them in its own hop.
            if self.language is None:
                self.language = locale.for_scope(self.scope)
            with translation.override(self.language):
                await getattr(self, get_handler_name(message))(message)
            return
        # A group event. Handlers of events never touch the database.
        handler = self.EVENTS.get(message["type"])
        if handler is not None:
            await handler(self, message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated or not self.user.is_active:
            await self.close(code=CLOSE_LOGGED_OUT)
            return
        self.runtime = runtime.current()
        refusal = self.runtime.socket_opened(self.user.pk, self.channel_name)
        if refusal:
            await self.accept()
            await self._error(refusal)
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.counted = True
        groups = [events.user_group(self.user.pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            groups.append(events.session_group(session_key))
        self.personal_groups = tuple(groups)
        for group in self.personal_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        if isinstance(self.channel_layer, DirectDelivery):
            self.channel_layer.attach(self.channel_name, self.dispatch)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        # Leaving stops nothing: the answer goes on and is saved (see generation.py).
        await self._leave()

    async def _leave(self) -> None:
        if self.left or not hasattr(self, "channel_name"):
            return
        self.left = True
        if isinstance(self.channel_layer, DirectDelivery):
            self.channel_layer.detach(self.channel_name)
        if self.counted:
            self.runtime.socket_closed(self.user.pk, self.channel_name)
        groups = [*self.personal_groups]
        if self.subscribed:
            groups.append(events.conversation_group(self.subscribed))
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                log.warning("could not leave group %s", group, exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = frames.parse(text_data, bytes_data)
        except frames.TooLarge as error:
            # daphne passes no close reason on, so the error frame says why first.
            await self._error(error.message)
            await self.close(code=frames.CLOSE_TOO_BIG)
            return
        except frames.FrameError as error:
            await self._error(error.message)
            return
        handler = self.HANDLERS.get(frame["type"])
        if handler is None:
            await self._error(translation.gettext("Unknown frame type."))
            return
        try:
            await handler(self, frame)
        except turns.ChatError as error:
            await self._error(error.message, frame.get("conversation"), frames.ref(frame))
        except Exception:
            # Whatever went wrong with this frame, the socket (and its other answers) stay.
            log.exception("handling a %r frame failed", frame["type"][:32])
            await self._error(UNEXPECTED, frame.get("conversation"), frames.ref(frame))

    # -- frames from the browser -----------------------------------------------------------

    async def on_subscribe(self, frame: dict) -> None:
        code, streaming = await _owned_conversation(self.user, frame.get("conversation"))
        await self._join(code)
        if streaming:
            await self._ask_snapshot(code)
        elif last := await _last_answer(code):
            await self._send({"type": "done", "conversation": code, "message": last})

    async def on_send(self, frame: dict) -> None:
        conversation = frame.get("conversation")
        options = None if conversation else {key: frame[key] for key in NEW_CHAT_OPTIONS if key in frame}
        ask = turns.Ask(
            self.user,
            conversation or None,
            frame.get("text"),
            frame.get("attachments") or [],
            frame.get("model"),
            options=options,
        )
        await self._take(ask, frames.ref(frame))

    async def on_regenerate(self, frame: dict) -> None:
        await self._take(turns.Ask(self.user, frame.get("conversation"), kind=turns.REGENERATE))

    async def on_edit(self, frame: dict) -> None:
        ask = turns.Ask(
            self.user, frame.get("conversation"), frame.get("text"), kind=turns.EDIT, message=frame.get("message")
        )
        await self._take(ask)

    async def on_continue(self, frame: dict) -> None:
        await self._take(turns.Ask(self.user, frame.get("conversation"), kind=turns.CONTINUE))

    async def on_stop(self, frame: dict) -> None:
        code, _ = await _owned_conversation(self.user, frame.get("conversation"))
        # Reaches the generation in whichever process runs it.
        await self.channel_layer.group_send(events.control_group(code), {"type": events.STOP})

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

    async def _take(self, ask: turns.Ask, ref: str | None = None) -> None:
        """Run the turn (its answer is streaming when this returns) and show it in every tab."""
        turn, event, shown = await self.runtime.turns.take(ask)
        try:
            code = str(turn.conversation.code)
            if turn.created:
                # This tab learns its new conversation's id before the group's frames name it.
                payload = conversation_payload(turn.conversation)
                await self._send({"type": "created", "conversation": payload, "ref": ref})
            await self._join(code)
            if turn.created:  # nobody else can follow a conversation made just now: no round trip
                await self._turn(event)
            else:
                await self.channel_layer.group_send(events.conversation_group(code), event)
        finally:
            shown()  # the answer's deltas come after the turn's frames, in every tab

    async def _join(self, code: str) -> None:
        """Follow this conversation's group (a tab shows one conversation at a time)."""
        if self.subscribed == code:
            return
        if self.subscribed:
            await self.channel_layer.group_discard(events.conversation_group(self.subscribed), self.channel_name)
        self.subscribed = code
        await self.channel_layer.group_add(events.conversation_group(code), self.channel_name)

    async def _ask_snapshot(self, code: str) -> None:
        await self.channel_layer.group_send(
            events.control_group(code), {"type": events.RESYNC, "reply_to": self.channel_name}
        )

    async def _send(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame))

    async def _error(self, message: str, conversation=None, ref: str | None = None) -> None:
        frame = {"type": "error", "error": str(message)}  # a lazy text, in the socket's language
        if isinstance(conversation, str):
            frame["conversation"] = conversation[:64]
        if ref is not None:
            frame["ref"] = ref
        await self._send(frame)

    # -- group events to the browser -------------------------------------------------------

    async def _forward(self, event: dict) -> None:
        # Only the subscribed conversation's events reach the tab (a late event from a
        # conversation the tab just left is dropped).
        if event.get("conversation") != self.subscribed:
            return
        await self._send({**event, "type": event["type"].removeprefix("chat.")})

    async def _turn(self, event: dict) -> None:
        for each in event["events"]:
            await self.EVENTS[each["type"]](self, each)

    async def _conversation_changed(self, event: dict) -> None:
        await self._send({"type": "conversation", "conversation": event["conversation"]})

    async def _budget(self, event: dict) -> None:
        await self._send({"type": "budget", "budget": event["budget"]})

    async def _logged_out(self, event: dict) -> None:
        await self.close(code=CLOSE_LOGGED_OUT)

    async def _restart(self, event: dict) -> None:
        await self.close(code=CLOSE_RESTART)

    EVENTS = {
        events.DELTA: _forward,
        events.SNAPSHOT: _forward,
        events.DONE: _forward,
        events.MESSAGE: _forward,
        events.TRUNCATED: _forward,
        events.CONVERSATION: _conversation_changed,
        events.TURN: _turn,
        events.BUDGET: _budget,
        events.LOGOUT: _logged_out,
        events.RESTART: _restart,
    }
