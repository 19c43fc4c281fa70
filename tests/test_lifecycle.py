"""Health, reflection, graceful drain and TLS of a real gateway."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llmgateway.app import READINESS_SERVICE, Gateway, server_options
from llmgateway.config import KeepaliveSettings, ServerSettings
from llmgateway.v1 import chat_pb2, chat_pb2_grpc
from tests.conftest import (
    ECHO_CONFIG,
    Client,
    StartGateway,
    chat_request,
    gateway_config,
    stream_request,
    user,
)
from tests.pki import make_pki
from tests.upstreams.openai import Behaviour, OpenAISimulator

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_status(channel: grpc.aio.Channel, service: str) -> int:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs package types only the sync stub
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    status: int = response.status
    return status


async def test_liveness_and_readiness_serving_after_start(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    assert await health_status(client.channel, "") == SERVING
    assert await health_status(client.channel, READINESS_SERVICE) == SERVING
    assert READINESS_SERVICE == "llmgateway.v1.ChatService"


async def test_readiness_follows_real_call_failures_without_health_checks(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """Passive health: with every provider unreachable and no `health_check` configured, the
    failures of real calls open the deployments' breakers, and readiness goes NOT_SERVING within a
    readiness interval of the second failed call (each call tries the deployment three times); it
    comes back once a breaker half-opens. Without traffic nothing can tell: configure health_check."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there: every connection is refused
    gateway = await start_gateway(
        {
            "server": {"readiness_interval_s": 0.1},
            "providers": [{"name": "dead", "type": "openai", "base_url": dead_url}],
            "models": [{"name": "m", "deployments": [{"provider": "dead", "model": "gpt-4o-mini"}]}],
            "routing": {"retry": {"max_retries": 2, "base_delay_s": 0.01}},
        }
    )
    client = connect(gateway)
    assert await health_status(client.channel, READINESS_SERVICE) == SERVING
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    async with asyncio.timeout(2):
        while await health_status(client.channel, READINESS_SERVICE) != NOT_SERVING:
            await asyncio.sleep(0.05)


async def test_readiness_not_serving_until_providers_are_built() -> None:
    gateway = Gateway(gateway_config(ECHO_CONFIG))
    statuses: list[int] = []
    original = gateway._health.set

    async def record(service: str, status: Any) -> None:
        if service == READINESS_SERVICE:
            statuses.append(status)
        await original(service, status)

    gateway._health.set = record  # type: ignore[method-assign]
    await gateway.start()
    try:
        assert statuses == [NOT_SERVING, SERVING]
    finally:
        await gateway.shutdown()


async def test_reflection_lists_the_services(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(client.channel)  # type: ignore[arg-type]

    async def requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:  # type: ignore[misc]
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    responses = [r async for r in stub.ServerReflectionInfo(requests(), timeout=2)]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"llmgateway.v1.ChatService", "llmgateway.v1.ModelService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(
    ("symbol", "file"),
    [
        # A method name is a symbol too: ghz asks for exactly this before its first call.
        ("llmgateway.v1.ChatService.ChatStream", "llmgateway/v1/chat.proto"),
        ("llmgateway.v1.ModelService.ListModels", "llmgateway/v1/models.proto"),
        ("llmgateway.v1.ChatService", "llmgateway/v1/chat.proto"),
        ("llmgateway.v1.Part", "llmgateway/v1/content.proto"),
        ("llmgateway.v1.ChatService.NoSuchMethod", None),
        ("no.such.Service.Method", None),
    ],
)
async def test_reflection_finds_the_file_of_a_symbol(
    symbol: str, file: str | None, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(client.channel)  # type: ignore[arg-type]

    async def requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:  # type: ignore[misc]
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)

    [response] = [r async for r in stub.ServerReflectionInfo(requests(), timeout=2)]
    if file is None:
        assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
        return
    first = descriptor_pb2.FileDescriptorProto.FromString(
        response.file_descriptor_response.file_descriptor_proto[0]
    )
    assert first.name == file


