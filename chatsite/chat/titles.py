"""Naming a new conversation with a model, after its first answer.

The first question names the conversation at once (its first words, turns.title_from); when an
admin chose a title model (TeamSettings.title_model, a cheap one), a background task then asks
it for a short title and puts it in place, unless the user has renamed the conversation
meanwhile. It never holds up the answer: it starts after the answer's `done`, and whatever
fails only leaves the first words.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chatsite.chat import events
from chatsite.chat.models import Conversation
from chatsite.chat.payloads import conversation_payload
from chatsite.lib.text import storable
from chatsite.providers.client import stream_chat
from chatsite.providers.events import Delta, ProviderError, Usage
from chatsite.providers.shaping import shape_body
from chatsite.teams import usage
from chatsite.teams.models import TeamSettings
from chatsite.teams.usage import Spent, cost_of

if TYPE_CHECKING:
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)

TITLE_CHARS = 60
QUESTION_CHARS = 2000
ANSWER_CHARS = 1000
PROMPT = (
    "Write a title of at most six words for a conversation that starts with this question and "
    "answer. Use the question's language. Answer with the title only, no quotes.\n\n"
    "Question: {question}\n\nAnswer: {answer}"
)


def clean_title(text: str) -> str:
    """A model's title as a conversation's: one line, no quotes or markup around it, not too long."""
    line = " ".join(storable(text).split())
    line = line.strip().strip("\"'“”‘’「」『』*#").strip()
    line = line.removeprefix("Title:").removeprefix("title:").strip()
    if len(line) > TITLE_CHARS:
        line = line[: TITLE_CHARS - 1].rstrip() + "…"
    return line


async def name_conversation(
    runtime: Runtime, code: str, owner_id: int, first_words: str, question: str, answer: str
) -> None:
    """Ask the title model (if any) for a title and use it while the conversation still has the
    first words as its title."""
    try:
        plan = await database_sync_to_async(_title_model)()
        if plan is None:
            return
        model, key = plan
        body = shape_body(
            model,
            [
                {
                    "role": "user",
                    "content": PROMPT.format(question=question[:QUESTION_CHARS], answer=answer[:ANSWER_CHARS]),
                }
            ],
            {"max_tokens": 24},
        )
        parts, used = [], None
        async for event in stream_chat(
            model.provider.base_url,
            key,
            body,
            client=runtime.http(),
            connect_timeout=settings.PROVIDER_CONNECT_TIMEOUT,
            idle_timeout=settings.PROVIDER_IDLE_TIMEOUT,
        ):
            if type(event) is Delta:
                parts.append(event.text)
            elif type(event) is Usage:
                used = event
        title = clean_title("".join(parts))
        changed = await database_sync_to_async(_retitle)(code, owner_id, first_words, title, model, used)
        if changed is not None:
            await get_channel_layer().group_send(
                events.conversation_group(code), {"type": events.CONVERSATION, "conversation": changed}
            )
    except ProviderError as error:
        log.info("the title model could not name conversation %s: %s", code, error.message)
    except Exception:
        log.exception("could not name conversation %s", code)


def _title_model():
    model = TeamSettings.current().title_model
    if model is None or model.hidden or not model.provider.enabled:
        return None
    return model, model.provider.api_key


def _retitle(code: str, owner_id: int, first_words: str, title: str, model, used: Usage | None) -> dict | None:
    if used is not None:
        usage.record(
            Spent(
                user_id=owner_id,
                team_id=None,
                team_name="",
                provider_name=model.provider.name,
                model_name=model.name,
                prompt_tokens=used.prompt_tokens,
                cached_tokens=used.cached_tokens,
                completion_tokens=used.completion_tokens,
                total_tokens=used.total_tokens,
                cost=cost_of(model, used.prompt_tokens, used.cached_tokens, used.completion_tokens),
                estimated=False,
            )
        )
    if not title:
        return None
    # Only over the first words: a title the user gave in the meantime stays.
    if not Conversation.objects.filter(code=code, title=first_words).update(title=title):
        return None
    return conversation_payload(Conversation.objects.select_related("model").get(code=code))
