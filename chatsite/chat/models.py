"""Conversations, their messages and the files (images, PDFs, text, audio) attached to them."""

import functools
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.utils.translation import gettext, gettext_lazy

from chatsite.lib import sqlrows
from chatsite.providers.models import model_from_row, tables


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user) -> "ConversationQuerySet":
        """The one ownership path: views, the consumer and the generation all start here."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(owner=user)

    def owned(self, user, code, *, lock: bool = False) -> "Conversation":
        """The user's conversation with this id; DoesNotExist for anyone else's, or a malformed id
        (which answers exactly like another user's)."""
        queryset = self.for_user(user).select_related("model__provider")
        if lock:
            queryset = queryset.select_for_update(of=("self",))
        try:
            return queryset.get(code=code)
        except (ValidationError, ValueError, TypeError):
            raise self.model.DoesNotExist from None

    def for_users(self, pairs, *, lock: bool = False) -> list["Conversation"]:
        """for_user for many (user, conversation code) pairs at once, in one query: each code only
        with its user, with its model and provider, and `has_files` (any message has a file).

        Hand-written SQL (lib/sqlrows.py): every turn waits on this read, which the ORM took a
        millisecond to build. It reads the table itself: filters on this queryset do not apply."""
        wanted = {(user.pk, code) for user, code in pairs if user.is_authenticated and user.is_active}
        if not wanted:
            return []
        connection = connections[self.db]
        conversations = conversations_table()
        language_models, providers = tables()
        code_field = conversations.model._meta.get_field("code")
        owners = sorted({owner for owner, _ in wanted})
        codes = [code_field.get_db_prep_value(code, connection) for code in {code for _, code in wanted}]
        # One indexed IN per column rather than an OR of pairs; the pairs are matched here.
        sql = (
            f"SELECT {conversations.columns}, {language_models.columns}, {providers.columns},"  # noqa: S608 - only columns and placeholders go in
            " EXISTS (SELECT 1 FROM chat_attachment a JOIN chat_message m ON a.message_id = m.id"
            " WHERE m.conversation_id = c.id)"
            f" FROM {conversations.source}"
            f" LEFT JOIN {language_models.source} ON lm.id = c.model_id"
            f" LEFT JOIN {providers.source} ON p.id = lm.provider_id"
            f" WHERE c.owner_id IN ({sqlrows.placeholders(owners)}) AND c.code IN ({sqlrows.placeholders(codes)})"
        )
        if lock and connection.features.has_select_for_update_of:
            sql += " FOR UPDATE OF c"  # the conversation's row, not its model's or provider's
        found = []
        for row in sqlrows.fetch(connection, sql, [*owners, *codes]):
            conversation = conversations.make(connection, row)
            if (conversation.owner_id, conversation.code) not in wanted:
                continue
            if (model := model_from_row(connection, row, len(conversations))) is not None:
                conversation.model = model
            conversation.has_files = bool(row[-1])
            found.append(conversation)
        return found


@functools.cache
def conversations_table() -> sqlrows.Table:
    """The conversations' table in hand-written SQL, as c (for_users, and turns' writes)."""
    return sqlrows.Table(Conversation, "c")


class Conversation(models.Model):
    code = models.UUIDField(gettext_lazy("code"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("owner"),
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    title = models.CharField(gettext_lazy("title"), max_length=200, default="New chat")
    model = models.ForeignKey(
        "providers.LanguageModel",
        verbose_name=gettext_lazy("model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    system_prompt = models.TextField(gettext_lazy("system prompt"), blank=True)
    # Only allow-listed, range-checked keys (see parameters.py) are stored and sent upstream.
    parameters = models.JSONField(gettext_lazy("parameters"), default=dict, blank=True)
    # The names of the tools switched on for this conversation (see chatsite/tools).
    tools = models.JSONField(gettext_lazy("tools"), default=list, blank=True)
    # Archived: out of the list (and what "delete" does when members may not delete).
    archived_at = models.DateTimeField(gettext_lazy("archived at"), null=True, blank=True, db_index=True)
    # Kept and ordered by its owner (keeping.py): pinned on top, the latest pin first; filed in
    # one of the owner's folders (never another user's: see clean and keeping.move).
    pinned_at = models.DateTimeField(gettext_lazy("pinned at"), null=True, blank=True)
    folder = models.ForeignKey(
        "chat.Folder",
        verbose_name=gettext_lazy("folder"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)
    updated = models.DateTimeField(gettext_lazy("updated"), auto_now=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("conversation")
        verbose_name_plural = gettext_lazy("conversations")
        ordering = ["-updated"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        # The admin could otherwise file a conversation in someone else's folder.
        if self.folder_id is not None and self.folder.owner_id != self.owner_id:
            raise ValidationError({"folder": gettext("A conversation can only go in a folder of its owner.")})


class FolderQuerySet(models.QuerySet):
    def for_user(self, user) -> "FolderQuerySet":
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(owner=user)

    def owned(self, user, code) -> "Folder":
        """The user's folder with this id; DoesNotExist for anyone else's or a malformed id."""
        try:
            return self.for_user(user).get(code=code)
        except (ValidationError, ValueError, TypeError):
            raise self.model.DoesNotExist from None


class Folder(models.Model):
    """A user's own folder of conversations (keeping.py names and fills them)."""

    code = models.UUIDField(gettext_lazy("code"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=gettext_lazy("owner"), on_delete=models.CASCADE, related_name="folders"
    )
    name = models.CharField(gettext_lazy("name"), max_length=100)
    # The name as two names are compared (keeping.name_key: case, width and invisible characters
    # ignored), so that "Work" and "ｗｏｒｋ" are one folder.
    name_key = models.CharField(max_length=400, editable=False)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    objects = FolderQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("folder")
        verbose_name_plural = gettext_lazy("folders")
        ordering = ["created", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name_key"], name="folder_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", gettext_lazy("user")
        ASSISTANT = "assistant", gettext_lazy("assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", gettext_lazy("streaming")
        COMPLETE = "complete", gettext_lazy("complete")
        STOPPED = "stopped", gettext_lazy("stopped")
        ERROR = "error", gettext_lazy("error")
        INTERRUPTED = "interrupted", gettext_lazy("interrupted")

    code = models.UUIDField(gettext_lazy("code"), default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(
        Conversation, verbose_name=gettext_lazy("conversation"), on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(gettext_lazy("role"), max_length=10, choices=Role.choices)
    text = models.TextField(gettext_lazy("text"), blank=True)
    # The model's thinking (reasoning deltas), shown apart and never sent back upstream.
    reasoning = models.TextField(gettext_lazy("reasoning"), blank=True)
    # A model declining to answer says why here (delta.refusal), apart from the answer.
    refusal = models.TextField(gettext_lazy("refusal"), blank=True)
    status = models.CharField(
        gettext_lazy("status"), max_length=12, choices=Status.choices, default=Status.COMPLETE, db_index=True
    )
    finish_reason = models.CharField(gettext_lazy("finish reason"), max_length=40, blank=True)
    # What answered, as sent upstream and as it was named then (the model row may go away).
    model_name = models.CharField(gettext_lazy("model name"), max_length=200, blank=True)
    provider_name = models.CharField(gettext_lazy("provider name"), max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(gettext_lazy("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(gettext_lazy("completion tokens"), null=True, blank=True)
    total_tokens = models.PositiveIntegerField(gettext_lazy("total tokens"), null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(
        gettext_lazy("reasoning tokens"), null=True, blank=True
    )  # part of completion_tokens
    cached_tokens = models.PositiveIntegerField(
        gettext_lazy("cached tokens"), null=True, blank=True
    )  # part of prompt_tokens
    # What the last request of this answer carried and added (its prompt and answer, less the
    # reasoning that is not sent back): the room the conversation now takes in the context.
    context_tokens = models.PositiveIntegerField(gettext_lazy("context tokens"), null=True, blank=True)
    # The provider reported no usage: the counts are estimated from the text (about 4 characters a token).
    usage_estimated = models.BooleanField(gettext_lazy("usage estimated"), default=False)
    # The tool calls the answer made, with their results (see chatsite/tools/calls.py).
    tool_calls = models.JSONField(gettext_lazy("tool calls"), default=list, blank=True)
    # Web pages the answer cites: [{url, title, start_index, end_index}], one per URL (citations.py).
    citations = models.JSONField(gettext_lazy("citations"), default=list, blank=True)
    # Token probabilities when the conversation asked for them: [[token, logprob, [[alt, logprob], ...]], ...],
    # at most generation.LOGPROB_TOKENS tokens.
    logprobs = models.JSONField(gettext_lazy("logprobs"), default=list, blank=True)
    # For answers asked for as JSON: "valid", or why not (see structured.py); "" otherwise.
    json_check = models.CharField(gettext_lazy("JSON check"), max_length=300, blank=True)
    first_token_ms = models.PositiveIntegerField(gettext_lazy("first token (ms)"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(gettext_lazy("duration (ms)"), null=True, blank=True)
    error = models.TextField(gettext_lazy("error"), blank=True)
    # Budgets (chatsite/teams): the team the answer is billed to, the tokens it holds back from
    # its budgets while it streams (so that two tabs cannot both spend the last ones), and what
    # it cost by the model's prices.
    billed_team = models.ForeignKey(
        "teams.Team",
        verbose_name=gettext_lazy("billed team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reserved_tokens = models.PositiveIntegerField(gettext_lazy("reserved tokens"), default=0)
    cost = models.DecimalField(gettext_lazy("cost"), max_digits=14, decimal_places=6, null=True, blank=True)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True, db_index=True)
    # Touched on every flush of a streaming answer: a stale one belongs to a dead process.
    updated = models.DateTimeField(gettext_lazy("updated"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("message")
        verbose_name_plural = gettext_lazy("messages")
        ordering = ["created", "id"]

    def __str__(self) -> str:
        # Never its text: this is what lists, log entries and delete confirmations show.
        return f"{self.role} message {self.code}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name is ours, never the user's: no path tricks, no guessable names.
    return f"attachments/{instance.owner_id}/{instance.code}.{instance.extension}"


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", gettext_lazy("image")
        PDF = "pdf", gettext_lazy("PDF")
        TEXT = "text", gettext_lazy("text")
        AUDIO = "audio", gettext_lazy("audio")

    code = models.UUIDField(gettext_lazy("code"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("owner"),
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=gettext_lazy("message"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    kind = models.CharField(gettext_lazy("kind"), max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    file = models.FileField(gettext_lazy("file"), upload_to=attachment_path)
    content_type = models.CharField(gettext_lazy("content type"), max_length=40)
    original_name = models.CharField(gettext_lazy("original name"), max_length=255, blank=True)
    width = models.PositiveIntegerField(gettext_lazy("width"), null=True, blank=True)  # images only
    height = models.PositiveIntegerField(gettext_lazy("height"), null=True, blank=True)
    size_bytes = models.PositiveIntegerField(gettext_lazy("size (bytes)"))
    # A PDF's or text file's text, extracted once at upload: what models that read no files get.
    text = models.TextField(gettext_lazy("text"), blank=True)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("attachment")
        verbose_name_plural = gettext_lazy("attachments")
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.original_name or str(self.code)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


# The only types ever stored (files.py and images.py detect them from the bytes).
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
}


class Preset(models.Model):
    """A named system prompt, model and parameters that anyone on the team can pick."""

    name = models.CharField(gettext_lazy("name"), max_length=100, unique=True)
    system_prompt = models.TextField(gettext_lazy("system prompt"), blank=True)
    model = models.ForeignKey(
        "providers.LanguageModel",
        verbose_name=gettext_lazy("model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Checked by parameters.clean_parameters, like a conversation's.
    parameters = models.JSONField(gettext_lazy("parameters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("preset")
        verbose_name_plural = gettext_lazy("presets")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
