"""The database side of every turn: a send (to a conversation, or to a new one it makes), a
regenerate, an edit, a continue; each ends in an answer to stream.

Batched: the runner (runner.py) hands over whatever asks have queued up, and take_many writes
them in one transaction and a handful of statements, so a burst of users (a team after a
meeting) costs the one database thread a few statements rather than a few per message. Each
ask still succeeds or fails alone: a refusal is that ask's ChatError, and a batch the database
refuses is written again one ask at a time. Plain synchronous functions (the runner calls them
through database_sync_to_async); ownership is Conversation.objects.for_users / owned.
"""

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, OperationalError, connections, transaction
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy, ngettext

from chatsite.chat import limits
from chatsite.chat.budgets import Budgets, OverBudget, estimate
from chatsite.chat.models import Attachment, Conversation, Message, conversations_table
from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.chat.prompt import file_bytes
from chatsite.chat.request import RequestPlan
from chatsite.chat.saving import STORE_ERRORS
from chatsite.lib import sqlrows
from chatsite.lib.text import TextRefused, check_text
from chatsite.providers.bootstrap import localmodel_down_reason
from chatsite.providers.models import LanguageModel
from chatsite.teams import access
from chatsite.teams.access import Rules
from chatsite.tools import registry

log = logging.getLogger(__name__)

NOT_FOUND = gettext_lazy("Conversation not found.")
STILL_STREAMING = gettext_lazy("An answer is still streaming in this conversation; stop it first.")
ATTACH_AGAIN = gettext_lazy("An attached file was not found; attach it again.")
NO_MODEL = gettext_lazy("No model is available: an admin has to add a provider first.")
FAILED = gettext_lazy("chatsite could not take this message; try again.")
BUSY = gettext_lazy("The server is too busy to save this message right now; try again in a moment.")
DEFAULT_TITLE = Conversation._meta.get_field("title").default

SEND, REGENERATE, EDIT, CONTINUE = "send", "regenerate", "edit", "continue"
# Sent after an answer cut off for length: the Chat Completions API has no portable way to
# resume an assistant message, so the model is asked to go on from its own last words.
CONTINUE_PROMPT = "Continue exactly where your last message stopped, without repeating anything."
LOCKED_RETRIES = 3  # "database is locked" (SQLite's busy timeout ran out): tries before telling the user


# Told a write's turns once they are decided, before they are written (take_many).
Planned = Callable[[dict[int, "Turn"]], None]


class ChatError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Ask:
    """One turn a user asked for, as the browser sent it (checked here, not there).

    kind: send, regenerate, edit or continue. conversation: its id; None for a send that starts
    a new conversation, which then takes `options` (system_prompt, parameters, tools) and
    `model` as the page held them. message: the message an edit changes.
    """

    user: object
    conversation: object = None
    text: object = None
    attachments: object = ()
    model: object = None
    kind: str = SEND
    message: object = None
    options: object = None
    language: str | None = None  # of the asker: what refuses the ask is said in it (runner.py)


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    added: list[Message]  # new (or changed) messages, in order; the last is the streaming answer
    answer: Message
    plan: RequestPlan
    truncated_after: Message | None = None
    truncated: bool = False
    created: bool = False  # the conversation is new, made by this turn
    rates: tuple[str, ...] = ()  # whose messages-a-minute it counts against ("user:1", "team:2")


def take_many(asks: list[Ask], planned: Planned | None = None) -> list[Turn | ChatError]:
    """The asks' turns, written; each its Turn or the ChatError that refused it.

    planned, when given, is called with the turns of the first write tried, once they are
    decided and before they are written (the runner starts their requests then); a turn
    written in the end has the same answer object, any other was not written."""
    results: list[Turn | ChatError | None] = [None] * len(asks)
    ready: dict[int, Ask] = {}
    for i, ask in enumerate(asks):
        try:
            with translation.override(ask.language):
                ready[i] = _checked(ask)
        except ChatError as error:
            results[i] = error
    if len(ready) > 1:
        try:
            written = _write(ready, planned)
        except STORE_ERRORS:
            # One ask the database refuses must not cost the others theirs.
            log.warning("a batch of %d turns failed; writing each alone", len(ready), exc_info=True)
            written = {}
            for i, ask in ready.items():
                written.update(_write_alone(i, ask))
    else:
        written = {}
        for i, ask in ready.items():
            written.update(_write_alone(i, ask, planned))
    for i, result in written.items():
        results[i] = result
    # Only what was taken counts against the minute (a refused or failed ask costs nothing).
    limits.MessageRate().record(
        [key for result in written.values() if isinstance(result, Turn) for key in result.rates]
    )
    return results  # type: ignore[return-value]


