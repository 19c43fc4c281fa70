"""Small TCP servers on 127.0.0.1 that write exactly the bytes a test wants, for the tests of what
the gateway's HTTP client does with odd, broken or oversized answers (the provider simulators in
tests/upstreams/ only speak well-formed HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class RawTcpServer:
    """A server whose `_serve` answers each connection; `url` is its http:// base once listening."""

    server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request: its head (up to the blank line) and its Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length")), 0)
    return head, await reader.readexactly(length)


@asynccontextmanager
async def listening() -> AsyncIterator[Callable[[RawTcpServer], Awaitable[None]]]:
    """`await listen(server)` starts a server on a free port; every one is closed at the end."""
    started: list[asyncio.Server] = []

    async def listen(made: RawTcpServer) -> None:
        made.server = await asyncio.start_server(made._serve, "127.0.0.1", 0)
        started.append(made.server)

    try:
        yield listen
    finally:
        for server in started:
            server.close()
