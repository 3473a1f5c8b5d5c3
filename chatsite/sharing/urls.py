from django.urls import path

from chatsite.sharing import views

app_name = "sharing"
urlpatterns = [
    path("shares/", views.share_list, name="list"),
    path("c/<uuid:code>/share/", views.conversation_share, name="conversation"),
    path("s/<slug:token>/", views.shared, name="shared"),
    path("s/<slug:token>/copy/", views.copy, name="copy"),
    path("s/<slug:token>/revoke/", views.revoke, name="revoke"),
    path("s/<slug:token>/files/<uuid:code>", views.shared_file, name="file"),
]
