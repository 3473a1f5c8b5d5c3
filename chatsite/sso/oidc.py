"""Sign-in through OpenID Connect providers (OIDC_PROVIDERS), on mozilla-django-oidc.

mozilla-django-oidc knows one provider, from Django settings. Here each of several providers is
picked by its URL (/sso/oidc/<name>/login/ and .../callback/, a redirect URI of its own), its
endpoints come from its discovery document, and the library's get_settings() answers from that
provider. The library checks the state, the nonce, PKCE, the ID token's signature and expiry;
this module adds the token's issuer and audience, ties each state to the provider it was made
for (a code from provider B delivered to A's callback is refused), finds users by
(provider, sub) instead of by e-mail, and turns every failure into a message for the person.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from chatsite.accounts import ratelimit
from chatsite.lib.addresses import client_address
from chatsite.sso import groups
from chatsite.sso.config import BACKENDS, OidcProvider
from chatsite.sso.models import Identity

log = logging.getLogger(__name__)
DISCOVERY_SECONDS = 600
SESSION_PROVIDER = "sso_oidc_provider"
SESSION_ID_TOKEN = "oidc_id_token"  # where the library stores it (OIDC_STORE_ID_TOKEN)


class SignInError(Exception):
    """A failed sign-in, with the message the person sees."""


def provider_named(name: str) -> OidcProvider:
    for provider in settings.OIDC_PROVIDERS:
        if provider.name == name:
            return provider
    raise Http404


def source(provider: OidcProvider) -> str:
    return f"oidc:{provider.name}"


_discovered: dict[str, tuple[float, dict]] = {}


def discovery(provider: OidcProvider) -> dict:
    """The provider's discovery document, fetched when first needed (so that a provider that is
    down does not stop chatsite starting) and kept for DISCOVERY_SECONDS."""
    cached = _discovered.get(provider.name)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = f"{provider.issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.SSO_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        log.warning("OIDC provider %s: discovery at %s failed: %s", provider.name, url, error)
        raise SignInError(
            _("%(provider)s cannot be reached just now. Try again in a few minutes.") % {"provider": provider.label}
        ) from None
    # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
    if document.get("issuer") != provider.issuer:
        log.warning(
            "OIDC provider %s: %s says its issuer is %r, not %r",
            provider.name,
            url,
            document.get("issuer"),
            provider.issuer,
        )
        raise SignInError(
            _("%(provider)s answered as an unknown issuer, so it was not trusted. Tell your admin.")
            % {"provider": provider.label}
        )
    _discovered[provider.name] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return document


def _library_settings(provider: OidcProvider) -> dict:
    """mozilla-django-oidc's settings, for this provider."""
    document = discovery(provider)
    algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    auth_methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": document["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": document["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": document.get("userinfo_endpoint"),
        "OIDC_OP_JWKS_ENDPOINT": document.get("jwks_uri"),
        "OIDC_RP_CLIENT_ID": provider.client_id,
        "OIDC_RP_CLIENT_SECRET": provider.client_secret,
        "OIDC_RP_SCOPES": provider.scopes,
        "OIDC_RP_SIGN_ALGO": "RS256" if "RS256" in algorithms else algorithms[0],
        "OIDC_TOKEN_USE_BASIC_AUTH": "client_secret_post" not in auth_methods,
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_STORE_ID_TOKEN": True,  # for logging out at the provider (id_token_hint)
        "OIDC_TIMEOUT": settings.SSO_TIMEOUT,
        "OIDC_AUTHENTICATION_CALLBACK_URL": f"sso:oidc-callback-{provider.name}",
    }


class _ProviderSettings:
    provider: OidcProvider
    _values: dict

    def get_settings(self, attr, *args):
        if attr in self._values:
            return self._values[attr]
        return import_from_settings(attr, *args)


