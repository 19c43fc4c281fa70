"""Abuse of the gateway's edges: authentication bypass attempts beyond tests/test_auth.py (header
injection, repeated and conflicting credentials, oversized and binary metadata), cross-tenant cache
isolation on the shared Redis store, SSRF end to end through providers that need media bytes, and
request size limits at and beyond the gRPC message limit."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2
from tests.conformance.harness import HARNESSES, tiny_png
from tests.conftest import ECHO_CONFIG, Client, StartGateway, chat_request, stream_request, user
from tests.pki import make_pki
from tests.reliability.conftest import register_secret
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.openai import OpenAISimulator

pytest_plugins = ["tests.redis_fixtures"]

KEY_A, ID_A, HASH_A = new_key()
KEY_B, ID_B, HASH_B = new_key()
KEY_A2, ID_A2, HASH_A2 = new_key()  # a second key of tenant alpha
for _name, _key in (("key A", KEY_A), ("key A2", KEY_A2), ("key B", KEY_B)):
    register_secret(_name, _key.split("-", 2)[2])
PNG = tiny_png()
Metadata = tuple[tuple[str, str | bytes], ...]


def auth_config(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **ECHO_CONFIG,
        "auth": {
            "enabled": True,
            "keys": [
                {"id": ID_A, "hash": HASH_A, "tenant": "alpha"},
                {"id": ID_A2, "hash": HASH_A2, "tenant": "alpha"},
                {"id": ID_B, "hash": HASH_B, "tenant": "beta", "policy": {"models": ["nothing-*"]}},
            ],
        },
        **(extra or {}),
    }


async def fails(call: Any) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return rich_status(failure.value)


# --- authentication ----------------------------------------------------------------------------

SECRET_A = KEY_A.split("-", 2)[2]
SECRET_B = KEY_B.split("-", 2)[2]


@pytest.mark.parametrize(
    "metadata",
    [
        # Header injection: a second credential or header smuggled inside one value.
        (("authorization", f"Bearer {KEY_A} x-api-key: {KEY_A}"),),
        (("authorization", f"Bearer {KEY_A},Bearer {KEY_A}"),),
        (("authorization", f"Bearer {KEY_A};"),),
        (("authorization", f"Bearer {KEY_A}%0d%0ax-api-key:%20{KEY_A}"),),
        (("authorization", f"Bearer%20{KEY_A}"),),
        (("authorization", f"Basic {KEY_A}"),),
        (("authorization", f"Token {KEY_A}"),),
        (("authorization", KEY_A),),  # no scheme
        (("authorization", f"Bearer {KEY_A.replace('-', '_')}"),),
        # Mix and match: one key's id with another key's secret, or halves of two keys.
        (("authorization", f"Bearer llmgw-{ID_A}-{SECRET_B}"),),
        (("authorization", f"Bearer llmgw-{ID_B}-{SECRET_A}"),),
        (("authorization", f"Bearer llmgw-{ID_A}-{SECRET_A[:20]}{SECRET_B[20:]}"),),
        (("authorization", f"Bearer llmgw-{ID_A}-"),),
        (("authorization", f"Bearer llmgw--{SECRET_A}"),),
        (("authorization", f"Bearer llmgw-{ID_A.upper()}-{SECRET_A}"),),
        (("authorization", f"Bearer LLMGW-{ID_A}-{SECRET_A}"),),
        # Very long values: a long key id, a long secret, a long scheme.
        (("authorization", f"Bearer llmgw-{'a' * 4000}-{SECRET_A}"),),
        (("authorization", f"Bearer llmgw-{ID_A}-{SECRET_A * 100}"),),
        (("authorization", f"{'Bearer' * 500} {KEY_A}"),),
    ],
)
async def test_injected_and_mangled_credentials_are_refused(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], metadata: Metadata
) -> None:
    client = connect(await start_gateway(auth_config()))
    status = await fails(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY")
    assert SECRET_A not in status.message and SECRET_B not in status.message


@pytest.mark.parametrize(
    "metadata",
    [
        # The key under a header the gateway does not read, or as binary metadata.
        (("proxy-authorization", f"Bearer {KEY_A}"),),
        (("x-api-key-bin", KEY_A.encode()),),
        (("authorization-bin", f"Bearer {KEY_A}".encode()),),
        (("x-llmgateway-key", KEY_A),),
        (("api-key", KEY_A),),
        (("cookie", f"authorization=Bearer {KEY_A}"),),
    ],
)
async def test_credentials_in_other_headers_are_not_read(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], metadata: Metadata
) -> None:
    client = connect(await start_gateway(auth_config()))
    status = await fails(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, "MISSING_API_KEY")


@pytest.mark.parametrize(
    "metadata",
    [
        # Two credentials that disagree: which one is the caller? Neither: refused, whatever the
        # order, so a proxy that checks one header cannot be walked around with the other.
        (("authorization", f"Bearer {KEY_B}"), ("authorization", f"Bearer {KEY_A}")),
        (("authorization", f"Bearer {KEY_A}"), ("authorization", f"Bearer {KEY_B}")),
        (("authorization", "Bearer junk"), ("authorization", f"Bearer {KEY_A}")),
        (("authorization", f"Bearer {KEY_A}"), ("authorization", "Bearer junk")),
        (("x-api-key", "junk"), ("x-api-key", KEY_A)),
        (("x-api-key", KEY_B), ("authorization", f"Bearer {KEY_A}")),
        (("authorization", f"Bearer {KEY_B}"), ("x-api-key", KEY_A)),
        (("authorization", "Bearer junk"), ("x-api-key", KEY_A)),
    ],
)
async def test_conflicting_credentials_are_refused(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], metadata: Metadata
) -> None:
    client = connect(await start_gateway(auth_config()))
    for call in (
        client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata),
        client.chat.ChatStream(stream_request("echo", user("hi")), timeout=5, metadata=metadata).read(),
    ):
        status = await fails(call)
        assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY")


async def test_the_same_key_twice_is_one_credential(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """Clients that send both headers with the same key (some SDKs do) are not refused."""
    client = connect(await start_gateway(auth_config()))
    for metadata in [
        (("authorization", f"Bearer {KEY_A}"), ("x-api-key", KEY_A)),
        (("authorization", f"Bearer {KEY_A}"), ("authorization", f"bearer {KEY_A}")),
    ]:
        response = await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata)
        assert response.message.parts[0].text == "hi"


async def test_oversized_metadata_is_refused_and_the_server_survives(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(auth_config()))
    for metadata in [
        (("authorization", "Bearer " + "k" * 20_000),),  # beyond gRPC's 8 KiB soft metadata limit
        tuple((f"x-filler-{i}", "v" * 1000) for i in range(40)),
        (("authorization", f"Bearer {KEY_A}"), *((f"x-filler-{i}", "v" * 1000) for i in range(40))),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata)
        assert failure.value.code() in {
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,  # gRPC core refuses the headers before the gateway
            grpc.StatusCode.INTERNAL,  # the same, as some gRPC versions report it (no details)
        }, failure.value
        if failure.value.code() == grpc.StatusCode.INTERNAL:
            # Only gRPC core may say INTERNAL here, never the gateway (which always adds details).
            assert dict(failure.value.trailing_metadata() or ()).get("grpc-status-details-bin") is None
    response = await client.chat.Chat(
        chat_request("echo", user("still here")), timeout=5, metadata=(("x-api-key", KEY_A),)
    )
    assert response.message.parts[0].text == "still here"


# --- the cache across tenants, on Redis ---------------------------------------------------------


async def test_cache_is_never_shared_across_tenants_on_redis(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], redis_url: str
) -> None:
    with OpenAISimulator(api_key="sk-cache-test-0123456789") as sim:
        config = {
            "auth": {
                "enabled": True,
                "keys": [
                    {"id": ID_A, "hash": HASH_A, "tenant": "alpha"},
                    {"id": ID_A2, "hash": HASH_A2, "tenant": "alpha"},
                    {"id": ID_B, "hash": HASH_B, "tenant": "beta"},
                ],
            },
            "store": {"backend": "redis", "redis_url": redis_url},
            "cache": {"enabled": True},
            "providers": [
                {
                    "name": "o",
                    "type": "openai",
                    "base_url": sim.base_url,
                    "api_key": "sk-cache-test-0123456789",
                }
            ],
            "models": [{"name": "m", "deployments": [{"provider": "o", "model": "gpt-4o-mini"}]}],
        }
        # Two gateways on the same Redis: the cache is shared between replicas, not tenants.
        first = connect(await start_gateway(config))
        second = connect(await start_gateway(config))
        prompt = f"private question {ID_A}"

        async def ask(client: Client, key: str) -> tuple[chat_pb2.ChatResponse, str]:
            call = client.chat.Chat(
                chat_request("m", user(prompt)), timeout=5, metadata=(("x-api-key", key),)
            )
            response = await call
            return response, str(dict(await call.trailing_metadata() or ())["x-llmgateway-cache"])

        assert (await ask(first, KEY_A))[1] == "miss"
        assert (await ask(second, KEY_A2))[1] == "hit", "the same tenant shares across keys and replicas"
        assert (await ask(second, KEY_B))[1] == "miss", "another tenant never sees it"
        assert (await ask(first, KEY_B))[1] == "hit"
        generations = [r for r in sim.requests if r.path.endswith("/chat/completions")]
        assert len(generations) == 2


# --- SSRF ---------------------------------------------------------------------------------------


@dataclass
class HttpsImageServer:
    base: str
    ca: Path
    connections: list[int]


@pytest.fixture
async def https_images(tmp_path: Path) -> AsyncIterator[HttpsImageServer]:
    """A minimal https server on loopback that counts every TCP connection it accepts: /cat.png is
    an image, /to-http redirects to plain http."""
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server"], pki["server_key"])
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/cat.png":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n")
                writer.write(b"Content-Length: %d\r\n\r\n" % len(PNG) + PNG)
            else:
                port = writer.get_extra_info("sockname")[1]
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/cat.png\r\n" % port)
                writer.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield HttpsImageServer(f"https://127.0.0.1:{port}", pki["ca"], connections)
    server.close()
    await server.wait_closed()


def image_request(uri: str) -> chat_pb2.ChatRequest:
    media = content_pb2.Part(media=content_pb2.Media(mime_type="image/png", uri=uri))
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text="what is this?"), media]
    )
    return chat_pb2.ChatRequest(model="conf", messages=[message])


BYTES_ONLY = ["ollama", "bedrock", "gemini"]


@pytest.fixture
def bytes_only_sim(request: pytest.FixtureRequest) -> Any:
    harness = HARNESSES[request.param]
    sim = harness.simulator().start()
    yield harness, sim
    sim.stop()


@pytest.mark.parametrize("bytes_only_sim", BYTES_ONLY, indirect=True)
async def test_media_fetching_is_off_by_default_end_to_end(
    bytes_only_sim: Any,
    https_images: HttpsImageServer,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    harness, sim = bytes_only_sim
    client = connect(await start_gateway(harness.config(sim.base_url)))
    status = await fails(client.chat.Chat(image_request(f"{https_images.base}/cat.png"), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert https_images.connections == [] and sim.requests == []


@pytest.mark.parametrize("bytes_only_sim", BYTES_ONLY, indirect=True)
@pytest.mark.parametrize(
    "uri",
    [
        "https://127.0.0.1:{port}/cat.png",  # loopback, though it serves a real image
        "https://localhost:{port}/cat.png",
        "https://[::1]:{port}/cat.png",
        "https://[::ffff:127.0.0.1]:{port}/cat.png",
        "https://0.0.0.0:{port}/cat.png",
        "https://2130706433:{port}/cat.png",  # 127.0.0.1 as one decimal number
        "https://0x7f.0.0.1:{port}/cat.png",
        "https://127.1:{port}/cat.png",
        "http://127.0.0.1:{port}/cat.png",  # not https
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://10.0.0.1/cat.png",
        "https://172.16.0.1/cat.png",
        "https://192.168.1.1/cat.png",
        "https://100.64.0.1/cat.png",  # carrier-grade NAT
        "https://[fd00::1]/cat.png",
        "https://[fe80::1]/cat.png",
        "ftp://127.0.0.1/cat.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "https://user:pass@127.0.0.1:{port}/cat.png",
    ],
)
async def test_ssrf_refused_before_any_connection(
    bytes_only_sim: Any,
    uri: str,
    https_images: HttpsImageServer,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    harness, sim = bytes_only_sim
    config = harness.config(sim.base_url)
    config["media"] = {"fetch_uris": True, "ca_file": str(https_images.ca), "timeout_s": 2}
    client = connect(await start_gateway(config))
    port = https_images.base.rsplit(":", 1)[1]
    status = await fails(client.chat.Chat(image_request(uri.format(port=port)), timeout=5))
    # Schemes other than https are refused by request validation already; the rest by the fetcher.
    reason = "MEDIA_URI_REFUSED" if uri.startswith("https://") else "INVALID_REQUEST"
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason), status.message
    assert https_images.connections == [], "the gateway connected before refusing"
    assert sim.requests == [], "the provider was called"


@pytest.mark.parametrize("bytes_only_sim", ["ollama"], indirect=True)
async def test_redirects_are_checked_again_end_to_end(
    bytes_only_sim: Any,
    https_images: HttpsImageServer,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    """With private addresses allowed (the only way to reach a test server), the fetch works, and a
    redirect to plain http is still refused at that hop."""
    harness, sim = bytes_only_sim
    config = harness.config(sim.base_url)
    config["media"] = {"fetch_uris": True, "allow_private_addresses": True, "ca_file": str(https_images.ca)}
    client = connect(await start_gateway(config))
    response = await client.chat.Chat(image_request(f"{https_images.base}/cat.png"), timeout=5)
    assert response.message.parts
    assert len(sim.requests) == 1
    status = await fails(client.chat.Chat(image_request(f"{https_images.base}/to-http"), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_URI_REFUSED")
    assert len(sim.requests) == 1


# --- request size limits ------------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 3 * 1024 * 1024, 12 * 1024 * 1024])
@pytest.mark.parametrize("stream", [False, True])
async def test_request_size_limit(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], size: int, stream: bool
) -> None:
    gateway = await start_gateway({**ECHO_CONFIG, "limits": {"max_request_bytes": LIMIT}})
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{gateway.port}", options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    try:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        text = "x" * size
        call = (
            stub.ChatStream(stream_request("echo", user(text)), timeout=10).read()
            if stream
            else stub.Chat(chat_request("echo", user(text)), timeout=10)
        )
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        error = failure.value
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Far beyond the limit, gRPC core refuses the message before the gateway sees it.
            assert size > LIMIT + 16 * 1024, error
        else:
            status = rich_status(error)
            assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
        # The server is fine afterwards.
        ok = await stub.Chat(chat_request("echo", user("small")), timeout=5)
        assert ok.message.parts[0].text == "small"
    finally:
        await channel.close()
