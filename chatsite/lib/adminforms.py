"""What admin forms share."""

from django import forms


def secret_fields(help_text: str, clear_label: str) -> tuple[forms.CharField, forms.BooleanField]:
    """The two form fields of a write-only secret (see WriteOnlySecretMixin): the input, never
    filled in, and the box that clears it."""
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), help_text=help_text)
    return secret, forms.BooleanField(required=False, label=clear_label)


class WriteOnlySecretMixin:
    """For a ModelForm with a secret (an API key, an Authorization header) that is never sent
    back to the browser, not even masked: left empty, the stored value stays; the form's
    clear_<field> box removes it."""

    secret_field: str

    def save(self, commit: bool = True):
        instance = super().save(commit=False)
        name = self.secret_field
        new = self.cleaned_data.get(name)
        if self.cleaned_data.get(f"clear_{name}"):
            setattr(instance, name, "")
        elif new:
            setattr(instance, name, new)
        elif instance.pk:
            setattr(instance, name, type(instance).objects.values_list(name, flat=True).get(pk=instance.pk))
        if commit:
            instance.save()
        return instance