class ProviderRequestView(_ProviderSettings, OIDCAuthenticationRequestView):
    """Sends the browser to the provider with a new state, nonce and PKCE challenge."""

    def __init__(self, **kwargs) -> None:  # the library reads its settings here, before the provider is known
        pass

    def get(self, request: HttpRequest, name: str) -> HttpResponse:
        self.provider = provider_named(name)
        try:
            self._values = _library_settings(self.provider)
        except SignInError as error:
            messages.error(request, str(error))
            return redirect("accounts:login")
        self.OIDC_OP_AUTH_ENDPOINT = self._values["OIDC_OP_AUTHORIZATION_ENDPOINT"]
        self.OIDC_RP_CLIENT_ID = self.provider.client_id
        response = super().get(request)
        # The state the library just stored (the newest one) belongs to this provider only.
        states = request.session["oidc_states"]
        newest = max(states, key=lambda state: states[state]["added_on"])
        states[newest]["provider"] = self.provider.name
        request.session.modified = True
        return response


class ProviderBackend(_ProviderSettings, OIDCAuthenticationBackend):
    """Authenticates the code of a callback (authenticate(request, oidc_provider=..., nonce=...,
    code_verifier=...)); any other call to authenticate() is not for it."""

    def __init__(self, *args, **kwargs) -> None:  # see ProviderRequestView.__init__
        self.UserModel = get_user_model()

    def authenticate(self, request, oidc_provider: OidcProvider | None = None, **kwargs):
        if oidc_provider is None or request is None:
            return None
        self.provider = oidc_provider
        self._values = _library_settings(oidc_provider)
        for name in ("OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT"):
            setattr(self, name, self._values[name])
        self.OIDC_RP_CLIENT_ID = oidc_provider.client_id
        self.OIDC_RP_CLIENT_SECRET = oidc_provider.client_secret
        self.OIDC_RP_SIGN_ALGO = self._values["OIDC_RP_SIGN_ALGO"]
        self.OIDC_RP_IDP_SIGN_KEY = None
        label = {"provider": oidc_provider.label}
        try:
            return super().authenticate(request, **kwargs)
        except jwt.ExpiredSignatureError:
            raise SignInError(_("The sign-in from %(provider)s had expired. Sign in again.") % label) from None
        except requests.HTTPError as error:
            code = _oauth_error(error.response)
            log.warning("OIDC provider %s refused the code: %s", oidc_provider.name, code)
            raise SignInError(
                _("%(provider)s refused to finish the sign-in (%(error)s). Sign in again.") % {**label, "error": code}
            ) from None
        except requests.RequestException as error:
            log.warning("OIDC provider %s: %s", oidc_provider.name, error)
            raise SignInError(
                _("%(provider)s cannot be reached just now. Try again in a few minutes.") % label
            ) from None
        except (jwt.InvalidTokenError, SuspiciousOperation) as error:
            log.warning("OIDC provider %s: token not accepted: %s", oidc_provider.name, error)
            raise SignInError(_("The sign-in from %(provider)s could not be verified.") % label) from None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        # The library checks neither issuer nor audience (OpenID Connect Core 3.1.3.7, 2-4).
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if payload.get("iss") != self.provider.issuer:
            raise SuspiciousOperation(f"ID token from issuer {payload.get('iss')!r}")
        if self.provider.client_id not in audiences or (
            len(audiences) > 1 and payload.get("azp") != self.provider.client_id
        ):
            raise SuspiciousOperation(f"ID token for audience {audience!r}")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        # The ID token's claims, and the userinfo endpoint's (Keycloak and oidc-provider give groups
        # there; Entra ID only in the token).
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload.get("sub"):  # Core 5.3.2
                raise SuspiciousOperation("userinfo is about another subject")
            claims.update(userinfo)
        return claims

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(
            identities__source=source(self.provider), identities__subject=claims["sub"]
        )

    def create_user(self, claims):
        with transaction.atomic():
            user = self.UserModel(username=_free_username(claims, self.provider), email=claims.get("email", ""))
            user.set_unusable_password()
            user.save()
            Identity.objects.create(user=user, source=source(self.provider), subject=claims["sub"])
            return self.update_user(user, claims)

    def update_user(self, user, claims):
        """At every sign-in: name, address, groups, staff and superuser as the provider says."""
        with transaction.atomic():
            for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
                if isinstance(claims.get(claim), str):
                    setattr(user, field, claims[claim][: self.UserModel._meta.get_field(field).max_length])
            groups.apply(user, groups.claim_values(claims, self.provider.groups_claim), self.provider.groups)
            user.save()
            Identity.objects.filter(source=source(self.provider), subject=claims["sub"]).update(
                last_sign_in=timezone.now()
            )
        return user

    def store_tokens(self, access_token, id_token):
        super().store_tokens(access_token, id_token)
        self.request.session[SESSION_PROVIDER] = self.provider.name

    def get_user(self, user_id):
        user = super().get_user(user_id)
        # The library's get_user would go on serving the session of a user an admin deactivated.
        return user if user is not None and user.is_active else None


