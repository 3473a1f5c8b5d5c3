from django.urls import path

from chatsite.transfer import views

app_name = "transfer"
urlpatterns = [
    path("data/", views.transfer_page, name="page"),
    path("data/export.zip", views.export_all, name="export_all"),
    path("c/<uuid:code>/export.md", views.export_markdown, name="export_markdown"),
    path("c/<uuid:code>/export.json", views.export_json, name="export_json"),
]
