"""Caps on what an upstream sends back: a unary body (`max_response_bytes`) and one stream event
being assembled (`max_stream_event_bytes`: an SSE event, an NDJSON line, an event-stream frame).

Over a cap the attempt fails with UNAVAILABLE `UPSTREAM_RESPONSE_TOO_LARGE`, the upstream connection
is closed rather than pooled half-read, and no more than the cap (plus a read chunk) is buffered. The
upstreams are small TCP servers on 127.0.0.1 writing exactly the bytes each test wants; the senders
of oversized bodies stop after a bound of their own, so an uncapped gateway fails these tests by
accepting the body instead of exhausting the machine's memory.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import tracemalloc
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import hypothesis
import pytest
from httpx_sse import EventSource
from hypothesis import given
from hypothesis import strategies as st

from llmgateway.app import Gateway
from llmgateway.config import ConfigError, MediaSettings, ProviderSettings, parse_config
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.http.client import UpstreamClient
from llmgateway.providers.http.framing import ndjson_lines, sse_events
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.registry import build_provider
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.raw_http import RawTcpServer, listening, read_request
from tests.rich_status import rich_status
from tests.upstreams.bedrock import event_frame

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


class Upstream(RawTcpServer):
    """A TCP server on 127.0.0.1 that answers each request with the next responder (the last one
    repeats). It counts connections and bytes sent, and notes each connection the gateway closed."""

    def __init__(self, *responders: Respond) -> None:
        self.responders = list(responders)
        self.connections = 0
        self.bytes_sent = 0
        self.hung_up = 0
        self.hang_up = asyncio.Event()

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


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request; False when the client closed the connection instead of sending one."""
    try:
        await read_request(reader)
    except asyncio.IncompleteReadError:
        return False
    return True


StartUpstream = Callable[..., Awaitable[Upstream]]


@pytest.fixture
async def upstream() -> AsyncIterator[StartUpstream]:
    async with listening() as listen:

        async def start(*responders: Respond) -> Upstream:
            made = Upstream(*responders)
            await listen(made)
            return made

        yield start


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
        "max_stream_event_bytes": CAP,
        "timeouts": {"total_s": 10, "first_token_s": 10, "between_tokens_s": 10},
    }
    if provider_type == "bedrock":
        data.update(region="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s" * 40)
    else:
        data["api_key"] = "sk-test-0123456789"
    return ProviderSettings.model_validate({**data, **fields})


@pytest.fixture
async def http() -> AsyncIterator[Callable[[str], UpstreamClient]]:
    made: list[UpstreamClient] = []

    def open_http(base_url: str) -> UpstreamClient:
        made.append(UpstreamClient(settings(base_url), base_url, {}))
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
    upstream: StartUpstream, http: Callable[[str], UpstreamClient]
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
    upstream: StartUpstream, http: Callable[[str], UpstreamClient], chunked: bool
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
    assert response.status == 200
    assert json.loads(response.body)["choices"][0]["message"]["content"] == "ok"
    assert server.connections == 2


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_a_body_of_exactly_the_cap_passes(
    upstream: StartUpstream, http: Callable[[str], UpstreamClient], chunked: bool
) -> None:
    body = sized_completion(CAP)
    assert len(body) == CAP
    server = await upstream(unary(body, chunked=chunked))
    response = await http(server.url).post("/v1/chat/completions", content=b"{}")
    assert response.body == body


