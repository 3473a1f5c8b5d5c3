"""The upstream request of a turn: planned with the turn in the database thread, built later.

Building reads and base64-encodes the history's files, which must not hold the one thread that
does every user's database work; so a turn carries a RequestPlan (everything loaded, no query
left to make) and the generation builds it, in a worker thread when files are to be read.
"""

import asyncio
from dataclasses import dataclass, field

from chatsite.chat.models import Conversation, Message
from chatsite.chat.prompt import build_messages, reads_files
from chatsite.providers.models import LanguageModel
from chatsite.providers.shaping import shape_body
from chatsite.tools.registry import ToolSpec


@dataclass(frozen=True)
class UpstreamRequest:
    """Everything the generation needs; the key stays on the server side."""

    base_url: str
    api_key: str = ""
    body: dict | None = None
    model_id: int | None = None  # where a learned quirk (the length limit's field) is remembered
    tools: tuple[ToolSpec, ...] = ()  # what the model may call, as the body's "tools" says
    user_id: int | None = None  # whose data a tool may read (search in their own conversations)

    def __repr__(self) -> str:  # never print the key, even in a traceback
        return f"UpstreamRequest(base_url={self.base_url!r})"


@dataclass(frozen=True)
class RequestPlan:
    """A turn's request, decided: the conversation (its prompt and parameters), the model (with
    its provider), the history asked about (attachments loaded), the tools, and messages to
    add after the history (Continue's request for more)."""

    conversation: Conversation
    model: LanguageModel
    history: list[Message]
    tools: tuple[ToolSpec, ...] = ()
    extra: tuple[dict, ...] = field(default=())
    api_key: str | None = field(default=None, repr=False)  # a team's key for the provider; None: its own

    def __repr__(self) -> str:
        return f"RequestPlan(conversation={self.conversation.code}, model={self.model.name!r})"


def build(plan: RequestPlan) -> UpstreamRequest:
    conversation, model = plan.conversation, plan.model
    messages = build_messages(conversation, plan.history, model.abilities(), tools=bool(plan.tools))
    definitions = [spec.definition() for spec in plan.tools]
    body = shape_body(model, [*messages, *plan.extra], conversation.parameters, definitions)
    provider = model.provider
    key = plan.api_key if plan.api_key is not None else provider.api_key
    return UpstreamRequest(provider.base_url, key, body, model.pk, plan.tools, conversation.owner_id)


async def build_async(plan: RequestPlan) -> UpstreamRequest:
    """build(), off the event loop when it reads files (a text-only history costs less than the
    thread hop)."""
    if reads_files(plan.history, plan.model.abilities()):
        return await asyncio.to_thread(build, plan)
    return build(plan)
