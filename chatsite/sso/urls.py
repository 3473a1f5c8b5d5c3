from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.urls import path

app_name = "sso"
urlpatterns = []

if settings.OIDC_PROVIDERS:
    from chatsite.sso import oidc

    for _provider in settings.OIDC_PROVIDERS:
        # A redirect URI for each provider, named so that the library can reverse it without arguments.
        urlpatterns += [
            path(
                f"oidc/{_provider.name}/login/",
                login_not_required(oidc.ProviderRequestView.as_view()),
                {"name": _provider.name},
                name=f"oidc-login-{_provider.name}",
            ),
            path(
                f"oidc/{_provider.name}/callback/",
                oidc.callback,
                {"name": _provider.name},
                name=f"oidc-callback-{_provider.name}",
            ),
        ]