def _write_alone(i: int, ask: Ask, planned: Planned | None = None) -> dict[int, Turn | ChatError]:
    for attempt in range(LOCKED_RETRIES):
        try:
            return _write({i: ask}, planned if attempt == 0 else None)
        except OperationalError as error:
            # SQLite's one writer: a long write elsewhere outlasted the busy timeout.
            if "locked" in str(error) and attempt < LOCKED_RETRIES - 1:
                time.sleep(0.2 * 2**attempt)
                continue
            log.warning("could not write a turn", exc_info=True)
            return {i: ChatError(BUSY if "locked" in str(error) else FAILED)}
        except STORE_ERRORS:
            log.warning("could not write a turn", exc_info=True)
            return {i: ChatError(FAILED)}
    return {i: ChatError(BUSY)}


# -- checks that need no database ----------------------------------------------------------


def _checked(ask: Ask) -> Ask:
    """The ask with its texts checked (and line ends normalised), or ChatError."""
    if ask.kind == SEND:
        attachments = ask.attachments
        if not isinstance(attachments, list | tuple) or len(attachments) > settings.CHAT_MAX_IMAGES_PER_MESSAGE:
            raise ChatError(
                ngettext(
                    "At most %(count)s file can go with one message.",
                    "At most %(count)s files can go with one message.",
                    settings.CHAT_MAX_IMAGES_PER_MESSAGE,
                )
                % {"count": settings.CHAT_MAX_IMAGES_PER_MESSAGE}
            )
        if ask.conversation is not None:
            _uuid(ask.conversation)
        elif ask.options is not None and not isinstance(ask.options, dict):
            raise ChatError(gettext("The new conversation's settings must be an object."))
        return replace(ask, text=check_message(ask.text, allow_empty=bool(attachments)))
    if ask.kind == EDIT:
        _uuid(ask.conversation)
        return replace(ask, text=check_message(ask.text, allow_empty=False))
    if ask.kind in (REGENERATE, CONTINUE):
        _uuid(ask.conversation)
        return ask
    raise ChatError(gettext("Unknown kind of turn."))


def check_message(text: object, *, allow_empty: bool) -> str:
    if not isinstance(text, str):
        raise ChatError(gettext("The message must be text."))
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            gettext("The message is longer than %(count)s characters.")
            % {"count": number_format(settings.CHAT_MAX_MESSAGE_CHARS, force_grouping=True)}
        )
    try:
        text = check_text(text, gettext("The message"))
    except TextRefused as error:
        raise ChatError(error.message) from None
    if not text.strip() and not allow_empty:
        raise ChatError(gettext("The message is empty."))
    return text


def check_system_prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or len(prompt) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(gettext("The system prompt must be text of reasonable length."))
    try:
        return check_text(prompt, gettext("The system prompt"))
    except TextRefused as error:
        raise ChatError(error.message) from None


def _uuid(code) -> uuid.UUID:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        # A malformed id answers exactly like another user's id.
        raise ChatError(NOT_FOUND) from None


# -- models --------------------------------------------------------------------------------


NOT_AVAILABLE = gettext_lazy("That model is not available.")


def models_for(user) -> list[LanguageModel]:
    """The models this user may pick (usable, and allowed to one of their teams or to all)."""
    rules = access.rules()
    return [model for model in LanguageModel.objects.usable() if rules.may_use(user, model)]


def default_model(user) -> LanguageModel | None:
    """The default model when this user may use it, else the first they may."""
    allowed = models_for(user)
    return next((model for model in allowed if model.is_default), allowed[0] if allowed else None)


def pick_model(code, user) -> LanguageModel:
    """The model with this id, when this user may pick it; ChatError otherwise."""
    try:
        model = LanguageModel.objects.usable().get(code=code)
    except (LanguageModel.DoesNotExist, ValidationError, ValueError, TypeError):
        raise ChatError(NOT_AVAILABLE) from None
    if not access.rules().may_use(user, model):
        raise ChatError(not_allowed(model, models_for(user)))
    return model


def not_allowed(model: LanguageModel, allowed: list[LanguageModel]) -> str:
    if not allowed:
        return gettext("%(model)s is not available to you.") % {"model": model.display_name}
    return gettext("%(model)s is not available to you. Models you may use: %(models)s.") % {
        "model": model.display_name,
        "models": ", ".join(m.display_name for m in allowed[:10]),
    }


