"""Logging in (rate-limited) and out, the first-run admin, signing up (open or by invitation),
passwords and the profile."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from chatsite.accounts import confirmation, invites, locale, profile, ratelimit, signup
from chatsite.accounts.firstrun import is_setup_code
from chatsite.accounts.forms import InviteSignupForm, ProfileForm, ResetForm, SignupForm
from chatsite.accounts.models import FirstRun
from chatsite.lib.addresses import client_address
from chatsite.sso.forms import SignInForm
from chatsite.teams.models import TeamSettings

User = get_user_model()
TOO_MANY = gettext_lazy("Too many tries from your address. Wait a few minutes and try again.")
USERNAME_TAKEN = gettext_lazy("That username was taken a moment ago. Pick another.")


def needs_first_run() -> bool:
    return not User.objects.exists()


def _flooded(request: HttpRequest, name: str) -> bool:
    """Counts a form post that sends mail or makes an account against the login rate limit:
    whether this address (and name) sent too many."""
    address = client_address(request.META)
    if ratelimit.is_limited(address, name):
        return True
    ratelimit.record_failure(address, name)
    return False


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if needs_first_run():
        return redirect("accounts:setup")
    context = {"error": None, "signup_open": signup.is_open(TeamSettings.current())}
    address = client_address(request.META)
    username = request.POST.get("username", "")[:150]
    if request.method == "POST" and ratelimit.is_limited(address, username):
        form = SignInForm(request)
        error = gettext("Too many failed logins. Wait a few minutes and try again.")
        return render(request, "accounts/login.html", {**context, "form": form, "error": error}, status=429)
    response = auth_views.LoginView.as_view(
        template_name="accounts/login.html", authentication_form=SignInForm, extra_context=context
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
        label=gettext_lazy("Setup code"),
        help_text=gettext_lazy("Printed on the server's console and in its log when it starts."),
    )
    field_order = ["setup_code", "username", "password1", "password2"]

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)

    def clean_setup_code(self) -> str:
        code = self.cleaned_data["setup_code"]
        if not is_setup_code(code):
            raise forms.ValidationError(gettext("That is not the setup code the server printed when it started."))
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
        login(request, user, backend=signup.BACKEND)
        return redirect("chat:index")
    return render(request, "accounts/setup.html", {"form": form})


# -- signing up ------------------------------------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def signup_view(request: HttpRequest) -> HttpResponse:
    site = TeamSettings.current()
    if not signup.is_open(site):
        return render(request, "accounts/signup_closed.html", status=404)
    if request.user.is_authenticated:
        return redirect("chat:index")
    domains = site.domains() if site.signup == TeamSettings.Signup.DOMAINS else None
    form = SignupForm(request.POST or None, domains=domains)
    if request.method == "POST":
        if _flooded(request, request.POST.get("email", "")[:254]):
            return render(request, "accounts/signup.html", {"form": form, "error": TOO_MANY}, status=429)
        if form.is_valid():
            try:
                with transaction.atomic():
                    signup.sign_up(request, form, site)
            except IntegrityError:
                form.add_error("username", USERNAME_TAKEN)
            else:
                context = {"email": form.cleaned_data["email"], "confirm": domains is not None}
                return render(request, "accounts/signup_done.html", context)
    return render(request, "accounts/signup.html", {"form": form, "error": None})


@login_not_required
@require_http_methods(["GET", "POST"])
def invite_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invite = invites.check_usable(invites.find(token))
    except invites.InviteUnusable as error:
        return render(request, "accounts/invite_unusable.html", {"message": error.message}, status=404)
    if request.user.is_authenticated:
        return render(request, "accounts/invite.html", {"invite": invite, "form": None})
    form = InviteSignupForm(request.POST or None, invite=invite)
    if request.method == "POST" and form.is_valid():
        try:
            user = invites.accept(invite, form.save)
        except invites.InviteUnusable as error:
            return render(request, "accounts/invite_unusable.html", {"message": error.message}, status=404)
        except IntegrityError:
            form.add_error("username", USERNAME_TAKEN)
        else:
            login(request, user, backend=signup.BACKEND)
            return redirect("chat:index")
    return render(request, "accounts/invite.html", {"invite": invite, "form": form})


@login_not_required
@require_http_methods(["GET", "POST"])
def confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    # A button to press, not a GET that confirms: mail scanners open the links in mail.
    checked = confirmation.check(token)
    if checked.user is None or checked.expired:
        return render(request, "accounts/confirm.html", {"checked": checked}, status=404)
    if request.method == "POST":
        signup.confirm(request, checked.user)
        return redirect("chat:index")
    return render(request, "accounts/confirm.html", {"checked": checked})


# -- passwords -------------------------------------------------------------------------------

password_change_view = auth_views.PasswordChangeView.as_view(
    template_name="accounts/password_change.html", success_url=reverse_lazy("accounts:password_change_done")
)
password_change_done_view = auth_views.PasswordChangeDoneView.as_view(
    template_name="accounts/password_change_done.html"
)

_password_reset = auth_views.PasswordResetView.as_view(
    form_class=ResetForm,
    template_name="accounts/password_reset.html",
    email_template_name="accounts/mail/password_reset.txt",
    subject_template_name="accounts/mail/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_sent"),
)


@login_not_required
@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and _flooded(request, request.POST.get("email", "")[:254]):
        return render(request, "accounts/password_reset.html", {"form": ResetForm(), "error": TOO_MANY}, status=429)
    return _password_reset(request)


password_reset_sent_view = auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_sent.html")
password_reset_confirm_view = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html", success_url=reverse_lazy("accounts:password_reset_complete")
)
password_reset_complete_view = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


# -- the profile -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    # A copy: a refused form must not change the request's user (the page's top bar).
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Said in the language just chosen, which the next page speaks.
        with translation.override(locale.chosen_by(user) or translation.get_language()):
            messages.success(request, gettext("Your profile is saved."))
        return redirect("accounts:profile")
    site = TeamSettings.current()
    context = {
        "form": form,
        "periods": profile.usage_of(request.user),
        "currency": site.currency,
        "reads": profile.reads_of(request.user) if site.show_readers else None,
        "time_zone": request.user.time_zone or None,  # the reads' dates in it
        "server_time_zone": settings.TIME_ZONE,
    }
    return render(request, "accounts/profile.html", context)


@login_not_required
@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """The top bar's language switch: Django's set_language (the cookie, back to `next`), and
    for a signed-in user their profile's choice too, so it follows them to other browsers."""
    response = set_language(request)
    language = locale.supported(request.POST.get("language"))
    if language and request.user.is_authenticated:
        User.objects.filter(pk=request.user.pk).update(language=language)
    return response
