"""Prometheus metrics of the gateway, on their own registry so several gateways can live in one
process (tests), and served from `server.metrics_listen`.

When the server runs several worker processes, `PROMETHEUS_MULTIPROC_DIR` switches prometheus-client
to its multi-process mode: each worker writes its samples to files there and the endpoint
aggregates them, so a scrape sees the whole server, not one worker.

Labels never carry keys, prompts or unbounded values: `model` is a configured model name (or
`unknown`), `provider` and `deployment` are configured names, `code` a gRPC status name.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import prometheus_client
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

from llmgateway.config import split_host_port

# Buckets from 5 ms to 5 min: gateway overhead is milliseconds, a long generation minutes.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
_GAP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Remembered:
    """`labels(...)` from a plain dict after the first time. prometheus-client checks and converts
    the values and takes a lock on every call (about 2.4 µs on the benchmark machine, a dozen times
    per chat call), although a labelled child lives as long as its parent and never changes."""

    def labels(self, *values: Any, **named: Any) -> Any:
        remembered: dict[tuple[Any, ...], Any] = self.__dict__.setdefault("_remembered", {})
        child = remembered.get(values) if not named else None
        if child is None:
            child = super().labels(*values, **named)  # type: ignore[misc]
            if not named:
                remembered[values] = child
        return child

    def remove(self, *values: Any) -> None:
        self.__dict__.pop("_remembered", None)
        super().remove(*values)  # type: ignore[misc]

    def clear(self) -> None:
        self.__dict__.pop("_remembered", None)
        super().clear()  # type: ignore[misc]


class Counter(_Remembered, prometheus_client.Counter):
    pass


class Gauge(_Remembered, prometheus_client.Gauge):
    pass


class Histogram(_Remembered, prometheus_client.Histogram):
    pass


class GatewayMetrics:
    """Every metric the gateway exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "llmgateway_requests", "Calls by front door (grpc, openai, anthropic), method, model, provider and status code.",
            ["frontend", "method", "model", "provider", "code"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "llmgateway_request_duration_seconds", "Whole-call latency as the gateway saw it.",
            ["frontend", "method", "model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.time_to_first_token = Histogram(
            "llmgateway_time_to_first_token_seconds", "From the call's start to its first content message.",
            ["model", "provider"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inter_token = Histogram(
            "llmgateway_inter_token_seconds", "Gaps between content messages of a stream.",
            ["model", "provider"], buckets=_GAP_BUCKETS, registry=r,
        )  # fmt: skip
        self.overhead = Histogram(
            "llmgateway_overhead_seconds", "Time spent in the gateway itself: the call minus waiting on upstreams.",
            ["method"], buckets=_OVERHEAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "llmgateway_tokens", "Tokens by direction (input, output, cached, cache_write, reasoning).",
            ["model", "provider", "direction"], registry=r,
        )  # fmt: skip
        self.finishes = Counter(
            "llmgateway_finish_reasons", "Answers by why they ended (stop, length, tool_calls, content_filter, refusal, other).",
            ["model", "provider", "finish_reason"], registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "llmgateway_cost_usd",
            "Cost of calls in US dollars, from the price table.",
            ["model", "provider"],
            registry=r,
        )
        self.upstream_attempts = Counter(
            "llmgateway_upstream_attempts", "Attempts at upstream deployments by outcome (OK or an error reason).",
            ["provider", "deployment", "outcome"], registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "llmgateway_fallbacks",
            "Calls served by a fallback model.",
            ["model", "fallback_model"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "llmgateway_breaker_state", "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
            ["deployment"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.in_flight = Gauge(
            "llmgateway_in_flight",
            "Calls in flight (Chat, ChatStream, Embed).",
            ["method"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.cache_requests = Counter(
            "llmgateway_cache_requests", "Response cache lookups by result.", ["result"], registry=r
        )
        self.store_up = Gauge(
            "llmgateway_store_up", "Whether the shared store (Redis) is reachable: 1 up, 0 down.",
            ["store"], registry=r, multiprocess_mode="min",
        )  # fmt: skip
        self.ratelimit_rejections = Counter(
            "llmgateway_ratelimit_rejections",
            "Calls refused by a rate limit or budget, by scope.",
            ["scope"],
            registry=r,
        )
        self.ledger_queue = Gauge(
            "llmgateway_ledger_queue_depth", "Ledger records waiting for the database writer.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.ledger_records = Counter(
            "llmgateway_ledger_records",
            "Ledger records by what became of them: written (to the database), spooled (to the local "
            "file: the database was down or slow), replayed (from the spool into the database), "
            "rejected (the database refused the record itself; kept in a rejected-* file), lost (the "
            "spool could not be written).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.ledger_write_errors = Counter(
            "llmgateway_ledger_write_errors", "Failed writes to the ledger database.", registry=r
        )
        self.ledger_up = Gauge(
            "llmgateway_ledger_up", "Whether the ledger database took the last write: 1 up, 0 down.",
            registry=r, multiprocess_mode="min",
        )  # fmt: skip
        # The names and labels of go-grpc-prometheus, which dashboards for gRPC services expect.
        self.grpc_started = Counter(
            "grpc_server_started", "RPCs started on the server.",
            ["grpc_type", "grpc_service", "grpc_method"], registry=r,
        )  # fmt: skip
        self.grpc_handled = Counter(
            "grpc_server_handled", "RPCs completed on the server, regardless of success or failure.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"], registry=r,
        )  # fmt: skip
        self.grpc_handling = Histogram(
            "grpc_server_handling_seconds", "Response latency of RPCs handled by the server.",
            ["grpc_type", "grpc_service", "grpc_method"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip


def scrape_registry(metrics: GatewayMetrics) -> CollectorRegistry:
    """What a scrape reads: the gateway's own registry or, with several workers, a collector over
    every worker's sample files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return metrics.registry


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr (as prometheus-client's own server): scrapes come every few
    seconds, and a request line is not where an Authorization header belongs either."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _routes(metrics_app: WSGIApplication, pages: Mapping[str, WSGIApplication]) -> WSGIApplication:
    """`pages` by exact path, everything else to the metrics exposition. Hand-written because
    prometheus-client's WSGI app has no routing: it answers every path with the metrics, which
    /metrics keeps doing (byte for byte, on every path but the pages')."""

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        page = pages.get(environ.get("PATH_INFO", ""))
        return (page or metrics_app)(environ, start_response)

    return route


class MetricsServer:
    """The /metrics HTTP endpoint, and the `pages` beside it (the status page): prometheus-client's
    WSGI app in the standard library's WSGI server, a thread per request, in a thread of its own."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        listen: str,
        pages: Mapping[str, WSGIApplication] | None = None,
    ) -> None:
        host, port = split_host_port(listen)
        app = _routes(make_wsgi_app(scrape_registry(metrics)), pages or {})
        # The address family the host needs (an IPv6 host cannot bind an AF_INET socket).
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]

        class Server(ThreadingWSGIServer):
            address_family = family

        self._server = make_server(str(address[0]), port, app, Server, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-server", daemon=True)
        self._thread.start()
        self.port: int = self._server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
