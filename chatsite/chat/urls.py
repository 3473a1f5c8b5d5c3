from django.urls import path

from chatsite.chat import keep_views, views

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
    path("c/<uuid:code>/pin/", keep_views.pin, name="pin"),
    path("c/<uuid:code>/archive/", keep_views.archive, name="archive"),
    path("c/<uuid:code>/folder/", keep_views.move, name="move"),
    path("archived/", keep_views.archived, name="archived"),
    path("folders/", keep_views.create_folder, name="create_folder"),
    path("folders/<uuid:code>/rename/", keep_views.rename_folder, name="rename_folder"),
    path("folders/<uuid:code>/delete/", keep_views.delete_folder, name="delete_folder"),
    path("presets/", views.create_preset, name="create_preset"),
    path("uploads/", views.upload, name="upload"),
    path("media/attachments/<uuid:code>", views.attachment, name="attachment"),
]