class _Models:
    """The usable models, read once for a whole batch when one is needed (a query per ask would
    cost a burst of new chats most of its time; a follow-up keeps its conversation's, read with it)."""

    def __init__(self) -> None:
        self.by_code: dict[str, LanguageModel] | None = None
        self._default: LanguageModel | None = None

    def _load(self) -> dict[str, LanguageModel]:
        if self.by_code is None:
            usable = LanguageModel.objects.usable_list()
            self.by_code = {str(model.code): model for model in usable}
            self._default = next((model for model in usable if model.is_default), usable[0] if usable else None)
        return self.by_code

    @property
    def default(self) -> LanguageModel | None:
        self._load()
        return self._default

    def pick(self, code) -> LanguageModel:
        model = self._load().get(str(code))
        if model is None:
            raise ChatError(NOT_AVAILABLE)
        return model

    def for_turn(self, conversation: Conversation, code, user, rules: Rules) -> LanguageModel:
        """The model a turn uses: the one asked for, else the conversation's while usable, else the
        default (or the first the user may use); ChatError when it is one the user may not use."""
        if code:
            model = self.pick(code)
        else:
            model = conversation.model
            if model is None or model.hidden or not model.provider.enabled:
                model = self.default
                if model is not None and not rules.may_use(user, model):
                    model = next((m for m in self._load().values() if rules.may_use(user, m)), None)
            if model is None:
                raise ChatError(NO_MODEL)
        if not rules.may_use(user, model):
            raise ChatError(not_allowed(model, [m for m in self._load().values() if rules.may_use(user, m)]))
        return model


def get_conversation(user, code, *, lock: bool = False) -> Conversation:
    """The user's conversation with this id, or ChatError(NOT_FOUND) for anyone else's."""
    try:
        return Conversation.objects.owned(user, code, lock=lock)
    except Conversation.DoesNotExist:
        raise ChatError(NOT_FOUND) from None


# What each kind of attachment needs of the model, and how the refusal says it.
NEEDS = {
    Attachment.Kind.IMAGE: (
        "vision",
        gettext_lazy("%(model)s does not take images: pick another model or remove the images."),
    ),
    Attachment.Kind.AUDIO: (
        "audio",
        gettext_lazy("%(model)s does not take audio: pick another model or remove the audio."),
    ),
}


def _check_model_takes(model: LanguageModel, attachments: list[Attachment]) -> None:
    """Refuse a send the model cannot take; files go to any model (as text when it reads none)."""
    for attachment in attachments:
        ability, what = NEEDS.get(attachment.kind, (None, ""))
        if ability and not getattr(model, ability):
            raise ChatError(what % {"model": model.display_name})
    size = file_bytes(attachments, model.abilities())
    if size > settings.CHAT_MAX_REQUEST_FILE_BYTES:
        limit = settings.CHAT_MAX_REQUEST_FILE_BYTES / (1024 * 1024)
        raise ChatError(
            gettext(
                "The files of this message are %(size)s MB, more than one request carries (%(limit)s MB): "
                "send them in several messages."
            )
            % {"size": number_format(size / (1024 * 1024), 1), "limit": number_format(limit)}
        )


def tools_for(conversation: Conversation, model: LanguageModel) -> tuple[registry.ToolSpec, ...]:
    """The tools switched on for the conversation, when its model can call tools (a model
    known not to would refuse the request, or ignore them)."""
    if not conversation.tools or not model.tools:
        return ()
    return tuple(registry.specs_for(conversation.tools))


# -- one batch -----------------------------------------------------------------------------


@dataclass
class _Plan:
    """A turn decided but not written."""

    conversation: Conversation
    model: LanguageModel
    asked: list[Message]  # the history the request asks about (the new question included)
    new: list[Message]  # messages to insert, in order
    answer: Message
    attachments: list[Attachment] = field(default_factory=list)  # go with new[0], a new question
    changed: list[Message] = field(default_factory=list)  # existing messages saved (an edit, a continue)
    delete_after: Message | None = None  # later messages are deleted (regenerate, edit)
    truncated: bool = False
    created: bool = False
    extra: tuple[dict, ...] = ()
    shown: list[Message] = field(default_factory=list)  # what every tab is sent
    conversation_changed: bool = False  # its title or model changes (more than its place in the list)
    api_key: str | None = None  # a team's key for the provider; None: the provider's own
    rates: tuple[str, ...] = ()

    def turn(self) -> Turn:
        request = RequestPlan(
            self.conversation,
            self.model,
            self.asked,
            tools_for(self.conversation, self.model),
            self.extra,
            self.api_key,
        )
        return Turn(
            self.conversation,
            self.shown,
            self.answer,
            request,
            truncated_after=self.delete_after,
            truncated=self.truncated,
            created=self.created,
            rates=self.rates,
        )


