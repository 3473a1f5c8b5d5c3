"""What happens to the accounts people make themselves: waiting for an admin's approval or
for the confirmation of their address, then let in."""

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest
from django.urls import reverse

from chatsite.accounts import confirmation, mail
from chatsite.accounts.models import User
from chatsite.teams.models import TeamSettings

# chatsite's own passwords: the first of the backends (chatsite.sso puts its own there).
BACKEND = settings.AUTHENTICATION_BACKENDS[0]


def is_open(site: TeamSettings) -> bool:
    """Whether /accounts/signup/ takes anyone (invitations work in every mode)."""
    return site.signup in (TeamSettings.Signup.APPROVAL, TeamSettings.Signup.DOMAINS)


def sign_up(request: HttpRequest, form, site: TeamSettings) -> None:
    """Make the account a valid SignupForm describes, inactive until an admin approves it or
    its address is confirmed. When an account has that address already, its owner is told by
    mail instead: the page says the same either way, so sign-up does not tell anyone which
    addresses have accounts."""
    email = form.cleaned_data["email"]
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and existing.waiting == User.Waiting.EMAIL:
        send_confirmation(request, existing)  # signed up before: a new link for that account
        return
    if existing is not None:
        context = {"user": existing, "reset": request.build_absolute_uri(reverse("accounts:password_reset"))}
        mail.send(email, "in_use", context, "address in use")
        return
    user = form.save(commit=False)
    user.is_active = False
    user.waiting = User.Waiting.EMAIL if site.signup == TeamSettings.Signup.DOMAINS else User.Waiting.APPROVAL
    user.save()
    if user.waiting == User.Waiting.EMAIL:
        send_confirmation(request, user)


def send_confirmation(request: HttpRequest, user: User) -> None:
    context = {
        "user": user,
        "link": confirmation.link_for(request, user),
        "days": settings.SIGNUP_CONFIRM_SECONDS // 86400,
    }
    mail.send(user.email, "confirm", context, "address confirmation")


def confirm(request: HttpRequest, user: User) -> None:
    """The address is the user's: the account works from now on (and is logged in)."""
    user.is_active, user.waiting = True, User.Waiting.NO
    user.save(update_fields=["is_active", "waiting"])
    login(request, user, backend=BACKEND)


def approve(request: HttpRequest, users) -> int:
    """Let in the accounts waiting for approval among users, and tell each by mail."""
    approved = 0
    for user in users.filter(waiting=User.Waiting.APPROVAL):
        user.is_active, user.waiting = True, User.Waiting.NO
        user.save(update_fields=["is_active", "waiting"])
        approved += 1
        if user.email:
            context = {"user": user, "login": request.build_absolute_uri(reverse("accounts:login"))}
            mail.send(user.email, "approved", context, "account approved")
    return approved
