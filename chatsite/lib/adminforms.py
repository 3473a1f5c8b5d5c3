"""What admin forms share."""

from django import forms
from yarl import URL


def secret_fields(help_text: str, clear_label: str) -> tuple[forms.CharField, forms.BooleanField]:
    """The two form fields of a write-only secret (see WriteOnlySecretMixin): the input, never
    filled in, and the box that clears it."""
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), help_text=help_text)
    return secret, forms.BooleanField(required=False, label=clear_label)


def _destination(url: str) -> tuple[str, str, int] | None:
    """Where a secret sent to url goes: scheme, host and port (the default one if none is written)."""
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError):
        return None
    if not parsed.scheme or not parsed.host or port is None:
        return None
    return parsed.scheme.lower(), parsed.host.lower(), port


class WriteOnlySecretMixin:
    """For a ModelForm with a secret (an API key, an Authorization header) that is never sent
    back to the browser, not even masked: left empty, the stored value stays; the form's
    clear_<field> box removes it.

    The secret is sent to the row's URL (secret_url_field). When an edit moves that URL to
    another scheme, host or port without entering a new secret, the stored one is cleared:
    otherwise whoever may edit the row could send it to a server of their own and read it.
    `secret_notice` then says so, for the admin to show."""

    secret_field: str
    secret_url_field: str
    # The notice when the secret was cleared ("The API key was cleared…"), lazily translated.
    secret_cleared: str

    secret_notice = ""

    def save(self, commit: bool = True):
        instance = super().save(commit=False)
        name = self.secret_field
        new = self.cleaned_data.get(name)
        if self.cleaned_data.get(f"clear_{name}"):
            setattr(instance, name, "")
        elif new:
            setattr(instance, name, new)
        elif instance.pk:
            stored, stored_url = type(instance).objects.values_list(name, self.secret_url_field).get(pk=instance.pk)
            before = _destination(stored_url)
            # An address that cannot be parsed counts as moved: the secret stays only where it was.
            if stored and (before is None or before != _destination(getattr(instance, self.secret_url_field))):
                stored = ""
                self.secret_notice = str(self.secret_cleared)
            setattr(instance, name, stored)
        if commit:
            instance.save()
        return instance
