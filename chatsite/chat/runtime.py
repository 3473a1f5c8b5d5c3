"""What one server process runs besides its requests, and the seam where serving meets the app.

A Runtime per event loop (a server has one; tests make one per test) owns the live answers and
sockets of the process, the turn runner, the pooled provider client, the flusher and the reaper,
and the graceful shutdown. install() is called wherever the ASGI application is loaded
(chatsite/asgi.py), so `daphne chatsite.asgi:application` and `manage.py serve` behave the same:
daphne's request body limit and websocket close codes, process tuning, and, once daphne's
server runs, the runtime's start (with a start-up reap) and its SIGTERM/SIGINT handling.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
import weakref
from collections import defaultdict
from typing import TYPE_CHECKING

import aiohttp
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from chatsite.accounts.firstrun import announce_setup_code
from chatsite.chat import events, saving
from chatsite.chat.budgetnews import BudgetNews
from chatsite.chat.generation import Generation
from chatsite.chat.limits import sockets_refusal
from chatsite.chat.runner import TurnRunner
from chatsite.lib import daphne
from chatsite.ops import metrics
from chatsite.providers import bootstrap
from chatsite.providers.client import new_session

if TYPE_CHECKING:
    from chatsite.chat.turns import Turn

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 10.0  # SIGTERM to exit, at most
_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


class Runtime:
    def __init__(self) -> None:
        # Live answers of this process, by message id: keeps their tasks alive and tells the
        # reaper which "streaming" rows are alive here.
        self.generations: dict[int, Generation] = {}
        self.sockets: defaultdict[int, set[str]] = defaultdict(set)  # user id -> channel names
        self.turns = TurnRunner(self)
        self.budget_news = BudgetNews(self)
        self.flusher = saving.Flusher(self.generations)
        self.endings = saving.Endings(self)
        # Tool calls in flight in this process, at most.
        self.tool_slots = asyncio.Semaphore(settings.TOOL_CALLS_PER_PROCESS)
        self.closing = False
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._spawned: set[asyncio.Task] = set()  # background work of answers (titles): kept alive

    # -- what requests use -------------------------------------------------------------------

    def http(self) -> aiohttp.ClientSession:
        """One pooled client per process: no TLS handshake per answer, a bounded pool per provider."""
        if self._session is None or self._session.closed:
            self._session = new_session(settings.PROVIDER_CONNECTIONS)
        return self._session

    def coalesce_window(self) -> float:
        """Seconds deltas wait to share a frame: STREAM_COALESCE_MS when the server is quiet; under
        load, wide enough that all answers together send about STREAM_FRAME_RATE frames a second
        (each frame costs the same whatever it carries), up to STREAM_COALESCE_MAX_MS."""
        low = settings.STREAM_COALESCE_MS / 1000
        return max(low, min(settings.STREAM_COALESCE_MAX_MS / 1000, len(self.generations) / settings.STREAM_FRAME_RATE))

    def start_generation(self, turn: Turn, language: str | None = None, *, written: bool = True) -> Generation:
        """The turn's answer, streaming but not shown until generation.release(). written=False:
        the turn is still being written, and generation.committed() or abandon() says how that
        ended."""
        self.start()
        generation = Generation(self, turn.conversation.code, turn.answer, turn.plan, language)
        if written:
            generation.committed()
        generation.start()
        return generation

    def spawn(self, work) -> asyncio.Task:
        """Run a coroutine in the background, kept alive until it ends (closed with the runtime)."""
        task = asyncio.get_running_loop().create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    def socket_opened(self, user_id: int, channel: str) -> str | None:
        """Count a socket of this user's; the reason to refuse it past their cap, or None."""
        self.start()
        if refusal := sockets_refusal(len(self.sockets[user_id])):
            return refusal
        self.sockets[user_id].add(channel)
        return None

    def socket_closed(self, user_id: int, channel: str) -> None:
        channels = self.sockets.get(user_id)
        if channels is not None:
            channels.discard(channel)
            if not channels:
                del self.sockets[user_id]

    # -- background loops and shutdown ---------------------------------------------------------

    def start(self, *, reap_now: bool = False) -> None:
        """Start the flusher and the reaper, once; reap_now: a new server process, whose start-up
        marks the answers of the one before as interrupted."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.flusher.run_forever()), loop.create_task(self._reap_forever(reap_now))]

    async def _reap_forever(self, reap_now: bool) -> None:
        if reap_now and not bootstrap.env_configured:
            # Started as `daphne chatsite.asgi:application`: what `manage.py serve` does first.
            try:
                await asyncio.to_thread(_configure_env_provider)
            except Exception:
                log.warning("could not configure the provider from the environment", exc_info=True)
        if reap_now:
            # With the in-memory channel layer this is the only process, so every "streaming"
            # row is an orphan; with Redis other processes may be streaming: go by staleness.
            await self._reap(saving.STALE_SECONDS if settings.REDIS_URL else 0)
        while True:
            await asyncio.sleep(saving.STALE_SECONDS / 2)
            await self._reap(saving.STALE_SECONDS)

    async def _reap(self, older_than: float) -> None:
        try:
            await saving.reap_and_announce(older_than, alive=set(self.generations))
        except Exception:
            log.warning("could not reap stale answers", exc_info=True)

    async def shutdown(self, seconds: float = SHUTDOWN_SECONDS) -> None:
        """Stop taking turns, end every answer as interrupted with its whole text saved, tell
        the open sockets, then stop the background loops."""
        self.closing = True
        deadline = asyncio.get_running_loop().time() + seconds
        while self.generations and asyncio.get_running_loop().time() < deadline:
            live = list(self.generations.values())
            for generation in live:
                generation.interrupt()
            tasks = [generation.task for generation in live if generation.task]
            await asyncio.wait(tasks, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        layer = get_channel_layer()
        for channels in list(self.sockets.values()):
            for channel in list(channels):
                try:
                    await layer.send(channel, {"type": events.RESTART})
                except Exception:
                    log.debug("could not tell socket %s of the restart", channel, exc_info=True)
        # Until the browsers have the close frames (each socket leaves as its close completes).
        for _ in range(20):
            if not self.sockets:
                break
            await asyncio.sleep(0.05)
        await self.close()

    async def close(self) -> None:
        """Stop the background loops and work, and close the provider client."""
        for task in [*self._tasks, *self._spawned]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._spawned, return_exceptions=True)
        self._tasks = []
        # A task cancelled while it waited on the database thread leaves its call running there;
        # the thread takes calls in order, so this one returns once that has committed.
        await database_sync_to_async(lambda: None)()
        if self._session is not None:
            await self._session.close()


def _configure_env_provider() -> None:
    try:
        bootstrap.configure_env_provider()
        announce_setup_code()
    finally:
        connections.close_all()  # this thread's own connections


def current() -> Runtime:
    """This event loop's runtime."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        runtime = _runtimes[loop] = Runtime()
    return runtime


