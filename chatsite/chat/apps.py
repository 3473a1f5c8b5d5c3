from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chatsite.chat"
    label = "chat"
