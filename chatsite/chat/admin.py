"""Everyone's conversations and usage, for admins."""

from functools import partial

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from chatsite.chat.models import Attachment, Conversation, Message, Preset
from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.lib.adminaccess import ModelAdmin
from chatsite.reports import filters, reading, search, transcript

# What the admin shows of a message when the reading rules keep its text from this reader.
MESSAGE_METADATA = [
    "role",
    "status",
    "model_name",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "usage_estimated",
    "first_token_ms",
    "duration_ms",
    "created",
]
# ...and what it leaves out: what people wrote and what the model answered.
MESSAGE_TEXT = ["text", "reasoning", "refusal", "tool_calls", "citations", "logprobs", "error", "json_check"]


def reads_text(request) -> bool:
    """Set by the change views from the reading rules (chatsite/reports/reading.py); absent: no."""
    return getattr(request, "_reads_text", False)


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    can_delete = False
    fields = [
        "role",
        "status",
        "text",
        "reasoning",
        "refusal",
        "cited",
        "model_name",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cached_tokens",
        "usage_estimated",
        "json_check",
        "tool_calls",
        "first_token_ms",
        "duration_ms",
        "error",
        "created",
    ]
    readonly_fields = fields
    show_change_link = True

    def get_fields(self, request, obj=None):
        return self.fields if reads_text(request) else MESSAGE_METADATA

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the conversation sees its messages (a team admin has no model permissions).
        return self.admin_site._registry[Conversation].has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("citations"))
    def cited(self, message) -> str:
        # One per line, as text (escaped by the admin): no links to pages a model picked.
        lines = (f"[{n}] {c.get('title') or c['url']} <{c['url']}>" for n, c in enumerate(message.citations or [], 1))
        return "\n".join(lines)