async def test_the_cap_counts_decoded_bytes_so_a_compressed_body_cannot_blow_it(
    upstream: StartUpstream, http: Callable[[str], UpstreamClient]
) -> None:
    body = gzip.compress(sized_completion(SENDER_BOUND))
    assert len(body) < CAP  # on the wire the body is well under the cap

    async def respond(exchange: Exchange) -> None:
        await exchange.send(_head("application/json", len(body), "content-encoding: gzip") + body)

    server = await upstream(respond)
    with pytest.raises(GatewayError) as failure:
        await http(server.url).post("/v1/chat/completions", content=b"{}")
    assert_too_large(failure.value)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_a_compression_bomb_is_inflated_a_piece_at_a_time(
    upstream: StartUpstream, http: Callable[[str], UpstreamClient], encoding: str
) -> None:
    """A body of well under 1 MiB on the wire that inflates to 256 MiB: the call fails at the cap, and inflating it never
    holds more than the cap and a piece (httpx's decoder inflated each 64 KiB read whole: ~64 MiB,
    and 227 MB of peak RSS a call was measured)."""
    inflated_size = 256 * MIB
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}[encoding]
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MIB)
    body = b"".join(compressor.compress(zeros) for _ in range(inflated_size // MIB)) + compressor.flush()
    assert len(body) < MIB
    header = "gzip" if encoding == "gzip" else "deflate"

    async def respond(exchange: Exchange) -> None:
        # Chunked, so no Content-Length over the cap gives the game away before a byte is read.
        await exchange.send(_head("application/json", None, f"content-encoding: {header}"))
        for start in range(0, len(body), WRITE_SIZE):
            await exchange.send(_chunk(body[start : start + WRITE_SIZE]))
        await exchange.send(LAST_CHUNK)
        await exchange.until_hung_up()

    server = await upstream(respond)
    tracemalloc.start()
    try:
        async with asyncio.timeout(10):
            with pytest.raises(GatewayError) as failure:
                await http(server.url).post("/v1/chat/completions", content=b"{}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_too_large(failure.value)
    assert peak < CAP + 2 * MIB, f"{peak >> 20} MiB traced while inflating a body capped at {CAP}"


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


# ---- stream events --------------------------------------------------------------------------------


def sse(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def openai_delta(text: str, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return json.dumps(chunk).encode()


def streamed(content_type: str, *pieces: bytes) -> Respond:
    """A chunked stream of `pieces`, each piece sent in writes of at most WRITE_SIZE."""

    async def respond(exchange: Exchange) -> None:
        await exchange.send(_head(content_type))
        for piece in pieces:
            for start in range(0, len(piece), WRITE_SIZE):
                await exchange.send(_chunk(piece[start : start + WRITE_SIZE]))
        await exchange.send(LAST_CHUNK)

    return respond


def giant_event_bytes() -> bytes:
    """One SSE event far over the cap: a valid OpenAI chunk, so only its size is wrong."""
    return sse(openai_delta("y" * SENDER_BOUND))


async def test_an_sse_stream_with_one_giant_event_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    server = await upstream(
        streamed("text/event-stream", sse(openai_delta("hello")), giant_event_bytes(), sse(b"[DONE]"))
    )
    received: list[chat_pb2.ChatStreamResponse] = []
    async with asyncio.timeout(10):
        with pytest.raises(GatewayError) as failure:
            async for message in adapter(server.url).stream(call()):
                received.append(message)
        await server.hang_up.wait()
    assert_too_large(failure.value)
    assert [m.delta.text for m in received] == ["hello"]  # the events before it were relayed
    assert server.bytes_sent < SENDER_BOUND


async def test_an_sse_event_of_many_small_lines_over_the_cap_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    # No line is long; the event they make up is (data lines join with newlines).
    many_lines = b"".join(b"data: " + b"z" * 1000 + b"\n" for _ in range(4 * CAP // 1000)) + b"\n"
    server = await upstream(streamed("text/event-stream", many_lines, sse(b"[DONE]")))
    with pytest.raises(GatewayError) as failure:
        await collect(adapter(server.url))
    assert_too_large(failure.value)


@pytest.mark.parametrize("provider_type", ["openai", "anthropic", "gemini"])
async def test_an_sse_event_over_the_cap_fails_for_every_sse_provider(
    upstream: StartUpstream, adapter: Callable[..., Provider], provider_type: str
) -> None:
    server = await upstream(streamed("text/event-stream", b"event: x\ndata: " + b"q" * (2 * CAP) + b"\n\n"))
    with pytest.raises(GatewayError) as failure:
        await collect(adapter(server.url, provider_type))
    assert_too_large(failure.value)


async def test_sse_events_just_under_the_cap_pass_however_long_the_stream(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    # Each event is as large as allowed; together they are many times the cap. CRLF line endings,
    # and events split across writes, are counted the same.
    frame = b"data: " + openai_delta("") + b"\r\n\r\n"
    text = "w" * (CAP - len(frame))
    event = b"data: " + openai_delta(text) + b"\r\n\r\n"
    assert len(event) == CAP
    server = await upstream(
        streamed("text/event-stream", *[event] * 8, sse(openai_delta("", "stop")), sse(b"[DONE]"))
    )
    messages = await collect(adapter(server.url))
    assert "".join(m.delta.text for m in messages) == text * 8


def ollama_line(text: str, done: bool = False) -> bytes:
    line: dict[str, Any] = {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": text},
        "done": done,
    }
    if done:
        line.update(done_reason="stop", prompt_eval_count=1, eval_count=1)
    return json.dumps(line).encode() + b"\n"


async def test_an_ndjson_stream_with_a_giant_line_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    server = await upstream(
        streamed(
            "application/x-ndjson",
            ollama_line("hello"),
            ollama_line("g" * SENDER_BOUND),
            ollama_line("", done=True),
        )
    )
    received: list[chat_pb2.ChatStreamResponse] = []
    async with asyncio.timeout(10):
        with pytest.raises(GatewayError) as failure:
            async for message in adapter(server.url, "ollama").stream(call()):
                received.append(message)
        await server.hang_up.wait()
    assert_too_large(failure.value)
    assert [m.delta.text for m in received if m.HasField("delta")] == ["hello"]
    assert server.bytes_sent < SENDER_BOUND


async def test_ndjson_lines_just_under_the_cap_pass(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    text = "n" * (CAP - len(ollama_line("")))
    assert len(ollama_line(text)) == CAP
    server = await upstream(
        streamed("application/x-ndjson", *[ollama_line(text)] * 4, ollama_line("", done=True))
    )
    messages = await collect(adapter(server.url, "ollama"))
    assert "".join(m.delta.text for m in messages) == text * 4


def bedrock_frames(text: str) -> list[bytes]:
    return [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
    ]


async def test_an_event_stream_frame_over_the_cap_fails(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    # 1 MiB of payload: within botocore's own 24 MiB frame limit, far over the provider's cap.
    server = await upstream(streamed("application/vnd.amazon.eventstream", *bedrock_frames("b" * MIB)))
    with pytest.raises(GatewayError) as failure:
        await collect(adapter(server.url, "bedrock"))
    assert_too_large(failure.value)


async def test_event_stream_frames_under_the_cap_pass(
    upstream: StartUpstream, adapter: Callable[..., Provider]
) -> None:
    text = "f" * (CAP - 300)
    frames = bedrock_frames(text)
    assert CAP - 400 < len(frames[1]) <= CAP
    # One piece, so the frames are cut at write boundaries that do not match theirs.
    server = await upstream(streamed("application/vnd.amazon.eventstream", b"".join(frames)))
    messages = await collect(adapter(server.url, "bedrock"))
    assert "".join(m.delta.text for m in messages) == text


# ---- the bounded decoders read what the libraries they replace read (httpx-sse, httpx) ---------------------------------


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def cut(body: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted({cut % (len(body) + 1) for cut in cuts}), len(body)]
    return [body[start:end] for start, end in itertools.pairwise(edges) if end > start]


async def body_chunks(body: bytes, cuts: list[int]) -> AsyncGenerator[bytes, None]:
    """`body` as a transport gives it, in the pieces `cuts` makes."""
    for chunk in cut(body, cuts):
        yield chunk


def chunked_response(body: bytes, cuts: list[int], content_type: str) -> httpx.Response:
    """`body` as an httpx response, for the libraries the decoders are compared with."""
    return httpx.Response(200, headers={"content-type": content_type}, stream=Chunks(cut(body, cuts)))


sse_lines = st.lists(
    st.one_of(
        st.builds(lambda v: f"data: {v}", st.text(alphabet="ab é:{}", max_size=12)),
        st.sampled_from(["", "event: delta", ": keep-alive", "id: 7", "retry: 10", "data", "data:x"]),
    ),
    max_size=12,
)


@hypothesis.settings(max_examples=300, deadline=None)
@given(
    lines=sse_lines,
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_sse_events_match_httpx_sse_however_the_bytes_are_cut(
    lines: list[str], endings: list[str], cuts: list[int]
) -> None:
    body = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines)).encode()
    assert_sse_events_match_httpx_sse(body, cuts)


def assert_sse_events_match_httpx_sse(body: bytes, cuts: list[int]) -> None:
    """Our decoder, given `body` in the pieces `cuts` makes, finds the events httpx-sse finds."""

    async def decode() -> tuple[list[Any], list[Any]]:
        ours = [e async for e in sse_events(body_chunks(body, cuts), "p", 1 << 20)]
        theirs = [e async for e in EventSource(chunked_response(body, [], "text/event-stream")).aiter_sse()]
        return ours, theirs

    ours, theirs = asyncio.run(decode())
    assert [(e.event, e.data, e.id, e.retry) for e in ours] == [
        (e.event, e.data, e.id, e.retry) for e in theirs
    ]


sse_events_whole = st.lists(
    st.lists(
        st.one_of(
            st.builds(lambda v: f"data: {v}", st.text(alphabet="ab é:{}", max_size=12)),
            st.builds(lambda v: f"event: {v}", st.text(alphabet="ab:", max_size=6)),
            st.sampled_from(["event:", ": keep-alive", "id: 7", "retry: 10", "data", "data:x", ""]),
        ),
        max_size=4,
    ),
    max_size=8,
)


@hypothesis.settings(max_examples=300, deadline=None)
@given(events=sse_events_whole, per_chunk=st.integers(min_value=1, max_value=3))
def test_sse_events_arriving_whole_match_httpx_sse(events: list[list[str]], per_chunk: int) -> None:
    # Chunks of whole LF-ended events (the usual upstream write) take the decoder's quick path;
    # whatever their lines, the events are the standard's.
    blocks = ["".join(line + "\n" for line in lines) + "\n" for lines in events]
    chunks = ["".join(blocks[i : i + per_chunk]).encode() for i in range(0, len(blocks), per_chunk)]
    assert_sse_events_match_httpx_sse(b"".join(chunks), list(itertools.accumulate(len(c) for c in chunks)))


@pytest.mark.parametrize("named", [False, True])
async def test_whole_sse_events_in_one_chunk_are_capped_exactly(named: bool) -> None:
    # An event's size is its lines with their endings; a chunk of several whole events delivers
    # those before the one over the cap, then fails.
    head = b"event: delta\ndata: " if named else b"data: "
    limit = CAP
    at_cap = head + b"x" * (limit - len(head) - 1) + b"\n\n"  # lines + endings == limit
    over = head + b"y" * (limit - len(head)) + b"\n\n"
    chunk = b"data: first\n\n" + at_cap + over + b"data: never\n\n"
    received: list[Any] = []
    with pytest.raises(GatewayError) as failure:
        async for event in sse_events(body_chunks(chunk, []), "capped", limit):
            received.append(event)
    assert_too_large(failure.value)
    assert [e.data for e in received] == ["first", "x" * (limit - len(head) - 1)]
    assert received[1].event == ("delta" if named else "message")


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet='ab é{}":', max_size=10), max_size=10),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_ndjson_lines_match_httpx_however_the_bytes_are_cut(
    lines: list[str], crlf: bool, final_newline: bool, cuts: list[int]
) -> None:
    ending = "\r\n" if crlf else "\n"
    body = (ending.join(lines) + (ending if final_newline and lines else "")).encode()

    async def decode() -> tuple[list[str], list[str]]:
        ours = [line.decode() async for line in ndjson_lines(body_chunks(body, cuts), "p", 1 << 20)]
        theirs = [line async for line in chunked_response(body, [], "application/x-ndjson").aiter_lines()]
        return ours, theirs

    ours, theirs = asyncio.run(decode())
    assert ours == theirs


# ---- settings -------------------------------------------------------------------------------------


def test_defaults_and_validation() -> None:
    provider = ProviderSettings.model_validate({"name": "p", "type": "echo"})
    assert provider.max_response_bytes == 16 * MIB
    assert provider.max_stream_event_bytes == 4 * MIB
    for field in ("max_response_bytes", "max_stream_event_bytes"):
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
                "max_stream_event_bytes": CAP,
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
        streamed("text/event-stream", giant_event_bytes()),
        streamed("text/event-stream", sse(openai_delta("hi")), giant_event_bytes()),
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

    # A giant event before any content: the cause is the status.
    with pytest.raises(grpc.aio.AioRpcError) as stream_failure:
        async for _ in client.chat.ChatStream(stream_request("gpt", user("hi")), timeout=10):
            pass
    status = rich_status(stream_failure.value)
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_RESPONSE_TOO_LARGE")
    assert "max_stream_event_bytes" in status.message

    # After content: the stream is interrupted, with the cap as its cause.
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        async for message in client.chat.ChatStream(stream_request("gpt", user("hi")), timeout=10):
            received.append(message)
    status = rich_status(cut.value)
    assert status.reason == "STREAM_INTERRUPTED"
    assert status.error_info.metadata["cause"] == "UPSTREAM_RESPONSE_TOO_LARGE"
    assert "".join(m.delta.text for m in received) == "hi"

    assert server.bytes_sent < SENDER_BOUND  # three oversized answers together, less than one whole
    response = await client.chat.Chat(chat_request("gpt", user("hi")), timeout=10)
    assert response.message.parts == [content_pb2.Part(text="still here")]


async def test_an_oversized_answer_moves_to_the_next_deployment_without_a_retry(
    upstream: StartUpstream, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """The deployment that answered too much counts as failing (breaker, failover), but is not asked
    again: it would answer the same."""
    big, fine = await upstream(oversized_unary(chunked=True)), await upstream(unary(completion("ok")))
    config = {
        "providers": [
            {"name": name, "type": "openai", "base_url": server.url, "max_response_bytes": CAP}
            for name, server in (("big", big), ("fine", fine))
        ],
        "models": [
            {
                "name": "gpt",
                "strategy": "cost",  # the cheaper one first, always
                "deployments": [
                    {"provider": "big", "model": "gpt-4o-mini", "input_price_per_mtok": 1},
                    {"provider": "fine", "model": "gpt-4o-mini", "input_price_per_mtok": 2},
                ],
            }
        ],
        "routing": {"retry": {"max_retries": 2, "base_delay_s": 0.01}},
    }
    client = connect(await start_gateway(config))
    call = client.chat.Chat(chat_request("gpt", user("hi")), timeout=10)
    response = await call
    assert response.message.parts == [content_pb2.Part(text="ok")]
    report = dict(await call.trailing_metadata() or ())
    assert (report["x-llmgateway-provider"], report["x-llmgateway-attempts"]) == ("fine", "2")
    assert big.connections == 1, "the oversized deployment was asked again"
