"""Login (rate-limited), logout and the first-run admin form."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chatsite.accounts import ratelimit
from chatsite.accounts.firstrun import is_setup_code
from chatsite.accounts.models import FirstRun
from chatsite.lib.addresses import client_address
from chatsite.sso.forms import SignInForm

User = get_user_model()


def needs_first_run() -> bool:
    return not User.objects.exists()


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if needs_first_run():
        return redirect("accounts:setup")
    address = client_address(request.META)
    username = request.POST.get("username", "")[:150]
    if request.method == "POST" and ratelimit.is_limited(address, username):
        form = SignInForm(request)
        error = "Too many failed logins. Wait a few minutes and try again."
        return render(request, "accounts/login.html", {"form": form, "error": error}, status=429)
    response = auth_views.LoginView.as_view(
        template_name="accounts/login.html", authentication_form=SignInForm, extra_context={"error": None}
    )(request)
    if request.method == "POST" and not request.user.is_authenticated:
        ratelimit.record_failure(address, username)
    return response


@require_http_methods(["POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    # Signed in through an OpenID Connect provider: log out there too (known before the session ends).
    at_provider = None
    if settings.OIDC_PROVIDERS:
        from chatsite.sso import oidc  # the oidc extra is installed when providers are configured

        at_provider = oidc.provider_logout_url(request)
    response = auth_views.LogoutView.as_view()(request)
    return redirect(at_provider) if at_provider else response


class FirstRunForm(UserCreationForm):
    setup_code = forms.CharField(
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Printed on the server's console and in its log when it starts.",
    )
    field_order = ["setup_code", "username", "password1", "password2"]

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)

    def clean_setup_code(self) -> str:
        code = self.cleaned_data["setup_code"]
        if not is_setup_code(code):
            raise forms.ValidationError("That is not the setup code the server printed when it started.")
        return code


@login_not_required
@require_http_methods(["GET", "POST"])
def setup_view(request: HttpRequest) -> HttpResponse:
    if not needs_first_run():
        return redirect("accounts:login")
    form = FirstRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                FirstRun.objects.create(id=1)  # a second concurrent submit fails here
                user = form.save(commit=False)
                user.is_staff = True
                user.is_superuser = True
                user.save()
        except IntegrityError:
            return redirect("accounts:login")
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])  # chatsite's own passwords
        return redirect("chat:index")
    return render(request, "accounts/setup.html", {"form": form})
