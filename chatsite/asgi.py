"""ASGI entry point: HTTP through Django, the chat websocket through Channels.

`daphne chatsite.asgi:application` and `manage.py serve` both load this, so what serving needs
(chatsite/chat/runtime.py install) is applied here, once.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from chatsite.chat import runtime  # noqa: E402
from chatsite.chat.consumers import ChatConsumer  # noqa: E402
from chatsite.lib.origin import ExactOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": ExactOriginValidator(AuthMiddlewareStack(URLRouter([path("ws/chat/", ChatConsumer.as_asgi())]))),
    }
)
runtime.install()
