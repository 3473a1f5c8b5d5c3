"""Providers (key write-only) and their models in the admin."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy, ngettext

from chatsite.lib.adminaccess import ModelAdmin, SecretHolderAdmin
from chatsite.lib.adminforms import WriteOnlySecretMixin, secret_fields
from chatsite.providers.catalog import family_fields, refresh_models, set_default
from chatsite.providers.events import ProviderError
from chatsite.providers.models import ABILITY_FIELDS, LanguageModel, Provider


def _take_abilities(model: LanguageModel, changed: list[str], adding: bool) -> None:
    """An admin's edit of the abilities sticks (refreshes leave them); a model added without
    touching them gets the family table's."""
    if set(ABILITY_FIELDS) & set(changed):
        if "abilities_by_hand" not in changed:
            model.abilities_by_hand = True
    elif adding:
        for field, value in family_fields(model.name).items():
            setattr(model, field, value)


class ProviderForm(WriteOnlySecretMixin, forms.ModelForm):
    # Write-only: the stored key is never sent back to the browser, not even masked in the input.
    secret_field, secret_url_field = "api_key", "base_url"
    secret_cleared = gettext_lazy(
        "The API key was cleared because the address changed to another host, port or scheme. "
        "Enter it again to send it there."
    )
    api_key, clear_api_key = secret_fields(
        gettext_lazy(
            "Leave empty to keep the current key (a new host, port or scheme clears it). Tick “clear key” to remove it."
        ),
        gettext_lazy("Clear key"),
    )

    class Meta:
        model = Provider
        fields = ["name", "base_url", "api_key", "clear_api_key", "enabled", "extra_body"]

    def clean_extra_body(self):
        value = self.cleaned_data.get("extra_body") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError(gettext("Extra request fields must be a JSON object."))
        reserved = {"model", "messages", "stream", "stream_options"} & set(value)
        if reserved:
            raise forms.ValidationError(
                gettext("These fields are set by chatsite: %(fields)s.") % {"fields": ", ".join(sorted(reserved))}
            )
        return value


class LanguageModelInline(admin.TabularInline):
    model = LanguageModel
    fields = ["name", "label", "hidden", "is_default", "added_by_hand"]
    readonly_fields = ["added_by_hand"]
    extra = 0


@admin.register(Provider)
class ProviderAdmin(SecretHolderAdmin):
    form = ProviderForm
    list_display = ["name", "base_url", "enabled", "key_set", "model_count", "models_fetched", "models_error"]
    readonly_fields = ["models_fetched", "models_error", "managed"]
    inlines = [LanguageModelInline]
    actions = ["refresh_model_list"]

    def save_formset(self, request, form, formset, change) -> None:
        # Models added in the inline (a gateway without /models) get the family table's abilities.
        for inline_form in formset.forms:
            if inline_form.instance.pk is None and inline_form.has_changed():
                _take_abilities(inline_form.instance, [], adding=True)
        super().save_formset(request, form, formset, change)

    @admin.display(boolean=True, description=gettext_lazy("API key set"))
    def key_set(self, provider: Provider) -> bool:
        return bool(provider.api_key)

    @admin.display(description=gettext_lazy("models"))
    def model_count(self, provider: Provider) -> int:
        return provider.models.count()

    @admin.action(description=gettext_lazy("Refresh the model list from GET /models"))
    def refresh_model_list(self, request, queryset) -> None:
        for provider in queryset:
            try:
                added = refresh_models(provider)
            except ProviderError as error:
                self.message_user(
                    request,
                    gettext("%(provider)s: %(error)s") % {"provider": provider.name, "error": error.message},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    ngettext("%(provider)s: %(count)s new model.", "%(provider)s: %(count)s new models.", added)
                    % {"provider": provider.name, "count": added},
                    messages.SUCCESS,
                )


@admin.register(LanguageModel)
class LanguageModelAdmin(ModelAdmin):
    list_display = ["name", "label", "provider", "hidden", "is_default", "added_by_hand", "vision", "context_length"]
    list_filter = ["provider", "hidden", "is_default", "vision", "abilities_by_hand"]
    fieldsets = [
        (None, {"fields": ["provider", "name", "label", "hidden", "is_default", "added_by_hand", "token_field"]}),
        (
            gettext_lazy("Abilities"),
            {
                "fields": [*ABILITY_FIELDS, "abilities_by_hand"],
                "description": gettext_lazy(
                    "Filled from GET /models where the provider says, else from the table of known "
                    "model families. Editing them here keeps them through later refreshes."
                ),
            },
        ),
    ]
    list_editable = ["label", "hidden"]
    search_fields = ["name", "label"]
    list_select_related = ["provider"]
    actions = ["make_default", "hide", "show"]

    def save_model(self, request, obj, form, change) -> None:
        _take_abilities(obj, form.changed_data, adding=not change)
        super().save_model(request, obj, form, change)

    @admin.action(description=gettext_lazy("Make the selected model the default"))
    def make_default(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, gettext("Pick exactly one model."), messages.ERROR)
            return
        set_default(queryset.get())

    @admin.action(description=gettext_lazy("Hide from users"))
    def hide(self, request, queryset) -> None:
        queryset.update(hidden=True, is_default=False)

    @admin.action(description=gettext_lazy("Show to users"))
    def show(self, request, queryset) -> None:
        queryset.update(hidden=False)
