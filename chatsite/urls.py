from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from chatsite.ops import views as ops

urlpatterns = [
    # One login for the whole site, so the admin's login is rate-limited too.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    ),
    path("healthz", ops.healthz),
    path("readyz", ops.readyz),
    path("admin/", admin.site.urls),
    path("accounts/", include("chatsite.accounts.urls")),
    path("", include("chatsite.chat.urls")),
]
