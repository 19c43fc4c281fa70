"""The listeners (gRPC, HTTP, metrics) and how their connections, drain and processes are run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from llmgateway.config.common import Seconds, Strict, split_host_port


class TLSSettings(Strict):
    """Server TLS; with `client_ca_file` the server also verifies client certificates (mTLS)."""

    # PEM certificate chain of the server.
    cert_file: Path
    # PEM private key of the server.
    key_file: Path
    # PEM CA bundle that client certificates are verified against (mTLS).
    client_ca_file: Path | None = None
    # Refuse clients without a certificate from client_ca_file.
    require_client_cert: bool = False

    @model_validator(mode="after")
    def _mtls_needs_ca(self) -> TLSSettings:
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError("require_client_cert needs client_ca_file")
        return self


class KeepaliveSettings(Strict):
    """HTTP/2 keepalive: how the server pings idle clients and which client pings it accepts."""

    # Ping a client after this long without activity.
    time_s: Seconds = 60.0
    # Close the connection when a ping is not answered within this.
    timeout_s: Seconds = 20.0
    # Clients may ping this often even without calls in flight; faster pings earn a GOAWAY.
    min_client_ping_interval_s: Seconds = 10.0
    # Accept client pings on a connection with no call in flight.
    permit_without_calls: bool = True


class StatusPageSettings(Strict):
    """The status page on the metrics listener (/status, /status.json): deployments, spend per
    tenant, keys against their limits. Behind the admin credential; nothing on it is a secret."""

    # Serve /status and /status.json beside /metrics (needs metrics_listen).
    enabled: bool = False
    # The page reloads itself this often in a browser; 0: never.
    refresh_s: int = Field(default=30, ge=0)


class ServerSettings(Strict):
    """The gRPC and HTTP listeners and their connection management."""

    # The gRPC listener, HOST:PORT (port 0 picks a free one).
    listen: str = "0.0.0.0:50051"
    # The HTTP front doors (OpenAI- and Anthropic-compatible APIs); None or "": no HTTP listener.
    http_listen: str | None = "0.0.0.0:8080"
    # Prometheus /metrics; None or "": no metrics listener.
    metrics_listen: str | None = "0.0.0.0:9464"
    # The status page beside /metrics.
    status_page: StatusPageSettings = StatusPageSettings()
    # Server TLS (and mTLS); None: plaintext, for a mesh sidecar or local use.
    tls: TLSSettings | None = None
    keepalive: KeepaliveSettings = KeepaliveSettings()
    # Connections are recycled so load balancers can rebalance; the grace lets long streams finish.
    max_connection_age_s: Seconds = 1800.0
    # How long a recycled connection's calls may still run after its GOAWAY.
    max_connection_age_grace_s: Seconds = 300.0
    # A connection with no call for this long is closed.
    max_connection_idle_s: Seconds = 900.0
    # At most this many client connections per worker process (more are closed as they arrive),
    # and a connection that has not finished its handshake (TLS, HTTP/2 preface and settings)
    # within handshake_timeout_s is closed: idle or silent sockets cannot pile up.
    max_connections: int = Field(default=10_000, gt=0)
    # See max_connections: the handshake must finish within this.
    handshake_timeout_s: Seconds = 10.0
    # The largest message the server sends (a big unary answer).
    max_send_message_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # SIGTERM: readiness NOT_SERVING, wait drain_s for load balancers to notice, then stop with grace_s.
    drain_s: float = Field(default=5.0, ge=0)
    # See drain_s: how long calls in flight may still finish after the drain.
    grace_s: float = Field(default=30.0, ge=0)
    # How often readiness is re-evaluated from breakers and health probes.
    readiness_interval_s: Seconds = 1.0
    # Worker processes on the listen port; None: one per available core (see worker_count.py).
    workers: int | None = Field(default=None, ge=1)
    # CPython's collector thresholds (generation 0, 1, 2); the stdlib default is (700, 10, 10).
    # Larger ones make collections rarer: see gc_tuning.py.
    gc_thresholds: tuple[int, int, int] = (10_000, 50, 100)
    # uvloop costs less CPU per call than the stdlib loop (bench/RESULTS.md); asyncio for debugging.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    @field_validator("http_listen", "metrics_listen", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        # "" switches a listener off like null does: easier to pass from a flag or a Helm value.
        return None if value == "" else value

    @field_validator("listen", "http_listen", "metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value

    @model_validator(mode="after")
    def _status_page_needs_metrics(self) -> ServerSettings:
        # Refused rather than served nowhere: the page lives on the metrics listener.
        if self.status_page.enabled and self.metrics_listen is None:
            raise ValueError("status_page.enabled needs metrics_listen: the page is served beside /metrics")
        return self
