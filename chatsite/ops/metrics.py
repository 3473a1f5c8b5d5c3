"""Prometheus metrics of one server process, on a listener of their own (METRICS_ADDRESS).

Nothing here is on the streaming hot path: answers are counted and timed when they end, and
live figures (answers, sockets, queued turns, the flusher's lag) are read from the process's
runtime when Prometheus scrapes. The listener serves only metrics, never a page or a key: bind
it to loopback or a monitoring network.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

answers = Counter("chatsite_answers", "Answers that ended, by status.", ["status"], registry=REGISTRY)
tokens = Counter("chatsite_tokens_relayed", "Tokens of answers relayed to browsers.", registry=REGISTRY)
provider_errors = Counter(
    "chatsite_provider_errors", "Answers a provider failed, by kind of failure.", ["kind"], registry=REGISTRY
)
first_token = Histogram(
    "chatsite_time_to_first_token_seconds",
    "From a turn's start to its first token.",
    buckets=SECONDS,
    registry=REGISTRY,
)
duration = Histogram(
    "chatsite_answer_duration_seconds", "From a turn's start to its answer's end.", buckets=SECONDS, registry=REGISTRY
)
flushes = Histogram(
    "chatsite_flush_seconds",
    "How long one write of the growing answers took.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
    registry=REGISTRY,
)


class RuntimeCollector:
    """The live figures, read from the server process's runtime at each scrape."""

    def __init__(self) -> None:
        self.runtime = None  # set when the server starts (runtime.py)

    def collect(self):
        runtime = self.runtime
        if runtime is None:
            return
        live = GaugeMetricFamily("chatsite_live_answers", "Answers streaming in this process.")
        live.add_metric([], len(runtime.generations))
        yield live
        sockets = GaugeMetricFamily("chatsite_sockets", "Chat websockets open on this process.")
        sockets.add_metric([], sum(len(channels) for channels in list(runtime.sockets.values())))
        yield sockets
        queued = GaugeMetricFamily("chatsite_turns_queued", "Turns waiting for the database thread.")
        queued.add_metric([], len(runtime.turns.waiting))
        yield queued
        lag = GaugeMetricFamily(
            "chatsite_flush_lag_seconds", "Seconds since growing answers were last written (0 when none stream)."
        )
        last = runtime.flusher.last_written
        lag.add_metric([], time.monotonic() - last if runtime.generations and last else 0.0)
        yield lag


collector = RuntimeCollector()
REGISTRY.register(collector)


def serve(address: str, runtime) -> None:
    """Serve the metrics on host:port (a thread of the server process)."""
    collector.runtime = runtime
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=REGISTRY)
    log.info("metrics on http://%s:%s/metrics", host or "127.0.0.1", port)


def answer_ended(status: str, first_token_ms: int | None, duration_ms: int | None, completion_tokens: int) -> None:
    answers.labels(status).inc()
    if first_token_ms is not None:
        first_token.observe(first_token_ms / 1000)
    if duration_ms is not None:
        duration.observe(duration_ms / 1000)
    if completion_tokens:
        tokens.inc(completion_tokens)