class _Batch:
    """What the asks of one batch read and claim, so that two of them cannot collide."""

    def __init__(self, asks: dict[int, Ask]) -> None:
        keys = [(ask.user, _uuid(ask.conversation)) for ask in asks.values() if ask.conversation is not None]
        owned = Conversation.objects.for_users(keys, lock=True)
        self.owned = {(c.owner_id, c.code): c for c in owned}
        self.histories = _histories(list(self.owned.values()))
        self.models = _Models()
        self.rules = access.rules()
        users = {ask.user.pk for ask in asks.values()}
        self.budgets = Budgets(self.rules, users, count_answers=bool(settings.CHAT_ANSWERS_PER_USER))
        self.rate = limits.MessageRate(self._minutes(users))
        self.streaming = self.budgets.answers  # each user's answers streaming now (their cap)
        self.taken: set[int] = set()  # conversations answering in this batch
        self.claimed: set[int] = set()  # attachments sent in this batch

    def _minutes(self, users: set[int]) -> list[str]:
        """Whose messages a minute the batch may count against (answering below): each user's
        under the site's cap or a budget, each of their teams' under a budget."""
        keys = [f"user:{user}" for user in users] if settings.CHAT_MESSAGES_PER_MINUTE or self.budgets.by_user else []
        if self.budgets.by_team:
            keys += [f"team:{team}" for team in {t for user in users for t in self.rules.teams_of.get(user, ())}]
        return keys

    def conversation(self, ask: Ask) -> tuple[Conversation, list[Message]]:
        conversation = self.owned.get((ask.user.pk, _uuid(ask.conversation)))
        if conversation is None:
            raise ChatError(NOT_FOUND)
        history = self.histories[conversation.pk]
        # A second answer would interleave with the first.
        if conversation.pk in self.taken or any(m.status == Message.Status.STREAMING for m in history):
            raise ChatError(STILL_STREAMING)
        return conversation, history

    def model(self, ask: Ask, conversation: Conversation, code=None) -> LanguageModel:
        return self.models.for_turn(conversation, code, ask.user, self.rules)

    def answering(self, plan: _Plan, user) -> None:
        """Admit the plan's answer: ChatError when its model is down, or past the user's cap, their
        or their team's minute or budgets. Bills it to the user's team (with its provider key)."""
        model, answer = plan.model, plan.answer
        if down := localmodel_down_reason(model.provider):
            raise ChatError(down)
        if refusal := limits.answers_refusal(self.streaming[user.pk]):
            raise ChatError(refusal)
        team, plan.api_key = self.rules.billing(user.pk, model.provider_id)
        user_budget, team_budget = self.budgets.by_user.get(user.pk), self.budgets.by_team.get(team)
        rates = [(f"user:{user.pk}", limits.user_rate_limit(user_budget and user_budget.messages_per_minute), None)]
        if team_budget and team_budget.messages_per_minute:
            rates.append((f"team:{team}", team_budget.messages_per_minute, self.rules.names[team]))
        for key, limit, whose in rates:
            if refusal := self.rate.refusal(key, limit, whose):
                raise ChatError(refusal)
        tokens = estimate([message.text for message in plan.asked], plan.conversation.parameters)
        try:
            self.budgets.admit(user, team, tokens, model)
        except OverBudget as error:
            raise ChatError(error.message) from None
        answer.billed_team_id = team
        answer.reserved_tokens = tokens if (user_budget or team_budget) else 0
        plan.rates = tuple(key for key, limit, _ in rates if limit)
        self.streaming[user.pk] += 1
        if plan.conversation.pk is not None:
            self.taken.add(plan.conversation.pk)

    # One method per kind of turn: read, check, decide; nothing written yet.

    def send(self, ask: Ask) -> _Plan:
        if ask.conversation is None:
            conversation, history, created = _new_conversation(ask), [], True
        else:
            (conversation, history), created = self.conversation(ask), False
        model = self.model(ask, conversation, ask.model)
        attachments = _claim(ask.user, ask.attachments)
        _check_model_takes(model, attachments)
        if self.claimed.intersection(a.pk for a in attachments):  # already sent in this batch
            raise ChatError(ATTACH_AGAIN)
        question = Message(conversation=conversation, role=Message.Role.USER, text=ask.text)
        question.known_attachments = attachments
        answer = _answer(conversation, model)
        plan = _Plan(conversation, model, [*history, question], [question, answer], answer, attachments)
        self.answering(plan, ask.user)
        self.claimed.update(a.pk for a in attachments)
        plan.created = created
        plan.shown = [question, answer]
        return plan

    def regenerate(self, ask: Ask) -> _Plan:
        conversation, history = self.conversation(ask)
        asked = [i for i, message in enumerate(history) if message.role == Message.Role.USER]
        if not asked:
            raise ChatError(gettext("There is nothing to regenerate yet."))
        model = self.model(ask, conversation)
        last_question = history[asked[-1]]
        answer = _answer(conversation, model)
        plan = _Plan(conversation, model, history[: asked[-1] + 1], [answer], answer)
        self.answering(plan, ask.user)
        plan.delete_after, plan.truncated, plan.shown = last_question, True, [answer]
        return plan

    def edit(self, ask: Ask) -> _Plan:
        conversation, history = self.conversation(ask)
        at = next(
            (
                i
                for i, message in enumerate(history)
                if message.role == Message.Role.USER and str(message.code) == str(ask.message)
            ),
            None,
        )
        if at is None:
            raise ChatError(gettext("Message not found."))
        model = self.model(ask, conversation)
        question = history[at]
        answer = _answer(conversation, model)
        plan = _Plan(conversation, model, history[: at + 1], [answer], answer, changed=[question])
        self.answering(plan, ask.user)
        question.text = ask.text
        # The edited message is resent whole so every tab shows the new text.
        plan.delete_after, plan.truncated, plan.shown = question, True, [question, answer]
        return plan

    def continue_answer(self, ask: Ask) -> _Plan:
        """More of the last answer when it was cut off for length: the same message grows."""
        conversation, history = self.conversation(ask)
        answer = history[-1] if history else None
        if answer is None or answer.role != Message.Role.ASSISTANT or answer.finish_reason != "length":
            raise ChatError(gettext("Only an answer cut off at its length limit can be continued."))
        model = self.model(ask, conversation)
        # The whole history, the answer so far included, then the request for more.
        plan = _Plan(conversation, model, history, [], answer, changed=[answer])
        self.answering(plan, ask.user)
        answer.status = Message.Status.STREAMING
        answer.finish_reason = ""
        answer.model_name, answer.provider_name = model.name, model.provider.name
        plan.extra, plan.shown = ({"role": "user", "content": CONTINUE_PROMPT},), [answer]
        return plan

    def plan(self, ask: Ask) -> _Plan:
        planner = {SEND: self.send, REGENERATE: self.regenerate, EDIT: self.edit, CONTINUE: self.continue_answer}
        return planner[ask.kind](ask)


