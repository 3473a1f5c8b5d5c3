"""The login form: chatsite passwords and directory (LDAP) passwords alike."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from chatsite.accounts.forms import LoginForm


class SignInForm(LoginForm):
    error_messages = {
        **LoginForm.error_messages,
        "directory_unreachable": _(
            "The company directory cannot be reached just now, so directory accounts cannot sign in. "
            "Try again in a few minutes; chatsite's own accounts still work."
        ),
    }

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "sso_directory_unreachable", False):
                raise ValidationError(
                    self.error_messages["directory_unreachable"], code="directory_unreachable"
                ) from None
            raise