def _oauth_error(response) -> str:
    try:
        return str(response.json().get("error", response.status_code))[:100]
    except ValueError:
        return str(response.status_code)


def _free_username(claims: dict, provider: OidcProvider) -> str:
    """The provider's username for them, made a valid chatsite username and unique (an existing
    account of that name is someone else's: "alice" from provider corp becomes "alice-corp")."""
    wanted = claims.get(provider.username_claim) or claims.get("email") or claims["sub"]
    base = re.sub(r"[^\w.@+-]", "-", str(wanted))[:120].strip("-") or "user"
    User = get_user_model()
    for candidate in [base, f"{base}-{provider.name}", *(f"{base}-{provider.name}-{n}" for n in range(2, 100))]:
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise SuspiciousOperation("no free username")


@login_not_required
@require_GET
def callback(request: HttpRequest, name: str) -> HttpResponse:
    """Where the provider sends the browser back: check, sign in, and go on (or say why not)."""
    provider = provider_named(name)
    address, key = client_address(request.META), source(provider)
    if ratelimit.is_limited(address, key):
        messages.error(request, _("Too many failed sign-ins. Wait a few minutes and try again."))
        return redirect("accounts:login")
    try:
        user, next_url = _complete(request, provider)
    except SignInError as error:
        ratelimit.record_failure(address, key)
        messages.error(request, str(error))
        return redirect("accounts:login")
    # The session keeps the ID token and the provider across login()'s new key, for logging out.
    auth.login(request, user, backend=BACKENDS["oidc"])
    return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def _complete(request: HttpRequest, provider: OidcProvider):
    label = {"provider": provider.label}
    if "error" in request.GET:
        error = request.GET["error"][:100]
        raise SignInError(_("%(provider)s did not sign you in (%(error)s).") % {**label, "error": error})
    states = request.session.get("oidc_states")
    state = request.GET.get("state", "")
    entry = states.pop(state, None) if isinstance(states, dict) else None
    request.session.modified = True
    if not entry or entry.get("provider") != provider.name or "code" not in request.GET:
        log.warning("OIDC provider %s: a callback with an unknown state", provider.name)
        raise SignInError(_("This sign-in did not start here, or was finished already. Sign in again."))
    # RFC 9207: the authorization response names its issuer (when the provider says so).
    if "iss" in request.GET and request.GET["iss"] != provider.issuer:
        raise SignInError(
            _("%(provider)s answered as an unknown issuer, so it was not trusted. Tell your admin.") % label
        )
    next_url = request.session.pop("oidc_login_next", None)
    request.session.save()
    user = auth.authenticate(
        request, oidc_provider=provider, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier")
    )
    if user is None:
        raise SignInError(_("%(provider)s did not sign you in.") % label)
    if not user.is_active:
        raise SignInError(_("This account is inactive."))
    return user, next_url


def provider_logout_url(request: HttpRequest) -> str | None:
    """Where to send the browser after logging out of chatsite, to log out at the provider too:
    its end_session_endpoint (RP-Initiated Logout 1.0), if the user signed in through one that
    offers it."""
    name, id_token = request.session.get(SESSION_PROVIDER), request.session.get(SESSION_ID_TOKEN)
    provider = next((p for p in settings.OIDC_PROVIDERS if p.name == name), None)
    if provider is None or not id_token:
        return None
    try:
        endpoint = discovery(provider).get("end_session_endpoint")
    except SignInError:
        return None  # logged out of chatsite all the same
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": provider.client_id,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL)),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