def _write(asks: dict[int, Ask], planned: Planned | None = None) -> dict[int, Turn | ChatError]:
    """Plan every ask, then write all the plans: one transaction, a handful of statements."""
    results: dict[int, Turn | ChatError] = {}
    with transaction.atomic():
        batch = _Batch(asks)
        plans: dict[int, _Plan] = {}
        for i, ask in asks.items():
            try:
                with translation.override(ask.language):
                    plans[i] = batch.plan(ask)
            except ChatError as error:
                results[i] = error
            except (ParameterError, TextRefused) as error:
                results[i] = ChatError(str(error))
            except DatabaseError:
                raise
            except Exception:
                log.exception("could not plan a %s turn", ask.kind)
                results[i] = ChatError(FAILED)
        if planned is not None and plans:
            planned({i: plan.turn() for i, plan in plans.items()})
        _save(list(plans.values()))
    for i, plan in plans.items():
        results[i] = plan.turn()
    return results


def _save(plans: list[_Plan]) -> None:
    now = timezone.now()
    created = [plan.conversation for plan in plans if plan.created]
    for plan in plans:
        asked_questions = [m for m in plan.asked if m.role == Message.Role.USER]
        if plan.conversation.title == DEFAULT_TITLE and len(asked_questions) == 1:
            # The first question names the conversation (its first file's name when it has no text).
            question = asked_questions[0]
            plan.conversation.title = title_from(question.text) or title_from(_first_file_name(question)) or "Image"
            plan.conversation_changed = True
        if plan.conversation.model_id != plan.model.pk:
            plan.conversation_changed = True  # (its model changed: written with the title)
        plan.conversation.model = plan.model
        # The conversation moves to the top of the list.
        plan.conversation.updated = now
    connection = connections[Message.objects.db]
    conversations_table().insert(connection, created)
    for plan in plans:
        if plan.delete_after is not None:
            plan.conversation.messages.filter(pk__gt=plan.delete_after.pk).delete()
        for message in plan.changed:
            message.updated = now
            message.save(
                update_fields=[
                    "text",
                    "status",
                    "finish_reason",
                    "model_name",
                    "provider_name",
                    "billed_team",
                    "reserved_tokens",
                    "updated",
                ]
            )
    # One INSERT for every new message (all get their ids back).
    _MESSAGES.insert(connection, [message for plan in plans for message in plan.new])
    for plan in plans:
        if plan.attachments:
            Attachment.objects.filter(pk__in=[a.pk for a in plan.attachments]).update(message=plan.new[0])
    # Most turns only move their conversation to the top of the list: one UPDATE for all of them
    # (bulk_update's CASE per row and field costs more to build than a burst's inserts); those
    # whose title or model changed get their own.
    moved = [plan.conversation.pk for plan in plans if not plan.created and not plan.conversation_changed]
    conversations_table().touch(connection, moved, "updated", now)
    for plan in plans:
        if plan.conversation_changed and not plan.created:
            conversation = plan.conversation
            Conversation.objects.filter(pk=conversation.pk).update(
                title=conversation.title, model=conversation.model, updated=now
            )


