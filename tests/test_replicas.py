"""Several replicas on one Redis: two gateway processes together admit exactly a key's limit, an
answer cached by one is served by the other, and an unreachable Redis fails open or closed."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import Client, chat_request, gateway_config, stream_request, user
from tests.redis_server import RedisServer
from tests.rich_status import rich_status
from tests.test_serve_subprocess import ServerProcess
from tests.upstreams.openai import Behaviour, OpenAISimulator

pytest_plugins = ["tests.redis_fixtures"]

KEY, KEY_ID, KEY_HASH = new_key()
AUTH = (("authorization", f"Bearer {KEY}"),)
RPM = 5


def replica_config(redis_url: str, **store: Any) -> dict[str, Any]:
    return {
        "server": {
            "listen": "127.0.0.1:0",
            "http_listen": None,
            "metrics_listen": None,
            "drain_s": 0,
            "grace_s": 1,
        },
        "auth": {
            "enabled": True,
            "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t", "policy": {"rpm": RPM}}],
        },
        "store": {"backend": "redis", "redis_url": redis_url, **store},
        "cache": {"enabled": True},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
    }


async def test_two_processes_share_limits_and_cache(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(replica_config(redis_url)))
    replicas = [ServerProcess(config), ServerProcess(config)]
    try:
        channels = [grpc.aio.insecure_channel(r.address) for r in replicas]
        stubs = [chat_pb2_grpc.ChatServiceStub(c) for c in channels]

        async def call(i: int) -> str:
            try:
                await stubs[i % 2].Chat(chat_request("echo", user(f"call {i}")), timeout=5, metadata=AUTH)
            except grpc.aio.AioRpcError as error:
                return rich_status(error).reason
            return "OK"

        outcomes = await asyncio.gather(*(call(i) for i in range(4 * RPM)))
        assert outcomes.count("OK") == RPM, "both replicas together admit exactly the limit"
        assert outcomes.count("RATE_LIMITED") == 3 * RPM
        for channel in channels:
            await channel.close()
    finally:
        for replica in replicas:
            replica.stop()


async def test_answer_cached_by_one_replica_is_served_by_the_other(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "gateway.yaml"
    data = replica_config(redis_url)
    data["auth"] = {"enabled": False}
    config.write_text(yaml.safe_dump(data))
    replicas = [ServerProcess(config), ServerProcess(config)]
    try:
        results = []
        for replica in replicas:
            async with grpc.aio.insecure_channel(replica.address) as channel:
                call = chat_pb2_grpc.ChatServiceStub(channel).Chat(
                    chat_request("echo", user("shared answer")), timeout=5
                )
                response = await call
                results.append(
                    (
                        dict(await call.trailing_metadata() or ())["x-llmgateway-cache"],
                        response.message.parts[0].text,
                    )
                )
        assert results == [("miss", "shared answer"), ("hit", "shared answer")]
    finally:
        for replica in replicas:
            replica.stop()


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_outage_fails_open_or_closed_and_recovers(
    private_redis: RedisServer, connect: Callable[[Gateway], Client], fail_open: bool
) -> None:
    gateway = Gateway(gateway_config(replica_config(private_redis.url, fail_open=fail_open)))
    await gateway.start()
    try:
        client = connect(gateway)
        await client.chat.Chat(chat_request("echo", user("before")), timeout=5, metadata=AUTH)
        private_redis.stop()

        async def outcome(text: str) -> tuple[grpc.StatusCode, str]:
            try:
                await client.chat.Chat(chat_request("echo", user(text)), timeout=5, metadata=AUTH)
            except grpc.aio.AioRpcError as error:
                return error.code(), rich_status(error).reason
            return grpc.StatusCode.OK, ""

        # Fail-closed says it is the gateway's store, not the caller's quota.
        expected = (
            (grpc.StatusCode.OK, "") if fail_open else (grpc.StatusCode.UNAVAILABLE, "LIMITS_UNAVAILABLE")
        )
        assert [await outcome("during") for _ in range(3)] == [expected] * 3
        up = gateway.metrics.store_up.labels("limits")
        assert up._value.get() == 0
        private_redis.start()
        async with asyncio.timeout(10):  # calls probe Redis again and find it back
            while await outcome("after") != (grpc.StatusCode.OK, "") or up._value.get() != 1:
                await asyncio.sleep(0.2)
    finally:
        await gateway.shutdown()


async def test_a_killed_replica_frees_its_concurrency_slots_within_a_lease(
    tmp_path: Path, redis_url: str
) -> None:
    """Replica A holds a key's two concurrent slots with slow streams and is SIGKILLed: replica B
    refuses the key (CONCURRENCY_LIMITED) only until A's leases, no longer renewed, run out — within
    one lease (store.concurrency_lease_s: 2 s here; leases were 900 s, never renewed)."""
    with OpenAISimulator(api_key=None) as sim:
        sim.behaviour = Behaviour(inter_token=1.0)
        data = replica_config(redis_url, concurrency_lease_s=2)
        data["auth"]["keys"][0]["policy"] = {"max_concurrent": 2}
        data["server"]["workers"] = 1  # one process each: the SIGKILL takes the holder's calls with it
        data["providers"].append({"name": "slow", "type": "openai", "base_url": sim.base_url})
        data["models"].append({"name": "slow", "deployments": [{"provider": "slow", "model": "gpt-4o-mini"}]})
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump(data))
        holder, other = ServerProcess(config), ServerProcess(config)
        try:
            async with (
                grpc.aio.insecure_channel(holder.address) as to_holder,
                grpc.aio.insecure_channel(other.address) as to_other,
            ):
                slow = chat_pb2_grpc.ChatServiceStub(to_holder)
                streams = [
                    slow.ChatStream(stream_request("slow", user("w " * 30)), timeout=60, metadata=AUTH)
                    for _ in range(2)
                ]
                for stream in streams:
                    assert await stream.read() is not grpc.aio.EOF  # both hold their slot
                await asyncio.sleep(3)  # past one lease: renewals keep the slots taken
                stub = chat_pb2_grpc.ChatServiceStub(to_other)

                async def outcome() -> str:
                    try:
                        await stub.Chat(chat_request("echo", user("hi")), timeout=5, metadata=AUTH)
                    except grpc.aio.AioRpcError as error:
                        return rich_status(error).reason
                    return "OK"

                assert await outcome() == "CONCURRENCY_LIMITED"
                holder.process.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                async with asyncio.timeout(10):
                    while await outcome() != "OK":
                        await asyncio.sleep(0.1)
                freed_after = time.monotonic() - killed
                assert freed_after <= 2.5, f"slots freed {freed_after:.1f}s after the kill"
                for stream in streams:
                    stream.cancel()
        finally:
            holder.process.kill()
            other.stop()
