"""Serving from several processes on one port: a supervisor and N workers.

Python runs one core per process, so the gateway scales across cores with worker processes that
all listen on the same address (SO_REUSEPORT: the kernel spreads connections over them). The
supervisor reserves the ports, gRPC and HTTP (resolving port 0 once for everyone), serves /metrics for all of them
(prometheus-client's multi-process mode, each worker writing its samples to a shared directory),
forwards SIGTERM/SIGINT (graceful drain) and SIGHUP (reload) to the workers, and waits for them.
Limits and the cache are shared between workers only through Redis (`store.backend: redis`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from llmgateway.config import GatewayConfig, split_host_port

_log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def reserve_port(listen: str) -> tuple[socket.socket, str]:
    """A socket holding the address (SO_REUSEPORT, not listening: it receives no connections) and
    the address with its port resolved, for every worker to bind with SO_REUSEPORT."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    bound = holder.getsockname()[1]
    return holder, f"[{host}]:{bound}" if family == socket.AF_INET6 else f"{host}:{bound}"


def _worker(
    config_path: str | None,
    listeners: dict[str, str | None],
    log_format: str,
    log_level: str,
    supervisor: int,
) -> None:
    # Imported here: the worker is a fresh interpreter (spawn) that must see PROMETHEUS_MULTIPROC_DIR
    # before prometheus-client is first imported.
    from llmgateway.app import serve  # noqa: PLC0415
    from llmgateway.config.defaults import load_or_default  # noqa: PLC0415
    from llmgateway.observability.logging_setup import configure_logging  # noqa: PLC0415
    from llmgateway.process import event_loop  # noqa: PLC0415

    configure_logging(log_format, log_level)
    path = Path(config_path) if config_path else None

    def load() -> GatewayConfig:
        # The supervisor's flags and resolved ports win over the file, on every reload too.
        return load_or_default(path).with_listeners(**listeners)

    config = load()
    event_loop.run(
        serve(config, load=load, worker=True, supervisor=supervisor),
        config.server.event_loop,
    )


def supervise(
    config: GatewayConfig,
    config_path: Path | None,
    workers: int,
    log_level: str,
    flags: dict[str, str] | None = None,
) -> int:
    """Run `workers` worker processes until they stop; 0 when they all stopped cleanly. `config`
    has the command line's listener `flags` applied already; the workers apply them to the file."""
    holder, address = reserve_port(config.server.listen)
    http_holder, http_address = (None, None)
    if config.server.http_listen is not None:
        http_holder, http_address = reserve_port(config.server.http_listen)
    metrics_dir = tempfile.mkdtemp(prefix="llmgateway-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    metrics_server = None
    status = None
    if config.server.metrics_listen is not None:
        # After the environment variable: the server then aggregates every worker's samples.
        from llmgateway.observability.metrics import GatewayMetrics, MetricsServer  # noqa: PLC0415
        from llmgateway.status.mount import StatusMount  # noqa: PLC0415

        metrics = GatewayMetrics()
        # The supervisor serves the status page too: the workers' metrics from their files, the
        # ledger from its database (the supervisor records nothing itself).
        status = StatusMount(lambda: config, metrics) if config.server.status_page.enabled else None
        metrics_server = MetricsServer(
            metrics, config.server.metrics_listen, status.pages if status else None
        )
        _log.info(
            "metrics for all workers on port %d%s", metrics_server.port, " (and /status)" if status else ""
        )
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = [
        context.Process(
            target=_worker,
            args=(
                str(config_path) if config_path else None,
                {**(flags or {}), "listen": address, "http_listen": http_address},
                config.observability.log_format,
                log_level,
                os.getpid(),
            ),
            name=f"llmgateway-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    _log.info(
        "llmgateway serving with %d workers on %s%s",
        workers,
        address,
        f" (HTTP on {http_address})" if http_address else "",
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        for process in processes:
            process.join()
    finally:
        from prometheus_client import multiprocess  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set

        for process in processes:
            if process.pid is not None:
                multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]  # its live gauges no longer count
        holder.close()
        if http_holder is not None:
            http_holder.close()
        if metrics_server is not None:
            metrics_server.close()
        if status is not None:
            status.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    failed = [p.name for p in processes if p.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        _log.error("workers ended with errors: %s", ", ".join(str(name) for name in failed))
    return 1 if failed else 0
