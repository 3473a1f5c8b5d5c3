"""Health checks for load balancers and supervisors: no login, no secret in what they say."""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)

CHECK_SECONDS = 3.0
_migrated = False  # once all are applied they stay applied: checked until then


@login_not_required
@require_GET
async def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and its event loop answers."""
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers, migrations are applied, the channel layer carries
    a message. 503 with the failing check otherwise (its name only: no address or error text)."""
    checks = {}
    for name, check in (("database", _database), ("migrations", _migrations), ("channel_layer", _channel_layer)):
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                ok = await check()
        except Exception:
            log.warning("readiness check %s failed", name, exc_info=True)
            ok = False
        checks[name] = "ok" if ok else "failing"
    ready = all(state == "ok" for state in checks.values())
    return JsonResponse({"ready": ready, **checks}, status=200 if ready else 503)


@database_sync_to_async
def _database() -> bool:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


@database_sync_to_async
def _migrations() -> bool:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


async def _channel_layer() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ops.ping"})
    return (await layer.receive(channel))["type"] == "ops.ping"
