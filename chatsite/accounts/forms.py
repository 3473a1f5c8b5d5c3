"""The accounts' forms: logging in, signing up (open or by invitation), resetting a password,
and the profile."""

import functools
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, UserCreationForm
from django.core.mail import EmailMultiAlternatives
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy

from chatsite.accounts import mail, signup
from chatsite.accounts.locale import chosen_by
from chatsite.accounts.models import User
from chatsite.lib.text import TextRefused, check_text

# Passwords are hashed, never stored or shown: they are taken as typed.
PASSWORD_FIELDS = frozenset({"password", "password1", "password2", "old_password", "new_password1", "new_password2"})


class CheckedText:
    """A form mixin: every text a browser sent in it passes check_text (chatsite.lib.text)."""

    def clean(self):
        cleaned = super().clean()
        for name, value in list(self.cleaned_data.items()):
            if isinstance(value, str) and name not in PASSWORD_FIELDS:
                try:
                    self.cleaned_data[name] = check_text(value, str(self.fields[name].label or name))
                except TextRefused as error:
                    self.add_error(name, error.message)
        return cleaned


def email_in_use(email: str, exclude: User | None = None) -> bool:
    others = User.objects.filter(email__iexact=email)
    return (others.exclude(pk=exclude.pk) if exclude else others).exists()


class LoginForm(AuthenticationForm):
    """Django's login form, telling the owner of an account that cannot log in yet why."""

    def get_invalid_login_error(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        user = User.objects.filter(username=username).first() if username else None
        if user is not None and not user.is_active:
            # Only to whoever knows the password: to anyone else it stays a wrong password.
            if user.check_password(password):
                if user.waiting == User.Waiting.EMAIL and self.request is not None:
                    signup.send_confirmation(self.request, user)
                return forms.ValidationError(inactive_reason(user), code="inactive")
        else:
            # As long as the check above: which names are inactive accounts does not show in
            # how long a wrong password takes.
            User().set_password(password)
        return super().get_invalid_login_error()


def inactive_reason(user: User) -> str:
    if user.waiting == User.Waiting.APPROVAL:
        return gettext("Your account is waiting for an admin's approval. You will get an email when it is approved.")
    if user.waiting == User.Waiting.EMAIL:
        return gettext("Confirm your email address first: we have just sent a new link to it.")
    return gettext("This account is deactivated. Ask an admin if you need it again.")


class SignupForm(CheckedText, UserCreationForm):
    """Sign-up open to anyone (approval) or to addresses at the site's domains."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, domains: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.domains = domains
        self.fields["email"].required = True
        if domains:
            self.fields["email"].help_text = gettext("An address at %(domains)s.") % {"domains": ", ".join(domains)}

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if self.domains is not None and email.rpartition("@")[2].lower() not in self.domains:
            raise forms.ValidationError(
                gettext("Sign-up here is for addresses at %(domains)s only.") % {"domains": ", ".join(self.domains)},
                code="domain",
            )
        return email


class InviteSignupForm(CheckedText, UserCreationForm):
    """The account an invitation makes: its address fixed when the invitation names one."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, invite, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        email = self.fields["email"]
        email.required = True
        if invite.email:
            email.initial, email.disabled = invite.email, True
            email.help_text = gettext("The invitation is for this address.")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email_in_use(email):
            raise forms.ValidationError(
                gettext("An account with this address exists already: log in, or reset its password."), code="in_use"
            )
        return email


class ResetForm(CheckedText, PasswordResetForm):
    """Django's, sending its mail beside the request (see mail.py): whether an account has the
    address shows neither in the page nor in the time it takes."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        with translation.override(chosen_by(context.get("user")) or translation.get_language()):
            subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
            body = loader.render_to_string(email_template_name, context)
        mail.deliver(EmailMultiAlternatives(subject, body, from_email, [to_email]), "password reset")


@functools.cache
def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


class ProfileForm(CheckedText, forms.ModelForm):
    language = forms.ChoiceField(
        choices=[("", gettext_lazy("As my browser says")), *User.Language.choices],
        required=False,
        label=gettext_lazy("Language"),
    )
    time_zone = forms.ChoiceField(required=False, label=gettext_lazy("Time zone"))

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "language", "time_zone")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The IANA names zoneinfo knows: nothing else is taken.
        self.fields["time_zone"].choices = [("", gettext("The server's (%(zone)s)") % {"zone": settings.TIME_ZONE})] + [
            (name, name) for name in time_zones()
        ]

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email and email_in_use(email, exclude=self.instance):
            raise forms.ValidationError(gettext("Another account has this address."), code="in_use")
        return email
