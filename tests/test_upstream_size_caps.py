"""Caps on what an upstream sends back: a whole body (`max_response_bytes`).

Over a cap the attempt fails with UNAVAILABLE `UPSTREAM_RESPONSE_TOO_LARGE`, the upstream connection
is closed rather than pooled half-read, and no more than the cap (plus a read chunk) is buffered. The
upstreams are small TCP servers on 127.0.0.1 writing exactly the bytes each test wants; the senders
of oversized bodies stop after a bound of their own, so an uncapped gateway fails these tests by
accepting the body instead of exhausting the machine's memory.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.config import ConfigError, MediaSettings, ProviderSettings, parse_config
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.registry import build_provider
from llmgateway.providers.upstream_http import UpstreamHttp
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, user
from tests.rich_status import rich_status

KIB = 1024
MIB = 1024 * KIB
CAP = 64 * KIB
# How much an oversized sender writes at most: far over CAP, small enough for an uncapped gateway to
# swallow whole (and so fail the test by succeeding) without harming the machine.
SENDER_BOUND = 32 * MIB
WRITE_SIZE = 64 * KIB

Respond = Callable[["Exchange"], Awaitable[None]]


class Exchange:
    """One request on an upstream connection: what the responder writes goes through `send`."""

    def __init__(
        self, upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.upstream = upstream
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.upstream.bytes_sent += len(data)

    async def until_hung_up(self) -> None:
        """Wait until the gateway closes the connection (a responder that never finishes)."""
        await self.reader.read()


class Upstream:
    """A TCP server on 127.0.0.1 that answers each request with the next responder (the last one
    repeats). It counts connections and bytes sent, and notes each connection the gateway closed."""

    def __init__(self, *responders: Respond) -> None:
        self.responders = list(responders)
        self.connections = 0
        self.bytes_sent = 0
        self.hung_up = 0
        self.hang_up = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await _read_request(reader):
                responder = self.responders.pop(0) if len(self.responders) > 1 else self.responders[0]
                await responder(Exchange(self, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.hung_up += 1
            self.hang_up.set()
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request; False when the client closed the connection instead of sending one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length")), 0)
    await reader.readexactly(length)
    return True


StartUpstream = Callable[..., Awaitable[Upstream]]


@pytest.fixture
async def upstream() -> AsyncIterator[StartUpstream]:
    started: list[Upstream] = []

    async def start(*responders: Respond) -> Upstream:
        made = Upstream(*responders)
        made.server = await asyncio.start_server(made._serve, "127.0.0.1", 0)
        started.append(made)
        return made

    yield start
    for made in started:
        assert made.server is not None
        made.server.close()


def _head(content_type: str, length: int | None = None, *extra: str, until_close: bool = False) -> bytes:
    """A response head: the body's length, or chunked, or (`until_close`) ending when the connection does."""
    if until_close:
        framing = "connection: close"
    else:
        framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    lines = ["HTTP/1.1 200 OK", f"content-type: {content_type}", framing, *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def completion(text: str) -> bytes:
    """An OpenAI chat completion whose answer is `text`."""
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def sized_completion(size: int) -> bytes:
    """A completion of exactly `size` bytes."""
    frame = completion("")
    return completion("x" * (size - len(frame)))


def unary(body: bytes, *, chunked: bool = False) -> Respond:
    async def respond(exchange: Exchange) -> None:
        if chunked:
            await exchange.send(_head("application/json"))
            for start in range(0, len(body), WRITE_SIZE):
                await exchange.send(_chunk(body[start : start + WRITE_SIZE]))
            await exchange.send(LAST_CHUNK)
        else:
            await exchange.send(_head("application/json", len(body)) + body)

    return respond


def oversized_unary(*, chunked: bool) -> Respond:
    """A JSON body of SENDER_BOUND bytes, sent a write at a time (chunked, or with its length)."""
    return unary(sized_completion(SENDER_BOUND), chunked=chunked)


def settings(base_url: str, provider_type: str = "openai", **fields: Any) -> ProviderSettings:
    data: dict[str, Any] = {
        "name": "capped",
        "type": provider_type,
        "base_url": base_url,
        "max_response_bytes": CAP,
        "timeouts": {"total_s": 10, "first_token_s": 10, "between_tokens_s": 10},
    }
    if provider_type == "bedrock":
        data.update(region="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s" * 40)
    else:
        data["api_key"] = "sk-test-0123456789"
    return ProviderSettings.model_validate({**data, **fields})


@pytest.fixture
async def http() -> AsyncIterator[Callable[[str], UpstreamHttp]]:
    made: list[UpstreamHttp] = []

    def open_http(base_url: str) -> UpstreamHttp:
        made.append(UpstreamHttp(settings(base_url), base_url, {}))
        return made[-1]

    yield open_http
    for client in made:
        await client.aclose()


@pytest.fixture
async def adapter() -> AsyncIterator[Callable[..., Provider]]:
    media = MediaFetcher(MediaSettings())
    made: list[Provider] = []

    def build(base_url: str, provider_type: str = "openai", **fields: Any) -> Provider:
        made.append(build_provider(settings(base_url, provider_type, **fields), ProviderContext(media=media)))
        return made[-1]

    yield build
    for provider in made:
        await provider.aclose()
    await media.aclose()


def call() -> UpstreamCall:
    return UpstreamCall(request=chat_request("m", user("hi")), upstream_model="m", request_id="r-1")


def assert_too_large(error: GatewayError) -> None:
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == "UPSTREAM_RESPONSE_TOO_LARGE"
    assert error.metadata["provider"] == "capped"
    assert error.metadata["limit_bytes"] == str(CAP)


async def collect(provider: Provider) -> list[chat_pb2.ChatStreamResponse]:
    return [message async for message in provider.stream(call())]


# ---- unary bodies ---------------------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_fails_before_the_body_is_read(
    upstream: StartUpstream, http: Callable[[str], UpstreamHttp]
) -> None:
    async def respond(exchange: Exchange) -> None:
        # The head promises 1 GiB; only a few bytes follow, then nothing: reading would hang.
        await exchange.send(_head("application/json", 1024 * MIB) + b'{"id": ')
        await exchange.until_hung_up()

    server = await upstream(respond)
    async with asyncio.timeout(5):
        with pytest.raises(GatewayError) as failure:
            await http(server.url).post("/v1/chat/completions", content=b"{}")
        assert_too_large(failure.value)
        assert "1073741824" in failure.value.message
        await server.hang_up.wait()  # the half-read connection was closed, not pooled


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
async def test_a_body_over_the_cap_fails_closes_the_connection_and_buffers_at_most_the_cap(
    upstream: StartUpstream, http: Callable[[str], UpstreamHttp], chunked: bool
) -> None:
    body = sized_completion(SENDER_BOUND)  # built before memory is traced

    async def until_close(exchange: Exchange) -> None:
        # No length and not chunked: the body is whatever comes until the connection closes.
        await exchange.send(_head("application/json", until_close=True))
        for start in range(0, len(body), WRITE_SIZE):
            await exchange.send(body[start : start + WRITE_SIZE])
        exchange.writer.close()

    server = await upstream(
        oversized_unary(chunked=True) if chunked else until_close, unary(completion("ok"))
    )
    client = http(server.url)
    tracemalloc.start()
    try:
        async with asyncio.timeout(10):
            with pytest.raises(GatewayError) as failure:
                await client.post("/v1/chat/completions", content=b"{}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_too_large(failure.value)
    assert peak < CAP + 2 * MIB, f"{peak} bytes traced while reading a body capped at {CAP}"
    async with asyncio.timeout(5):
        await server.hang_up.wait()
    assert server.bytes_sent < SENDER_BOUND
    # The next call works, on a new connection.
    response = await client.post("/v1/chat/completions", content=b"{}")
    assert response.status_code == 200
    assert json.loads(response.content)["choices"][0]["message"]["content"] == "ok"
    assert server.connections == 2


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_a_body_of_exactly_the_cap_passes(
    upstream: StartUpstream, http: Callable[[str], UpstreamHttp], chunked: bool
) -> None:
    body = sized_completion(CAP)
    assert len(body) == CAP
    server = await upstream(unary(body, chunked=chunked))
    response = await http(server.url).post("/v1/chat/completions", content=b"{}")
    assert response.content == body


async def test_the_cap_counts_decoded_bytes_so_a_compressed_body_cannot_blow_it(
    upstream: StartUpstream, http: Callable[[str], UpstreamHttp]
) -> None:
    body = gzip.compress(sized_completion(SENDER_BOUND))
    assert len(body) < CAP  # on the wire the body is well under the cap

    async def respond(exchange: Exchange) -> None:
        await exchange.send(_head("application/json", len(body), "content-encoding: gzip") + body)

    server = await upstream(respond)
    with pytest.raises(GatewayError) as failure:
        await http(server.url).post("/v1/chat/completions", content=b"{}")
    assert_too_large(failure.value)


async def test_a_model_list_over_the_cap_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    models = {"object": "list", "data": [{"id": f"model-{i:06d}", "object": "model"} for i in range(20000)]}
    body = json.dumps(models).encode()
    assert len(body) > 8 * CAP
    server = await upstream(unary(body, chunked=True))
    with pytest.raises(GatewayError) as failure:
        await adapter(server.url).list_models()
    assert_too_large(failure.value)


async def test_a_stream_answered_with_an_error_body_over_the_cap_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    async def respond(exchange: Exchange) -> None:
        body = json.dumps({"error": {"message": "x" * SENDER_BOUND}}).encode()
        await exchange.send(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n")
        await exchange.send(b"transfer-encoding: chunked\r\n\r\n")
        for start in range(0, len(body), WRITE_SIZE):
            await exchange.send(_chunk(body[start : start + WRITE_SIZE]))
        await exchange.send(LAST_CHUNK)

    server = await upstream(respond)
    with pytest.raises(GatewayError) as failure:
        await collect(adapter(server.url))
    assert_too_large(failure.value)


# ---- settings -------------------------------------------------------------------------------------


def test_defaults_and_validation() -> None:
    provider = ProviderSettings.model_validate({"name": "p", "type": "echo"})
    assert provider.max_response_bytes == 32 * MIB
    for field in ("max_response_bytes",):
        for value in (0, -1):
            with pytest.raises(
                ConfigError, match=rf"providers\[0\]\.{field}: Input should be greater than 0"
            ):
                parse_config({"providers": [{"name": "p", "type": "echo", field: value}]}, env={})


# ---- through the gateway --------------------------------------------------------------------------


def gateway_config(base_url: str) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "capped",
                "type": "openai",
                "base_url": base_url,
                "api_key": "sk-test-0123456789",
                "max_response_bytes": CAP,
            }
        ],
        "models": [{"name": "gpt", "deployments": [{"provider": "capped", "model": "gpt-4o-mini"}]}],
        "routing": {"retry": {"max_retries": 0}},
    }


async def test_the_caller_sees_the_cap_as_a_clear_status_and_the_gateway_stays_healthy(
    upstream: StartUpstream, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    server = await upstream(
        oversized_unary(chunked=True),
        unary(completion("still here")),
    )
    client = connect(await start_gateway(gateway_config(server.url)))

    with pytest.raises(grpc.aio.AioRpcError) as unary_failure:
        await client.chat.Chat(chat_request("gpt", user("hi")), timeout=10)
    status = rich_status(unary_failure.value)
    assert status.code == grpc.StatusCode.UNAVAILABLE
    assert status.reason == "UPSTREAM_RESPONSE_TOO_LARGE"
    assert status.error_info.metadata["provider"] == "capped"
    assert status.error_info.metadata["limit_bytes"] == str(CAP)
    assert "max_response_bytes" in status.message

    assert server.bytes_sent < SENDER_BOUND
    response = await client.chat.Chat(chat_request("gpt", user("hi")), timeout=10)
    assert response.message.parts == [content_pb2.Part(text="still here")]
