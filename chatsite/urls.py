from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from chatsite.ops import views as ops

urlpatterns = [
    # One login for the whole site, so the admin's login is rate-limited too.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    ),
    path("healthz", ops.healthz),
    path("readyz", ops.readyz),
    # The strings static/js/ shows, in the reader's language (window.gettext; see js/i18n.js).
    path(
        "jsi18n/",
        login_not_required(JavaScriptCatalog.as_view()),
        name="javascript-catalog",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("chatsite.accounts.urls")),
    path("sso/", include("chatsite.sso.urls")),
    path("", include("chatsite.chat.urls")),
    path("", include("chatsite.transfer.urls")),
    path("", include("chatsite.sharing.urls")),
    path("", include("chatsite.search.urls")),
]
