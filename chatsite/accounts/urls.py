from django.urls import path

from chatsite.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("setup/", views.setup_view, name="setup"),
    path("signup/", views.signup_view, name="signup"),
    path("invite/<slug:token>/", views.invite_view, name="invite"),
    path("confirm/<str:token>/", views.confirm_view, name="confirm"),
    path("password/", views.password_change_view, name="password_change"),
    path("password/changed/", views.password_change_done_view, name="password_change_done"),
    path("password/reset/", views.password_reset_view, name="password_reset"),
    path("password/reset/sent/", views.password_reset_sent_view, name="password_reset_sent"),
    path("password/reset/<uidb64>/<token>/", views.password_reset_confirm_view, name="password_reset_confirm"),
    path("password/reset/done/", views.password_reset_complete_view, name="password_reset_complete"),
    path("profile/", views.profile_view, name="profile"),
    path("language/", views.language_view, name="language"),
]
