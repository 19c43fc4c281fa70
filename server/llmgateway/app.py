"""Build and run the gateway's gRPC server: ports, health, reflection, TLS, graceful drain."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from typing import cast

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.sdk.trace import TracerProvider

from llmgateway.admin.v1 import admin_pb2, admin_pb2_grpc
from llmgateway.auth.directory import Directory
from llmgateway.config import ConfigError, GatewayConfig, ServerSettings, TLSSettings
from llmgateway.core.pipeline import Core
from llmgateway.core.runtime import Runtime, RuntimeHolder
from llmgateway.core.shutdown import InFlightCalls
from llmgateway.frontends.grpc.observability import ObservabilityInterceptor
from llmgateway.frontends.grpc.reflection_pool import MethodSymbolPool
from llmgateway.frontends.grpc.servicers import ChatServicer, EmbeddingServicer, ModelServicer
from llmgateway.frontends.grpc.status import ErrorMappingInterceptor
from llmgateway.frontends.grpc.stream_closing import StreamClosingInterceptor
from llmgateway.frontends.http.doors import door_routes
from llmgateway.frontends.http.health import HEALTH_PATHS, health_routes
from llmgateway.frontends.http.server import HttpServer, http_body_limit
from llmgateway.governance.servicer import AdminServicer
from llmgateway.governance.sync import DirectorySync
from llmgateway.ledger.database import create_engine
from llmgateway.ledger.recorder import Ledger
from llmgateway.observability.expected_events import quiet_expected_grpc_errors
from llmgateway.observability.metrics import GatewayMetrics, MetricsServer
from llmgateway.observability.tracing import build_tracer_provider
from llmgateway.process import gc_tuning
from llmgateway.providers import local_count
from llmgateway.resilience.clock import Clock, SystemClock
from llmgateway.resilience.health import HealthMonitor
from llmgateway.status.mount import StatusMount
from llmgateway.store.shared import Store, build_store
from llmgateway.v1 import (
    chat_pb2,
    chat_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
)

_log = logging.getLogger(__name__)

LIVENESS_SERVICE = ""
READINESS_SERVICE: str = chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name
ADMIN_SERVICE: str = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Room above limits.max_request_bytes so an oversized request reaches validation and gets
# INVALID_ARGUMENT with BadRequest; far larger ones are refused by gRPC itself (RESOURCE_EXHAUSTED).
_RECEIVE_HEADROOM_BYTES = 1024 * 1024
# Request metadata accepted, one bound for both of grpc core's limits. Left at its defaults (soft
# 8 KiB, hard 16 KiB), metadata between the two is refused at random, in proportion to its size,
# with a RESOURCE_EXHAUSTED carrying no details: the same request passing or failing by chance.
_MAX_METADATA_BYTES = 16 * 1024


def server_options(server: ServerSettings, max_request_bytes: int) -> list[tuple[str, int]]:
    """gRPC core channel arguments for keepalive, connection age and message sizes."""
    keepalive = server.keepalive
    return [
        ("grpc.keepalive_time_ms", int(keepalive.time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(keepalive.timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", int(keepalive.permit_without_calls)),
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            int(keepalive.min_client_ping_interval_s * 1000),
        ),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.max_connection_age_ms", int(server.max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(server.max_connection_age_grace_s * 1000)),
        ("grpc.max_connection_idle_ms", int(server.max_connection_idle_s * 1000)),
        ("grpc.max_allowed_incoming_connections", server.max_connections),
        ("grpc.server_handshake_timeout_ms", int(server.handshake_timeout_s * 1000)),
        ("grpc.max_receive_message_length", max_request_bytes + _RECEIVE_HEADROOM_BYTES),
        ("grpc.max_send_message_length", server.max_send_message_bytes),
        ("grpc.max_metadata_size", _MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", _MAX_METADATA_BYTES),
        # Worker processes share the port; the kernel spreads connections over them.
        ("grpc.so_reuseport", 1),
    ]


def server_credentials(tls: TLSSettings) -> grpc.ServerCredentials:
    """TLS credentials; with a client CA the server verifies client certificates (mTLS)."""
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
        require_client_auth=tls.require_client_cert,
    )


# How often a worker checks that its supervisor is still there.
_ORPHAN_CHECK_S = 1.0

# How long before the end of the grace period the gateway cuts the calls still running itself:
# enough for their statuses to go out before grpc.aio cancels what is left.
_CUT_MARGIN_S = 0.5


def _takes_the_gateway_down(running: GatewayConfig, new: GatewayConfig) -> str | None:
    """Why a valid config must still not replace the running one on reload: one that would refuse
    every call (a truncated or emptied file, a keys file that failed to render). None: it may."""
    if not new.models:
        return "the new config has no models: every call would fail with NOT_FOUND"
    required = running.auth.enabled and running.auth.keys
    if required and new.auth.enabled and not new.auth.keys:
        return "the new config has no API keys while the running one requires them: every call would fail"
    return None


class Gateway:
    """One gateway server process: start, serve, drain and stop."""

    def __init__(
        self,
        config: GatewayConfig,
        listen: str | None = None,
        *,
        http_listen: str | None = None,
        load: Callable[[], GatewayConfig] | None = None,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        tracer_provider: TracerProvider | None = None,
        metrics: GatewayMetrics | None = None,
        worker: bool = False,
        on_runtime_retired: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.listen = listen or config.server.listen
        # The HTTP doors' listener (None: no HTTP server), like `listen` resolved by a supervisor.
        self.http_listen = http_listen or config.server.http_listen
        self.http_port = 0
        self._http: HttpServer | None = None
        self._core: Core | None = None
        self._ready = False
        # How to read the config again on reload (SIGHUP); None: reload is not possible.
        self._load = load
        self._clock: Clock = clock or SystemClock()
        # Epoch seconds: budget periods and the ledger's call times (a seam: tests move the calendar).
        self._wall = wall
        # Load spreading and jitter, not security: a seedable generator keeps tests deterministic.
        self._rng = rng or random.Random()  # noqa: S311
        self.port = 0
        self._health = health.aio.HealthServicer()
        self._runtimes: RuntimeHolder | None = None
        self._reloading: asyncio.Task[bool] | None = None
        self._monitor: HealthMonitor | None = None
        self._draining = False
        self.metrics = metrics or GatewayMetrics()
        self.tracer_provider = tracer_provider or build_tracer_provider(config.observability.tracing)
        self._tracer = self.tracer_provider.get_tracer("llmgateway")
        self.metrics_server: MetricsServer | None = None
        # A worker of several: the supervisor serves /metrics for all of them.
        self._worker = worker
        self._store: Store | None = None
        self._ledger: Ledger | None = None
        # Keys and tenants made through the AdminService, kept current from the ledger's database.
        self._directory_sync: DirectorySync | None = None
        self._server: grpc.aio.Server | None = None
        self._in_flight = InFlightCalls()
        self._stopping: asyncio.Task[None] | None = None
        # Called after a reload, once the replaced configuration's last call has finished.
        self._on_runtime_retired = on_runtime_retired
        self._status: StatusMount | None = None

    @property
    def address(self) -> str:
        """host:port actually bound (the port resolved when 0 was asked for)."""
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Bind, serve liveness at once, and readiness once providers are built."""
        # Outermost first: streams are closed in their own task; the trace span and gRPC metrics
        # cover everything after and see the final status; errors are mapped to statuses. The call
        # pipeline itself is the core's, which the servicers call.
        quiet_expected_grpc_errors()
        # First: a ledger database on a schema this build does not know stops the start here
        # (SchemaError), before any port is taken.
        if self.config.ledger.active:
            self._ledger = await Ledger.open(self.config.ledger, self.metrics)
            self._directory_sync = DirectorySync(
                create_engine(self.config.ledger), Directory(), self.config.admin.poll_interval_s
            )
            await self._directory_sync.start()
        server = grpc.aio.server(
            interceptors=[
                StreamClosingInterceptor(),
                ObservabilityInterceptor(
                    self.metrics,
                    self._tracer,
                    trace_health_and_reflection=self.config.observability.tracing.trace_health_and_reflection,
                ),
                ErrorMappingInterceptor(),
            ],
            options=server_options(self.config.server, self.config.limits.max_request_bytes),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        await self._health.set(LIVENESS_SERVICE, _SERVING)
        await self._health.set(READINESS_SERVICE, _NOT_SERVING)
        tls = self.config.server.tls
        if tls is None:
            self.port = server.add_insecure_port(self.listen)
        else:
            self.port = server.add_secure_port(self.listen, server_credentials(tls))
        self._server = server

        self._store = build_store(
            self.config,
            self.metrics,
            ledger=self._ledger.spend if self._ledger is not None else None,
            wall=self._wall,
        )
        self._store.budgets.start()
        runtimes = RuntimeHolder(self._new_runtime(self.config), on_retired=self._on_runtime_retired)
        # Loading a tokenizer holds the GIL for seconds: done now, before serving, not in a call.
        local_count.preload(
            u.deployment.settings.model
            for u in runtimes.current.router.upstreams
            if u.deployment.provider.counts_locally
        )
        self._runtimes = runtimes
        self._core = core = Core(
            runtimes,
            self._in_flight,
            self.metrics,
            max_concurrent_calls=self.config.routing.max_concurrent_calls,
            access_log=self.config.observability.access_log,
            ledger=self._ledger,
            wall=self._wall,
        )
        chat_pb2_grpc.add_ChatServiceServicer_to_server(ChatServicer(core), server)
        models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), server)
        embeddings_pb2_grpc.add_EmbeddingServiceServicer_to_server(EmbeddingServicer(core), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(runtimes, self._directory_sync), server
        )
        reflection.enable_server_reflection(
            [
                READINESS_SERVICE,
                models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
                embeddings_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name,
                ADMIN_SERVICE,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
            # Duck-typed: it delegates everything else to the default pool (see reflection_pool).
            pool=cast(descriptor_pool.DescriptorPool, MethodSymbolPool()),
        )
        await server.start()
        await self._start_http()
        if self.config.server.metrics_listen is not None and not self._worker:
            if self.config.server.status_page.enabled:
                self._status = StatusMount(lambda: self.config, self.metrics)
            self.metrics_server = MetricsServer(
                self.metrics,
                self.config.server.metrics_listen,
                self._status.pages if self._status else None,
            )
            _log.info(
                "metrics on http://%s:%d/metrics%s",
                self.config.server.metrics_listen.rsplit(":", 1)[0],
                self.metrics_server.port,
                ", the status page on /status" if self._status else "",
            )
        self._ready = True
        await self._health.set(READINESS_SERVICE, _SERVING)
        self._monitor = HealthMonitor(
            runtimes,
            self._set_ready,
            self.metrics,
            readiness_interval_s=self.config.server.readiness_interval_s,
        )
        self._monitor.start()
        if not self.config.auth.enabled:
            _log.warning(
                "authentication is OFF: anyone who can reach %s can call it (set auth.enabled)", self.address
            )
        scheme = "tls" if tls else "plaintext"
        _log.info("llmgateway listening on %s (%s)", self.address, scheme)

    async def _start_http(self) -> None:
        """The HTTP listener, when configured: health and the HTTP front doors."""
        if self.http_listen is None:
            return
        assert self._core is not None
        self._http = HttpServer(
            [*health_routes(lambda: self._ready), *door_routes(self._core)],
            tracer=self._tracer,
            untraced_paths=()
            if self.config.observability.tracing.trace_health_and_reflection
            else HEALTH_PATHS,
            max_body_bytes=http_body_limit(self.config.limits.max_request_bytes),
        )
        await self._http.start(self.http_listen, grace_s=self.config.server.grace_s)
        self.http_port = self._http.port
        _log.info("HTTP front doors on %s:%d", self.http_listen.rsplit(":", 1)[0], self.http_port)

    async def _set_ready(self, ready: bool) -> None:
        if not self._draining:
            self._ready = ready
            await self._health.set(READINESS_SERVICE, _SERVING if ready else _NOT_SERVING)

    def _new_runtime(self, config: GatewayConfig) -> Runtime:
        assert self._store is not None
        return Runtime(
            config,
            clock=self._clock,
            rng=self._rng,
            store=self._store,
            metrics=self.metrics,
            tracer=self._tracer,
            directory=self._directory_sync.directory if self._directory_sync is not None else None,
        )

    def request_reload(self) -> None:
        """Reload the config in the background (the SIGHUP handler calls this)."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> bool:
        """Read and validate the config again and swap it in atomically: new calls use it, calls in
        flight finish on the old one, whose connections close after its last call. An invalid config
        is rejected with a log line and the running one stays. Listener settings (address, TLS,
        keepalive, message sizes, load-shedding limit) need a restart to change."""
        if self._load is None or self._runtimes is None:
            _log.warning("reload requested, but this gateway has no config source to reload from")
            return False
        try:
            config = self._load()
            refusal = _takes_the_gateway_down(self.config, config)
            if refusal is not None:
                raise ConfigError(refusal)
            runtime = self._new_runtime(config)
        except (ConfigError, ValueError) as error:
            _log.error("config reload rejected; keeping the running config:\n%s", error)
            return False
        if (
            config.server != self.config.server
            or config.routing.max_concurrent_calls != self.config.routing.max_concurrent_calls
            or config.ledger != self.config.ledger
        ):
            _log.warning(
                "config reload: server settings, routing.max_concurrent_calls and the ledger change only "
                "on restart"
            )
        self.config = config
        if self._store is not None:
            self._store.budgets.configure(config.budgets)
        self._runtimes.swap(runtime)
        if self._monitor is not None:
            await self._monitor.restart_probes()
        _log.info("config reloaded: %d providers, %d models", len(config.providers), len(config.models))
        return True

    async def wait(self) -> None:
        """Until the server has stopped."""
        assert self._server is not None, "start() first"
        await self._server.wait_for_termination()
        if self._stopping is not None:
            await self._stopping

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown (signal handlers call this); repeated calls do nothing."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self.shutdown())

    async def _stop_with_grace(self, server: grpc.aio.Server, grace_s: float) -> None:
        """Stop taking calls on every listener and let those in flight finish for `grace_s`; shortly
        before the servers cancel the rest bare, cut them with a status that says why
        (core/shutdown.py)."""
        stopping = asyncio.gather(server.stop(grace_s), *([self._http.stop()] if self._http else []))
        margin = min(_CUT_MARGIN_S, grace_s / 2)
        try:
            await asyncio.wait_for(asyncio.shield(stopping), timeout=grace_s - margin)
        except TimeoutError:
            cut = self._in_flight.cut_all()
            _log.info("grace period over: %d calls cut (UNAVAILABLE SHUTTING_DOWN)", cut)
        await stopping

    async def shutdown(self) -> None:
        """Readiness NOT_SERVING → wait for load balancers to notice → stop with grace → flush the
        ledger → close upstream clients. Liveness stays SERVING until the very end: the process is healthy, only
        leaving."""
        settings = self.config.server
        self._draining = True
        self._ready = False
        if self._monitor is not None:
            await self._monitor.stop()
        await self._health.set(READINESS_SERVICE, _NOT_SERVING)
        _log.info("draining: not ready; stopping in %gs with %gs grace", settings.drain_s, settings.grace_s)
        await asyncio.sleep(settings.drain_s)
        if self._server is not None:
            await self._stop_with_grace(self._server, settings.grace_s)
        if self._store is not None:
            await self._store.budgets.aclose()  # no more reading from the ledger
        if self._ledger is not None:
            # Every call has ended and handed over its record: into the database, or the spool.
            await self._ledger.aclose()
        if self._directory_sync is not None:
            await self._directory_sync.aclose()
        if self._runtimes is not None:
            await self._runtimes.aclose()
        if self._store is not None:
            await self._store.aclose()
        if self.metrics_server is not None:
            self.metrics_server.close()
        if self._status is not None:
            self._status.close()
        self.tracer_provider.shutdown()  # flushes spans still waiting for export
        _log.info("stopped")


async def serve(
    config: GatewayConfig,
    listen: str | None = None,
    load: Callable[[], GatewayConfig] | None = None,
    *,
    http_listen: str | None = None,
    worker: bool = False,
    supervisor: int | None = None,
) -> None:
    """Run a gateway until SIGTERM or SIGINT (graceful shutdown); SIGHUP reloads the config. A
    worker (`supervisor`: its supervisor's pid) also shuts down when that process is gone."""
    gateway = Gateway(
        config,
        listen,
        http_listen=http_listen,
        load=load,
        worker=worker,
        on_runtime_retired=lambda: gc_tuning.settle(gateway.config.server),
    )
    loop = asyncio.get_running_loop()
    actions = {
        signal.SIGTERM: gateway.request_shutdown,
        signal.SIGINT: gateway.request_shutdown,
        signal.SIGHUP: gateway.request_reload,
    }
    # Handled from before the start: a SIGTERM that comes while the gateway starts (a pod stopped as
    # soon as it logged that it listens) must still end in a clean shutdown, not kill the process.
    # What comes during the start is done once the start has finished.
    early: list[Callable[[], None]] = []
    for signum, action in actions.items():
        loop.add_signal_handler(signum, early.append, action)
    await gateway.start()
    for signum, action in actions.items():
        loop.add_signal_handler(signum, action)
    for action in early:
        action()
    gc_tuning.settle(config.server)  # a server process only: tests run many gateways in one
    orphaned = loop.create_task(_shutdown_when_orphaned(gateway, supervisor)) if supervisor else None
    await gateway.wait()
    if orphaned is not None:
        orphaned.cancel()


async def _shutdown_when_orphaned(gateway: Gateway, supervisor: int) -> None:
    """A worker whose supervisor died (SIGKILL, OOM kill) would otherwise go on serving unsupervised,
    holding its port share and renewing its concurrency leases for ever: when the worker is handed
    to another parent, it shuts down as on SIGTERM. Polling the parent id is portable; Linux's
    PR_SET_PDEATHSIG would need ctypes and still a check for a parent that died before it was set.
    The supervisor's pid comes from the supervisor itself, so a death before this task starts counts."""
    while os.getppid() == supervisor:  # noqa: ASYNC110 - no event tells a process its parent died
        await asyncio.sleep(_ORPHAN_CHECK_S)
    _log.warning("the supervisor (pid %d) is gone: shutting down", supervisor)
    gateway.request_shutdown()