class ScopedAdmin(ModelAdmin):
    """Conversations and messages: superusers and staff with the model permissions see everyone's,
    a team admin their teams' members' (chatsite/reports/reading.py); someone else's message text
    is shown only as the reading rules allow, and each read is recorded."""

    owner_path = "owner"

    def _permitted(self, request) -> bool:
        return super().has_view_permission(request)

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) or reading.is_team_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        # The object itself is in scope or not by get_queryset (anything else is a 404).
        return super().has_view_permission(request, obj) or reading.is_team_admin(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return reading.in_scope(request, queryset, permitted=self._permitted(request), owner=self.owner_path)

    def read_view(self, request, obj) -> bool | HttpResponse:
        raise NotImplementedError

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is not None:
            obj = self.get_object(request, object_id)
            if obj is None:
                raise Http404(_("Not found."))
            allowed = self.read_view(request, obj)
            if isinstance(allowed, HttpResponse):
                return allowed
            request._reads_text = allowed
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Conversation)
class ConversationAdmin(ScopedAdmin):
    list_display = ["title", "owner", "model", "message_count", "tokens", "updated", "transcript_link"]
    list_filter = [
        ("owner", admin.RelatedOnlyFieldListFilter),
        filters.GroupFilter,
        ("model", admin.RelatedOnlyFieldListFilter),
        filters.ProviderFilter,
        filters.StatusFilter,
        "updated",
        filters.AttachmentsFilter,
        filters.ErroredFilter,
    ]
    # The search itself is chatsite.reports.search.find (see get_search_results): this only
    # puts the search box on the page.
    search_fields = ["title"]
    list_select_related = ["owner", "model"]
    raw_id_fields = ["owner"]
    readonly_fields = ["code", "transcript_link", "pinned_at", "folder", "created", "updated"]
    inlines = [MessageInline]
    show_full_result_count = False
    date_hierarchy = "updated"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transcript/",
                view(require_GET(partial(transcript.transcript_view, self))),
                name="chat_conversation_transcript",
            ),
            path(
                "<path:object_id>/transcript/file/<uuid:code>/",
                view(require_GET(partial(transcript.transcript_file, self))),
                name="chat_conversation_transcript_file",
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_messages=Count("messages", distinct=True), _tokens=Sum("messages__total_tokens"))
        )

    def read_view(self, request, obj):
        return reading.read(request, obj, reading.View.CHANGE)

    def get_exclude(self, request, obj=None):
        # The system prompt is the owner's own words, like their messages.
        return [] if obj is None or reads_text(request) else ["system_prompt"]

    @admin.display(description=gettext_lazy("messages"), ordering="_messages")
    def message_count(self, conversation) -> int:
        return conversation._messages

    @admin.display(description=gettext_lazy("tokens"), ordering="_tokens")
    def tokens(self, conversation) -> int:
        return conversation._tokens or 0

    @admin.display(description=gettext_lazy("transcript"))
    def transcript_link(self, conversation) -> str:
        if conversation.pk is None:
            return "—"
        url = reverse("admin:chat_conversation_transcript", args=[conversation.pk])
        return format_html('<a href="{}" class="transcript-link">{}</a>', url, _("Read"))

    # -- search: everyone's conversations, with an excerpt of the text that matched ------------

    def changelist_view(self, request, extra_context=None):
        term = request.GET.get(SEARCH_VAR, "").strip()
        reason = reading.consent(request) if term else None
        if isinstance(reason, HttpResponse):
            return reason
        request._reads_text = reason is not None
        if term and reason is None and request.method == "GET":
            self.message_user(request, _("Message text is not searched: reading conversations is off."))
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if term and reason is not None and "cl" in context:
            changelist = context["cl"]
            changelist.result_list = list(changelist.result_list)
            request._excerpts = search.excerpts(changelist.result_list, term)
            shown = [c for c in changelist.result_list if c.pk in request._excerpts]
            reading.record(request.user, shown, reading.View.SEARCH, reason=reason)
        return response

    def get_search_results(self, request, queryset, search_term):
        return search.find(queryset, search_term, in_text=reads_text(request)), False

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        if not request.GET.get(SEARCH_VAR, "").strip() or not reads_text(request):
            return shown

        @admin.display(description=gettext_lazy("found"))
        def found(conversation) -> str:
            # Filled in by changelist_view before the page is rendered.
            return getattr(request, "_excerpts", {}).get(conversation.pk, "")

        return [*shown[:1], found, *shown[1:]]


@admin.register(Message)
class MessageAdmin(ScopedAdmin):
    # No text in the list: a message's text is read on its own page, under the reading rules.
    list_display = [
        "__str__",
        "conversation",
        "role",
        "status",
        "model_name",
        "prompt_tokens",
        "completion_tokens",
        "created",
    ]
    list_filter = ["status", "role", "model_name", "created"]
    search_fields = ["conversation__owner__username", "conversation__title"]
    list_select_related = ["conversation"]
    raw_id_fields = ["conversation"]
    readonly_fields = ["code", "created", "updated"]
    show_full_result_count = False
    owner_path = "conversation__owner"

    def read_view(self, request, obj):
        return reading.read(request, obj.conversation, reading.View.MESSAGE, message=obj)

    def get_exclude(self, request, obj=None):
        return [] if obj is None or reads_text(request) else MESSAGE_TEXT


@admin.register(Attachment)
class AttachmentAdmin(ModelAdmin):
    list_display = ["original_name", "owner", "content_type", "width", "height", "size_bytes", "created"]
    list_filter = ["content_type"]
    search_fields = ["original_name", "owner__username"]
    raw_id_fields = ["owner", "message"]
    readonly_fields = ["code", "file", "content_type", "width", "height", "size_bytes", "created"]


class PresetForm(forms.ModelForm):
    class Meta:
        model = Preset
        fields = ["name", "system_prompt", "model", "parameters"]

    def clean_parameters(self):
        try:
            return clean_parameters(self.cleaned_data["parameters"])
        except ParameterError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(Preset)
class PresetAdmin(ModelAdmin):
    form = PresetForm
    list_display = ["name", "model", "created_by", "created"]
    search_fields = ["name", "system_prompt"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["created_by", "created"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
