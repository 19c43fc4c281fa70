"""Claiming the gateway's ports before it binds them, so that two gateways never share one.

The gRPC and HTTP listeners set SO_REUSEPORT, which lets one gateway's worker processes share a
port. The kernel lets any process of the same user join such a port, though: a second gateway
started on the same address would start cleanly and silently take half of the connections. So
before anything binds, the process that owns the ports (the single process, or the supervisor for
all of its workers) claims each of them:

1. a lock: an abstract unix socket named after the port. Two gateways starting at the same moment
   cannot both hold it; the kernel frees it when the process dies, so no stale lock file is left
   behind. Abstract sockets belong to the network namespace, as ports do (each pod has its own).
2. a probe: a bind of the address *without* SO_REUSEPORT. It fails when any socket holds the port,
   whoever owns it and whatever its options: another gateway, or any other server. SO_REUSEADDR
   lets it pass over connections of an earlier run still in TIME_WAIT, as the real listener does.

The lock is keyed by the port alone, so two gateways on different addresses of one machine with the
same port number are refused too; give them different ports.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field

from llmgateway.config import ServerSettings, split_host_port

_LOCK_NAME = "llmgateway-port-{port}"


class PortUnavailableError(Exception):
    """A listener's port cannot be had; the message is one line naming the port."""


@dataclass
class PortClaims:
    """The locks held for this process's ports; released by `release` or when the process ends."""

    locks: list[socket.socket] = field(default_factory=list)

    def release(self) -> None:
        for lock in self.locks:
            lock.close()
        self.locks.clear()


def _lock(port: int) -> socket.socket | None:
    """The port's lock, or None when another gateway holds it."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind("\0" + _LOCK_NAME.format(port=port))
    except OSError as error:
        lock.close()
        if error.errno == errno.EADDRINUSE:
            return None
        raise
    return lock


def _probe(host: str, port: int) -> None:
    """Bind every address `host` stands for, without SO_REUSEPORT, and let go at once. Raises only
    when the port is taken (EADDRINUSE) or forbidden (EACCES); anything else (an address family the
    host lacks, say) is the real listener's to report, as it was before this check."""
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise


def claim_port(listen: str, what: str, claims: PortClaims) -> None:
    """Claim `listen` (HOST:PORT) for the listener named `what`, adding its lock to `claims`.
    Port 0 (any free port) needs no claim: the kernel picks one nobody holds."""
    host, port = split_host_port(listen)
    if port == 0:
        return
    where = f"{what} listener {listen}"
    lock = _lock(port)
    if lock is None:
        raise PortUnavailableError(f"port {port} ({where}) is already in use by another llmgateway")
    try:
        _probe(host, port)
    except OSError as error:  # taken, forbidden, or a host name that does not resolve
        lock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortUnavailableError(
                f"port {port} ({where}) is already in use by another process"
            ) from None
        raise PortUnavailableError(f"cannot listen on port {port} ({where}): {error.strerror}") from None
    claims.locks.append(lock)


def claim_listeners(server: ServerSettings) -> PortClaims:
    """Claim every port `server` listens on (gRPC, HTTP doors, metrics); all or none."""
    claims = PortClaims()
    listeners = {"gRPC": server.listen, "HTTP": server.http_listen, "metrics": server.metrics_listen}
    ports: dict[int, str] = {}
    try:
        for what, listen in listeners.items():
            if listen is None:
                continue
            port = split_host_port(listen)[1]
            if port and port in ports:
                raise PortUnavailableError(f"port {port} is given to two listeners: {ports[port]} and {what}")
            ports[port] = what
            claim_port(listen, what, claims)
    except PortUnavailableError:
        claims.release()
        raise
    return claims
