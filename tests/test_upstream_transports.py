"""The transport seam (providers/http/transport.py) and its two implementations: bytes sent as built,
bodies streamed and never lost, connections reused or closed as they should be, and each library's
failures reported as the gateway's reasons, alike for both transports."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.http.aiohttp_connector import QuietResumeHandler
from llmgateway.providers.http.aiohttp_transport import AiohttpTransport, client_timeout
from llmgateway.providers.http.client import UpstreamClient
from llmgateway.providers.http.httpx_transport import HttpxTransport
from llmgateway.providers.http.transport import Timeouts, Transport, UpstreamRequest, UpstreamResponse
from tests.raw_http import RawTcpServer, listening, read_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUTS = Timeouts(connect=2.0, pool=2.0, read=2.0, write=2.0)


class RawServer(RawTcpServer):
    """A TCP server whose handler writes whatever bytes a test wants; it records request heads."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head, body = await read_request(reader)
        self.heads.append(head)
        return body


StartServer = Callable[[Handler], Awaitable[RawServer]]


@pytest.fixture
async def raw_server() -> AsyncIterator[StartServer]:
    async with listening() as listen:

        async def start(handler: Handler) -> RawServer:
            made = RawServer(handler)
            await listen(made)
            return made

        yield start


def make_transport(kind: str) -> Transport:
    if kind == "aiohttp":
        return AiohttpTransport("p", max_connections=4, keepalive_expiry_s=30)
    return HttpxTransport("p", max_connections=4, keepalive_expiry_s=30)


