"""The aiohttp-backed httpx transport: bytes sent as built, bodies streamed and never lost, connections
reused or closed as they should be, and aiohttp's failures reported as httpx's own transport would."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from llmgateway.config import ProviderSettings
from llmgateway.providers.aiohttp_transport import AiohttpTransport, body_chunks, client_timeout
from llmgateway.providers.upstream_http import UpstreamHttp
from tests.raw_http import RawTcpServer, listening, read_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer(RawTcpServer):
    """A TCP server whose handler writes whatever bytes a test wants; it records request heads."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.connections = 0
        self.closed_by_client = asyncio.Event()

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


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = AiohttpTransport(max_connections=4, keepalive_expiry_s=30)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(2.0)) as made:
        yield made


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, as a crashed or killed upstream does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_bytes_received_before_a_reset_are_delivered(
    raw_server: StartServer, client: httpx.AsyncClient
) -> None:
    first_relayed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD + _chunk(b"data: one\n\n"))
        await writer.drain()
        await first_relayed.wait()
        # The second event reaches the gateway's buffer while it is busy relaying the first; then
        # the upstream dies.
        writer.write(_chunk(b"data: two\n\n"))
        await writer.drain()
        await asyncio.sleep(0.05)
        _reset(writer)

    server = await raw_server(handler)
    received = b""
    async with client.stream("POST", server.url + "/v1/chat/completions", content=b"{}") as response:
        with pytest.raises(httpx.RemoteProtocolError):
            async for data in response.aiter_bytes():
                received += data
                if not first_relayed.is_set():
                    first_relayed.set()
                    await asyncio.sleep(0.2)  # a slow caller
    assert received == b"data: one\n\ndata: two\n\n"


async def test_url_goes_out_byte_for_byte(raw_server: StartServer, client: httpx.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()

    server = await raw_server(handler)
    # Bedrock model ids hold ':' that SigV4 signs as %3A: re-quoting would break the signature.
    response = await client.post(server.url + "/model/a.b-v1%3A0/converse?x=1%2F2", content=b"{}")
    assert response.status_code == 200
    assert server.heads[0].startswith(b"POST /model/a.b-v1%3A0/converse?x=1%2F2 HTTP/1.1\r\n")


async def test_a_body_read_to_the_end_leaves_the_connection_for_the_next_call(
    raw_server: StartServer, client: httpx.AsyncClient
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
        assert (await client.post(server.url + "/", content=b"x")).text == "hello"
    assert server.connections == 1


async def test_closing_a_stream_early_closes_its_connection(
    raw_server: StartServer, client: httpx.AsyncClient
) -> None:
    upstream_saw_eof = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD + _chunk(b"data: one\n\n"))
        await writer.drain()
        if await reader.read(1) == b"":  # the gateway hung up: a provider stops generating here
            upstream_saw_eof.set()

    server = await raw_server(handler)
    async with client.stream("POST", server.url + "/", content=b"{}") as response:
        async for _ in response.aiter_bytes():
            break
    await asyncio.wait_for(upstream_saw_eof.wait(), 2)


async def test_headers_and_body_are_sent_as_given(raw_server: StartServer, client: httpx.AsyncClient) -> None:
    bodies: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bodies.append(await server.read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    await client.post(
        server.url + "/", content=b'{"a":1}', headers={"x-api-key": "k", "content-type": "application/json"}
    )
    head = server.heads[0].lower()
    assert b"\r\nx-api-key: k\r\n" in head
    assert b"\r\ncontent-type: application/json\r\n" in head
    assert head.count(b"content-length") == 1
    assert bodies == [b'{"a":1}']


async def test_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{port}/")


async def test_disconnect_before_any_response_is_a_protocol_error(
    raw_server: StartServer, client: httpx.AsyncClient
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    server = await raw_server(handler)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(server.url + "/", content=b"{}")


async def test_silence_is_a_read_timeout(raw_server: StartServer) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await asyncio.sleep(5)

    server = await raw_server(handler)
    transport = AiohttpTransport(max_connections=1, keepalive_expiry_s=30)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(server.url + "/", content=b"{}", timeout=httpx.Timeout(0.2))


def test_httpx_timeouts_become_aiohttps_once_per_set_of_values() -> None:
    timeout = client_timeout(60.0, 5.0, 30.0)
    assert (timeout.total, timeout.connect, timeout.sock_connect, timeout.sock_read) == (
        None,
        60.0,
        5.0,
        30.0,
    )
    assert client_timeout(60.0, 5.0, 30.0) is timeout  # made once, not on every call
    assert client_timeout(60.0, 5.0, None).sock_read is None  # a stream's reads are unbounded


async def test_garbage_instead_of_http_is_a_protocol_error(
    raw_server: StartServer, client: httpx.AsyncClient
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(server.url + "/", content=b"{}")


async def test_connections_have_nagle_off(raw_server: StartServer, client: httpx.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK_HEAD)
        await writer.drain()
        await asyncio.sleep(0.5)

    server = await raw_server(handler)
    async with client.stream("POST", server.url + "/", content=b"{}") as response:
        # Small writes (a request, a streamed event) must not wait for the peer's ACK.
        body: Any = response.stream
        connection = body._stream._response.connection  # httpx's wrapper, then ours
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


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
    http = UpstreamHttp(settings, server.url, {})
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


def _http(server: RawServer) -> UpstreamHttp:
    settings = ProviderSettings(name="p", type="openai", base_url=server.url)
    return UpstreamHttp(settings, server.url, {})


async def test_a_plain_body_is_read_straight_from_aiohttp(
    raw_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: list[RawServer] = []
    holder.append(await raw_server(await _answer_once(b"HTTP/1.1 200 OK\r\n", b'{"ok": true}', holder)))

    def not_this_way(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a body with nothing to decode went through httpx's aiter_bytes")

    monkeypatch.setattr(httpx.Response, "aiter_bytes", not_this_way)
    http = _http(holder[0])
    try:
        response = await http.post("/", content=b"{}")
        assert response.content == b'{"ok": true}' and response.json() == {"ok": True}
        assert response.is_stream_consumed and response.is_closed
    finally:
        await http.aclose()


async def test_a_compressed_body_is_still_decoded(raw_server: StartServer) -> None:
    body = gzip.compress(b'{"ok": true}')
    holder: list[RawServer] = []
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
    holder.append(await raw_server(await _answer_once(head, body, holder)))
    http = _http(holder[0])
    try:
        response = await http.post("/", content=b"{}")
        assert response.json() == {"ok": True}
    finally:
        await http.aclose()


async def test_a_body_is_read_once(raw_server: StartServer, client: httpx.AsyncClient) -> None:
    holder: list[RawServer] = []
    holder.append(await raw_server(await _answer_once(b"HTTP/1.1 200 OK\r\n", b"hello", holder)))
    async with client.stream("POST", holder[0].url + "/", content=b"{}") as response:
        chunks = body_chunks(response)
        assert b"".join([chunk async for chunk in chunks]) == b"hello"
        # A second read is refused as httpx refuses it, not answered with an empty body.
        with pytest.raises(httpx.StreamConsumed):
            await response.aread()
