from django.urls import path

from chatsite.chat import views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("c/new/", views.create, name="create"),
    path("c/<uuid:code>/", views.index, name="conversation"),
    path("c/<uuid:code>/messages/", views.older_messages, name="older_messages"),
    path("c/<uuid:code>/rename/", views.rename, name="rename"),
    path("c/<uuid:code>/delete/", views.delete, name="delete"),
    path("c/<uuid:code>/model/", views.set_model, name="set_model"),
    path("c/<uuid:code>/options/", views.set_options, name="set_options"),
    path("presets/", views.create_preset, name="create_preset"),
    path("uploads/", views.upload, name="upload"),
    path("media/attachments/<uuid:code>", views.attachment, name="attachment"),
]
