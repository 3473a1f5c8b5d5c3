"""HTTP tools in the admin: the URL must be on the allow-list, the schema valid, the
Authorization header write-only."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext, gettext_lazy
from jsonschema import Draft202012Validator, SchemaError

from chatsite.lib.adminaccess import SecretHolderAdmin
from chatsite.lib.adminforms import WriteOnlySecretMixin, secret_fields
from chatsite.tools.builtin import DEFINITIONS
from chatsite.tools.http import ambiguous_path, url_allowed
from chatsite.tools.models import HttpTool


class HttpToolForm(WriteOnlySecretMixin, forms.ModelForm):
    secret_field, secret_url_field = "authorization", "url"
    secret_cleared = gettext_lazy(
        "The Authorization header was cleared because the address changed to another host, port or scheme. "
        "Enter it again to send it there."
    )
    authorization, clear_authorization = secret_fields(
        gettext_lazy(
            "Sent as the Authorization header, e.g. “Bearer …”. Leave empty to keep the current value "
            "(a new host, port or scheme clears it)."
        ),
        gettext_lazy("Clear authorization"),
    )

    class Meta:
        model = HttpTool
        fields = [
            "name",
            "description",
            "parameters",
            "url",
            "authorization",
            "clear_authorization",
            "timeout",
            "enabled",
        ]

    def clean_name(self):
        name = self.cleaned_data["name"]
        if name in DEFINITIONS:
            raise forms.ValidationError(gettext("A built-in tool has this name."))
        return name

    def clean_url(self):
        url = self.cleaned_data["url"]
        if ambiguous_path(url):
            raise forms.ValidationError(
                gettext(
                    "This URL's path has an encoded /, \\ or . (%%2F, %%5C, %%2E), an encoded %% (%%25), a backslash "
                    "or a “;”: a server may read it as another path than the allow-list checked. Write it plainly."
                )
                % {}
            )
        if not url_allowed(url):
            allowed = ", ".join(settings.TOOL_ALLOWED_URLS) or gettext("nothing (TOOL_ALLOWED_URLS is empty)")
            raise forms.ValidationError(
                gettext("This URL is not on the allow-list. Allowed: %(allowed)s.") % {"allowed": allowed}
            )
        return url

    def clean_parameters(self):
        schema = self.cleaned_data.get("parameters") or {}
        if not isinstance(schema, dict):
            raise forms.ValidationError(gettext("The parameters must be a JSON Schema object."))
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise forms.ValidationError(
                gettext("Not a valid JSON Schema: %(error)s") % {"error": error.message[:200]}
            ) from None
        if schema and schema.get("type") != "object":
            raise forms.ValidationError(gettext('The arguments are a JSON object: the schema needs "type": "object".'))
        return schema


@admin.register(HttpTool)
class HttpToolAdmin(SecretHolderAdmin):
    form = HttpToolForm
    list_display = ["name", "url", "enabled", "timeout"]
    list_filter = ["enabled"]
    search_fields = ["name", "description", "url"]