def _new_conversation(ask: Ask) -> Conversation:
    """A conversation the send makes, with the settings the page held for it (checked as the
    settings panel's are)."""
    options = ask.options or {}
    conversation = Conversation(owner=ask.user)
    if "system_prompt" in options:
        conversation.system_prompt = check_system_prompt(options["system_prompt"])
    if "parameters" in options:
        conversation.parameters = clean_parameters(options["parameters"])
    if "tools" in options:
        try:
            conversation.tools = registry.clean_names(options["tools"])
        except ValueError as error:
            raise ChatError(str(error)) from None
    return conversation


def _answer(conversation: Conversation, model: LanguageModel) -> Message:
    return Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_name=model.name,
        provider_name=model.provider.name,
    )


def _histories(conversations: list[Conversation]) -> dict[int, list[Message]]:
    """Each conversation's messages, oldest first, each with its attachments as known_attachments:
    one query for all of them, and one more for the attachments of those that have any (the
    conversations come with has_files). In SQL by hand (lib/sqlrows.py): the ORM's queryset
    cost a follow-up's request about a millisecond before it could start, and prefetch_related a
    related manager per message (20 ms for 400 messages)."""
    histories: dict[int, list[Message]] = {conversation.pk: [] for conversation in conversations}
    if not histories:
        return histories
    files: defaultdict[int, list[Attachment]] = defaultdict(list)
    with_files = [conversation.pk for conversation in conversations if conversation.has_files]
    if with_files:
        for attachment in Attachment.objects.filter(message__conversation__in=with_files):
            files[attachment.message_id].append(attachment)
    connection = connections[Message.objects.db]
    ids = list(histories)
    # Primary keys grow with time, unlike timestamps that two rows may share.
    sql = (
        f"SELECT {_MESSAGES.columns} FROM {_MESSAGES.source}"  # noqa: S608 - only columns and placeholders go in
        f" WHERE m.conversation_id IN ({sqlrows.placeholders(ids)}) ORDER BY m.id"
    )
    for row in sqlrows.fetch(connection, sql, ids):
        message = _MESSAGES.make(connection, row)
        message.known_attachments = files.get(message.pk, [])
        histories[message.conversation_id].append(message)
    return histories


_MESSAGES = sqlrows.Table(Message, "m")


def _claim(user, attachment_codes) -> list[Attachment]:
    """The user's own unsent attachments with these ids, or ChatError."""
    if not attachment_codes:
        return []
    try:
        attachments = list(Attachment.objects.filter(owner=user, message__isnull=True, code__in=list(attachment_codes)))
    except (ValidationError, ValueError, TypeError):  # malformed ids
        attachments = []
    if len(attachments) != len(set(map(str, attachment_codes))):
        raise ChatError(ATTACH_AGAIN)
    return attachments


def _first_file_name(question: Message) -> str:
    attachments = getattr(question, "known_attachments", None)
    if attachments is None:
        attachments = list(question.attachments.all())
    return attachments[0].original_name if attachments else ""


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59].rstrip() + "…"
