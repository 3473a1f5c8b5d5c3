"""{% sign_in_options %}: the ways to sign in that this site offers, for the login page."""

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("sso/sign_in_options.html", takes_context=True)
def sign_in_options(context) -> dict:
    request = context["request"]
    next_url = request.GET.get("next", "")
    providers = []
    for provider in settings.OIDC_PROVIDERS:
        url = reverse(f"sso:oidc-login-{provider.name}")
        if next_url:
            url += "?" + urlencode({"next": next_url})
        providers.append({"label": provider.label, "url": url, "name": provider.name})
    return {
        "providers": providers,
        "directory": bool(getattr(settings, "AUTH_LDAP_SERVER_URI", "")),
        "local_passwords": settings.LOCAL_PASSWORDS,
        "messages": context.get("messages", ()),
    }