async def test_drain_turns_readiness_off_and_lets_streams_finish(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OpenAISimulator(api_key=None) as sim:
        sim.behaviour = Behaviour(inter_token=0.05)
        gateway = await start_gateway(
            {
                "server": {"drain_s": 0.6, "grace_s": 5},
                "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
                "models": [{"name": "slow", "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}],
            }
        )
        client = connect(gateway)
        stream = client.chat.ChatStream(stream_request("slow", user(" ".join(["word"] * 20))), timeout=10)
        first = await stream.read()
        assert isinstance(first, chat_pb2.ChatStreamResponse)
        stopping = asyncio.create_task(gateway.shutdown())
        await asyncio.sleep(0.2)
        # During the drain the process is alive but not ready, and still answers calls.
        assert await health_status(client.channel, "") == SERVING
        assert await health_status(client.channel, READINESS_SERVICE) == NOT_SERVING
        assert (await client.chat.Chat(chat_request("slow", user("still here")), timeout=5)).message.parts
        # The in-flight stream runs to its end within the grace period.
        rest: list[chat_pb2.ChatStreamResponse] = []
        while (message := await stream.read()) is not grpc.aio.EOF:
            assert isinstance(message, chat_pb2.ChatStreamResponse)
            rest.append(message)
        assert rest[-1].HasField("usage")
        assert "".join(m.delta.text for m in rest).endswith("word")
        await stopping
        assert await stream.code() == grpc.StatusCode.OK
        with pytest.raises(grpc.aio.AioRpcError) as after:
            await client.chat.Chat(chat_request("slow", user("too late")), timeout=2)
        assert after.value.code() == grpc.StatusCode.UNAVAILABLE


def test_server_options_from_config() -> None:
    options = dict(
        server_options(
            ServerSettings(
                keepalive=KeepaliveSettings(min_client_ping_interval_s=10), max_connection_age_s=60
            ),
            1000,
        )
    )
    assert options["grpc.http2.min_recv_ping_interval_without_data_ms"] == 10_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_receive_message_length"] > 1000


def _open_sockets(sockets: list[socket.socket]) -> int:
    """How many of these client sockets the server still holds open (read what it sent first)."""
    still_open = 0
    for sock in sockets:
        try:
            while sock.recv(65536):
                pass
        except BlockingIOError:
            still_open += 1  # nothing more to read, and not closed
        except OSError:
            pass  # reset: closed
    return still_open


async def test_connections_are_capped_and_silent_ones_closed(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """6,000 idle connections, 2,000 of which never sent a byte, were all kept (the silent ones for
    185 s and more): now at most `max_connections` are held per worker, and one that has not
    finished its handshake in `handshake_timeout_s` is closed."""
    gateway = await start_gateway({**ECHO_CONFIG, "server": {"max_connections": 5, "handshake_timeout_s": 1}})
    silent = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(12)]
    for sock in silent:
        sock.setblocking(False)
    try:
        await asyncio.sleep(0.4)
        assert _open_sockets(silent) == 5, "the cap: the rest are closed as they arrive"
        await asyncio.sleep(1.5)
        assert _open_sockets(silent) == 0, "no handshake within a second: closed"
        client = connect(gateway)  # room again for a real client
        response = await client.chat.Chat(chat_request("echo", user("hi")), timeout=5)
        assert response.message.parts[0].text == "hi"
    finally:
        for sock in silent:
            sock.close()


# --- TLS and mTLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _echo_over(channel: grpc.aio.Channel) -> str:
    response = await chat_pb2_grpc.ChatServiceStub(channel).Chat(
        chat_request("echo", user("over tls")), timeout=3
    )
    return response.message.parts[0].text


async def test_tls(start_gateway: StartGateway, pki: dict[str, Path]) -> None:
    tls = {"cert_file": str(pki["server"]), "key_file": str(pki["server_key"])}
    gateway = await start_gateway({**ECHO_CONFIG, "server": {"tls": tls}})
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].read_bytes())
    async with grpc.aio.secure_channel(f"127.0.0.1:{gateway.port}", credentials) as channel:
        assert await _echo_over(channel) == "over tls"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as plain:
        with pytest.raises(grpc.aio.AioRpcError):
            await _echo_over(plain)


async def test_mtls_requires_a_client_certificate(start_gateway: StartGateway, pki: dict[str, Path]) -> None:
    tls = {
        "cert_file": str(pki["server"]),
        "key_file": str(pki["server_key"]),
        "client_ca_file": str(pki["ca"]),
        "require_client_cert": True,
    }
    gateway = await start_gateway({**ECHO_CONFIG, "server": {"tls": tls}})
    target = f"127.0.0.1:{gateway.port}"
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client"].read_bytes(),
    )
    async with grpc.aio.secure_channel(target, with_cert) as channel:
        assert await _echo_over(channel) == "over tls"
    without_cert = grpc.ssl_channel_credentials(root_certificates=pki["ca"].read_bytes())
    async with grpc.aio.secure_channel(target, without_cert) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _echo_over(channel)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
