"""Everyone's conversations and usage, for admins."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Sum

from chatsite.chat.models import Attachment, Conversation, Message, Preset
from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.lib.adminaccess import ModelAdmin


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

    @admin.display(description="citations")
    def cited(self, message) -> str:
        # One per line, as text (escaped by the admin): no links to pages a model picked.
        lines = (f"[{n}] {c.get('title') or c['url']} <{c['url']}>" for n, c in enumerate(message.citations or [], 1))
        return "\n".join(lines)


@admin.register(Conversation)
class ConversationAdmin(ModelAdmin):
    list_display = ["title", "owner", "model", "message_count", "tokens", "updated"]
    list_filter = ["model", "messages__status", "updated"]
    search_fields = ["title", "owner__username", "messages__text"]
    list_select_related = ["owner", "model"]
    raw_id_fields = ["owner"]
    readonly_fields = ["code", "created", "updated"]
    inlines = [MessageInline]
    show_full_result_count = False
    date_hierarchy = "updated"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_messages=Count("messages", distinct=True), _tokens=Sum("messages__total_tokens"))
        )

    @admin.display(description="messages", ordering="_messages")
    def message_count(self, conversation) -> int:
        return conversation._messages

    @admin.display(description="tokens", ordering="_tokens")
    def tokens(self, conversation) -> int:
        return conversation._tokens or 0

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(Message)
class MessageAdmin(ModelAdmin):
    list_display = ["short_text", "role", "status", "model_name", "prompt_tokens", "completion_tokens", "created"]
    list_filter = ["status", "role", "model_name", "created"]
    search_fields = ["text", "conversation__owner__username", "conversation__title"]
    list_select_related = ["conversation"]
    raw_id_fields = ["conversation"]
    readonly_fields = ["code", "created", "updated"]
    show_full_result_count = False

    @admin.display(description="text")
    def short_text(self, message) -> str:
        return message.text[:80]


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