# -- the seam with the server ----------------------------------------------------------------


def install() -> None:
    """Everything serving chatsite needs, applied where the ASGI application is loaded."""
    # Whatever else the server writes (SQLite's files, uploads, temporary files) is its own.
    os.umask(0o077)
    # Uploads and forms; the import page takes a whole data export (IMPORT_MAX_BYTES).
    daphne.limit_request_bodies(
        settings.CHAT_MAX_UPLOAD_BYTES + 1024 * 1024, larger={"/data/": settings.IMPORT_MAX_BYTES + 1024 * 1024}
    )
    # Above the consumer's own limit, which answers an error frame first (consumers.py).
    daphne.limit_websocket_messages(4 * settings.CHAT_MAX_FRAME_BYTES)
    # The database thread hands the GIL back and forth with the busy event loop after every
    # SQLite call; the default 5 ms switch interval made each hand-off that long.
    sys.setswitchinterval(0.001)
    daphne.when_serving(_serving)


def tune_garbage_collector() -> None:
    """Keep the collector's full passes off the streaming path. Called once the application is
    loaded: freezing moves those long-lived objects out of the collector's sight, so its passes
    stop walking them. A larger youngest generation means fewer passes; frames, deltas and
    parsed chunks die young either way. (bench/stream.py: the collector took 0.7 s of the
    server's CPU in a run, 0.25 s with this.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _serving(loop: asyncio.AbstractEventLoop) -> None:
    """daphne's server is starting on this loop: start the runtime, and take over SIGTERM and
    SIGINT from Twisted (whose handlers stop the loop at once, dropping what answers had not saved)."""

    def begin(signum: int) -> None:
        runtime = current()
        if runtime.closing:  # a second signal: stop now
            daphne.stop_serving()
            return
        log.warning("%s: stopping; live answers are saved as interrupted", signal.Signals(signum).name)
        # However the shutdown goes, the process is gone in a bounded time.
        watchdog = threading.Timer(SHUTDOWN_SECONDS + 2, os._exit, args=(1,))
        watchdog.daemon = True
        watchdog.start()
        loop.create_task(_shut_down(runtime))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, begin, signum)
    tune_garbage_collector()  # everything is loaded by now

    def start() -> None:
        runtime = current()
        runtime.start(reap_now=True)
        if settings.METRICS_ADDRESS:
            metrics.serve(settings.METRICS_ADDRESS, runtime)

    loop.call_soon(start)


async def _shut_down(runtime: Runtime) -> None:
    try:
        await runtime.shutdown(SHUTDOWN_SECONDS - 1)
    except Exception:
        log.exception("the graceful shutdown failed")
    finally:
        daphne.stop_serving()