@pytest.fixture(params=["aiohttp", "httpx"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    made = make_transport(request.param)
    yield made
    await made.aclose()


@pytest.fixture
async def aiohttp_transport() -> AsyncIterator[Transport]:
    made = make_transport("aiohttp")
    yield made
    await made.aclose()


def post(
    url: str,
    body: bytes = b"{}",
    headers: list[tuple[str, str]] | None = None,
    *,
    streamed: bool = False,
    timeouts: Timeouts = TIMEOUTS,
) -> UpstreamRequest:
    return UpstreamRequest("POST", url, headers or [], body, timeouts, streamed=streamed)


async def read_all(response: UpstreamResponse) -> bytes:
    try:
        return b"".join([chunk async for chunk in response.body()])
    finally:
        await response.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, as a crashed or killed upstream does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_bytes_received_before_a_reset_are_delivered(
    raw_server: StartServer, aiohttp_transport: Transport
) -> None:
    first_relayed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD + _chunk(b"data: one\n\n"))
        await writer.drain()
        await first_relayed.wait()
        # The second event reaches the gateway while it is busy relaying the first; then the
        # upstream dies.
        writer.write(_chunk(b"data: two\n\n"))
        await writer.drain()
        await asyncio.sleep(0.05)
        _reset(writer)

    server = await raw_server(handler)
    received = b""
    response = await aiohttp_transport.send(post(server.url + "/v1/chat/completions", streamed=True))
    try:
        with pytest.raises(GatewayError) as failure:
            async for data in response.body():
                received += data
                if not first_relayed.is_set():
                    first_relayed.set()
                    await asyncio.sleep(0.2)  # a slow caller
    finally:
        await response.close()
    assert received == b"data: one\n\ndata: two\n\n"
    assert failure.value.reason == "UPSTREAM_CONNECTION_LOST"


async def test_url_goes_out_byte_for_byte(raw_server: StartServer, transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()

    server = await raw_server(handler)
    # Bedrock model ids hold ':' that SigV4 signs as %3A: re-quoting would break the signature.
    response = await transport.send(post(server.url + "/model/a.b-v1%3A0/converse?x=1%2F2"))
    assert (response.status, await read_all(response)) == (200, b"{}")
    assert server.heads[0].startswith(b"POST /model/a.b-v1%3A0/converse?x=1%2F2 HTTP/1.1\r\n")


async def test_a_body_read_to_the_end_leaves_the_connection_for_the_next_call(
    raw_server: StartServer, transport: Transport
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await server.read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            await writer.drain()

    server = await raw_server(handler)
    for _ in range(3):
        assert await read_all(await transport.send(post(server.url + "/", b"x"))) == b"hello"
    assert server.connections == 1


@pytest.mark.parametrize("streamed", [True, False])
async def test_closing_a_body_early_closes_its_connection(
    raw_server: StartServer, transport: Transport, streamed: bool
) -> None:
    upstream_saw_eof = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD + _chunk(b"data: one\n\n"))
        await writer.drain()
        if await reader.read(1) == b"":  # the gateway hung up: a provider stops generating here
            upstream_saw_eof.set()

    server = await raw_server(handler)
    response = await transport.send(post(server.url + "/", streamed=streamed))
    async for _ in response.body():
        break
    await response.close()
    await asyncio.wait_for(upstream_saw_eof.wait(), 2)


async def test_a_close_cancelled_half_way_still_closes_the_connection(
    raw_server: StartServer, transport: Transport
) -> None:
    """The caller's task can be cancelled again while it closes a stream (a gRPC deadline lands
    beside the gateway's own timer for it): the connection must still be closed at once, not left
    to the garbage collector while the provider keeps generating."""
    upstream_saw_eof = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD + _chunk(b"data: one\n\n"))
        await writer.drain()
        if await reader.read(1) == b"":
            upstream_saw_eof.set()

    server = await raw_server(handler)
    response = await transport.send(post(server.url + "/", streamed=True))
    body = response.body()
    async for _ in body:
        break
    closing = asyncio.create_task(response.close())
    await asyncio.sleep(0)  # the close has started and waits for something
    closing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await closing
    await asyncio.wait_for(upstream_saw_eof.wait(), 2)
    await body.aclose()


async def test_headers_and_body_are_sent_as_given(raw_server: StartServer, transport: Transport) -> None:
    bodies: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bodies.append(await server.read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    headers = [("x-api-key", "k"), ("content-type", "application/json")]
    await read_all(await transport.send(post(server.url + "/", b'{"a":1}', headers)))
    head = server.heads[0].lower()
    assert b"\r\nx-api-key: k\r\n" in head
    assert b"\r\ncontent-type: application/json\r\n" in head
    assert head.count(b"content-length") == 1
    assert bodies == [b'{"a":1}']


async def test_refused_connection_is_a_connect_failure(transport: Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GatewayError) as failure:
        await transport.send(UpstreamRequest("GET", f"http://127.0.0.1:{port}/", [], b"", TIMEOUTS))
    assert failure.value.reason == "UPSTREAM_CONNECT_FAILED"
    assert failure.value.metadata == {"provider": "p"}


async def test_disconnect_before_any_response_is_a_lost_connection(
    raw_server: StartServer, transport: Transport
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    server = await raw_server(handler)
    with pytest.raises(GatewayError) as failure:
        await transport.send(post(server.url + "/"))
    assert failure.value.reason == "UPSTREAM_CONNECTION_LOST"


async def test_silence_is_a_timeout(raw_server: StartServer, transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await asyncio.sleep(5)

    server = await raw_server(handler)
    with pytest.raises(GatewayError) as failure:
        await transport.send(post(server.url + "/", timeouts=Timeouts(2.0, 2.0, 0.2, 2.0)))
    assert failure.value.reason == "UPSTREAM_TIMEOUT"
    assert failure.value.message.startswith("provider 'p' timed out (")


def test_limits_become_aiohttps_once_per_set_of_values() -> None:
    timeout = client_timeout(Timeouts(connect=5.0, pool=60.0, read=30.0, write=60.0))
    assert (timeout.total, timeout.connect, timeout.sock_connect, timeout.sock_read) == (
        None,
        60.0,
        5.0,
        30.0,
    )
    assert client_timeout(Timeouts(connect=5.0, pool=60.0, read=30.0, write=60.0)) is timeout  # made once
    stream = client_timeout(Timeouts(connect=5.0, pool=None, read=None, write=5.0))
    assert stream.sock_read is None  # a stream's reads are unbounded: pacing bounds its gaps


async def test_garbage_instead_of_http_is_a_lost_connection(
    raw_server: StartServer, transport: Transport
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    with pytest.raises(GatewayError) as failure:
        await transport.send(post(server.url + "/"))
    assert failure.value.reason == "UPSTREAM_CONNECTION_LOST"


async def test_connections_have_nagle_off(raw_server: StartServer, aiohttp_transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD)
        await writer.drain()
        await asyncio.sleep(0.5)

    server = await raw_server(handler)
    response: Any = await aiohttp_transport.send(post(server.url + "/", streamed=True))
    try:
        # Small writes (a request, a streamed event) must not wait for the peer's ACK. The answer's
        # aiohttp response is the transport's own (private to it, public in aiohttp).
        sock = response._response.connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await response.close()


async def test_a_body_is_read_once(raw_server: StartServer, transport: Transport) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        await writer.drain()

    server = await raw_server(handler)
    response = await transport.send(post(server.url + "/"))
    try:
        assert b"".join([chunk async for chunk in response.body()]) == b"hello"
        # A second read is refused, not answered with an empty body.
        with pytest.raises(RuntimeError):
            async for _ in response.body():
                pass
    finally:
        await response.close()


async def test_the_pool_is_sized_and_expired_from_the_provider_settings(raw_server: StartServer) -> None:
    open_now = 0
    most_open = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most_open
        open_now += 1
        most_open = max(most_open, open_now)
        try:
            while True:
                try:
                    await server.read_request(reader)
                except asyncio.IncompleteReadError:
                    return
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        finally:
            open_now -= 1

    server = await raw_server(handler)
    settings = ProviderSettings(
        name="p", type="openai", base_url=server.url, max_connections=2, keepalive_expiry_s=0.2
    )
    http = UpstreamClient(settings, server.url, {})
    try:
        # Six calls at once through a pool of two: never more than two connections.
        await asyncio.gather(*(http.post("/", content=b"{}") for _ in range(6)))
        assert most_open == 2 and server.connections == 2
        # Idle longer than keepalive_expiry_s: the pooled connections are dropped, a new one opens.
        await asyncio.sleep(0.5)
        await http.post("/", content=b"{}")
        assert server.connections == 3
    finally:
        await http.aclose()


async def _answer_once(head: bytes, body: bytes, server_holder: list[RawServer]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server_holder[0].read_request(reader)
        writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    return handler


def _client(server: RawServer) -> UpstreamClient:
    settings = ProviderSettings(name="p", type="openai", base_url=server.url)
    return UpstreamClient(settings, server.url, {})


async def test_the_http1_path_builds_no_httpx_objects(
    raw_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call through aiohttp costs aiohttp's work alone: no httpx request or response is made on
    the way (httpx's machinery was the largest cost of a call before the transport seam)."""
    holder: list[RawServer] = []
    holder.append(await raw_server(await _answer_once(b"HTTP/1.1 200 OK\r\n", b'{"ok": true}', holder)))
    http = _client(holder[0])

    def not_this_way(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an httpx request or response was made on the HTTP/1.1 path")

    monkeypatch.setattr(httpx.Request, "__init__", not_this_way)
    monkeypatch.setattr(httpx.Response, "__init__", not_this_way)
    try:
        answer = await http.post("/", content=b"{}")
        assert (answer.status, answer.body) == (200, b'{"ok": true}')
    finally:
        await http.aclose()


async def test_a_compressed_body_is_decoded(raw_server: StartServer) -> None:
    body = gzip.compress(b'{"ok": true}')
    holder: list[RawServer] = []
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
    holder.append(await raw_server(await _answer_once(head, body, holder)))
    http = _client(holder[0])
    try:
        answer = await http.post("/", content=b"{}")
        assert answer.body == b'{"ok": true}'
    finally:
        await http.aclose()


async def test_a_corrupt_compressed_body_fails_the_call(raw_server: StartServer) -> None:
    holder: list[RawServer] = []
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
    holder.append(await raw_server(await _answer_once(head, b"not gzip at all", holder)))
    http = _client(holder[0])
    try:
        with pytest.raises(GatewayError) as failure:
            await http.post("/", content=b"{}")
        assert failure.value.reason == "UPSTREAM_ERROR"
    finally:
        await http.aclose()


async def test_a_streamed_body_is_read_a_bounded_way_ahead_of_its_reader(
    raw_server: StartServer, aiohttp_transport: Transport
) -> None:
    """However the transport reads a stream's bytes (as they arrive, so a reset loses none of them),
    it goes only so far ahead of a reader that stopped reading: past that the upstream waits, and
    nothing is lost when the reader comes back."""
    total = 64 * 1024 * 1024  # more than loopback's socket buffers hold
    piece = b"x" * 65536
    written = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await server.read_request(reader)
        writer.write(OK_HEAD)
        for _ in range(total // len(piece)):
            writer.write(_chunk(piece))
            await writer.drain()
            written += len(piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    response = await aiohttp_transport.send(post(server.url + "/", streamed=True))
    try:
        body = response.body()
        received = len(await anext(body))
        await asyncio.sleep(0.5)  # the reader is away
        assert written < total // 2, f"the upstream wrote {written} bytes to a reader that stopped"
        async for chunk in body:
            received += len(chunk)
        assert received == total
    finally:
        await response.close()


async def test_reading_a_stream_resumes_the_connection_only_when_it_was_paused(
    raw_server: StartServer, aiohttp_transport: Transport
) -> None:
    """aiohttp_connector.py: the pool's connections use QuietResumeHandler, so a reader keeping up
    with its stream does not resume (and feed the parser nothing) after every chunk, while a reader
    that fell behind still pauses and resumes its upstream (the bounded read-ahead test above)."""
    chunks = 40

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD)
        for number in range(chunks):
            writer.write(_chunk(b"data: %d\n\n" % number))
            await writer.drain()
            await asyncio.sleep(0.005)  # one event per chunk, as a paced upstream sends them
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    response = await aiohttp_transport.send(post(server.url + "/", streamed=True))
    protocol = response._response.connection.protocol  # type: ignore[attr-defined]
    assert type(protocol) is QuietResumeHandler
    feeds_of_nothing = 0
    data_received = protocol.data_received

    def counted(data: bytes) -> None:
        nonlocal feeds_of_nothing
        feeds_of_nothing += not data
        data_received(data)

    protocol.data_received = counted  # type: ignore[method-assign]  # resume_reading calls it; the transport kept its own
    try:
        received = b"".join([chunk async for chunk in response.body()])
    finally:
        await response.close()
    assert received == b"".join(b"data: %d\n\n" % number for number in range(chunks))
    assert feeds_of_nothing == 0
