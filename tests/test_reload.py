"""Hot reload: a new config is swapped in atomically, calls in flight finish on the old one, an
invalid file is rejected and the running config stays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.config import GatewayConfig, load_config
from llmgateway.v1 import chat_pb2, models_pb2
from tests.conftest import Client, chat_request, gateway_config, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator


def config_text(base_url: str, provider: str) -> str:
    return yaml.safe_dump(
        {
            "server": {
                "listen": "127.0.0.1:0",
                "http_listen": None,
                "metrics_listen": None,
                "drain_s": 0,
                "grace_s": 1,
            },
            "auth": {"enabled": False},
            "providers": [{"name": provider, "type": "openai", "base_url": base_url}],
            "models": [{"name": "m", "deployments": [{"provider": provider, "model": "gpt-4o-mini"}]}],
        }
    )


async def test_reload_swaps_config_while_streams_finish_on_the_old_one(
    tmp_path: Path, connect: Callable[[Gateway], Client]
) -> None:
    path = tmp_path / "gateway.yaml"
    with OpenAISimulator(api_key=None) as old_sim, OpenAISimulator(api_key=None) as new_sim:
        old_sim.behaviour = Behaviour(inter_token=0.05)
        path.write_text(config_text(old_sim.base_url, "old"))

        def load() -> GatewayConfig:
            return load_config(path, env={})

        retired = asyncio.Event()
        # `serve` re-settles the garbage collector there.
        gateway = Gateway(load(), load=load, on_runtime_retired=retired.set)
        await gateway.start()
        try:
            client = connect(gateway)
            old_runtime = gateway._runtimes.current if gateway._runtimes else None
            stream = client.chat.ChatStream(stream_request("m", user(" ".join(["w"] * 15))), timeout=10)
            first = await stream.read()
            assert isinstance(first, chat_pb2.ChatStreamResponse) and first.provider == "old"

            path.write_text(config_text(new_sim.base_url, "new"))
            assert await gateway.reload()
            response = await client.chat.Chat(chat_request("m", user("after")), timeout=5)
            assert response.provider == "new"
            models = await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
            assert [list(m.providers) for m in models.models] == [["new"]]

            # The stream that started before the reload runs to its end on the old provider.
            rest: list[chat_pb2.ChatStreamResponse] = []
            while (message := await stream.read()) is not grpc.aio.EOF:
                assert isinstance(message, chat_pb2.ChatStreamResponse)
                rest.append(message)
            assert await stream.code() == grpc.StatusCode.OK
            assert rest[-1].HasField("usage")
            chats = [[r for r in sim.requests if r.method == "POST"] for sim in (old_sim, new_sim)]
            assert [len(c) for c in chats] == [1, 1]
            assert old_runtime is not None
            async with asyncio.timeout(5):
                while not old_runtime.closed:
                    await asyncio.sleep(0.01)
                await retired.wait()
        finally:
            await gateway.shutdown()


async def test_invalid_config_is_rejected_and_the_old_one_stays(
    tmp_path: Path, connect: Callable[[Gateway], Client], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "providers: [{name: e, type: echo}]\nmodels: [{name: m, deployments: [{provider: e, model: x}]}]\n"
    )

    def load() -> GatewayConfig:
        return load_config(path, env={})

    gateway = Gateway(
        gateway_config(
            {
                "providers": [{"name": "e", "type": "echo"}],
                "models": [{"name": "m", "deployments": [{"provider": "e", "model": "x"}]}],
            }
        ),
        load=load,
    )
    await gateway.start()
    try:
        client = connect(gateway)
        path.write_text(
            "providers: [{name: e, type: echo}]\nmodels: [{name: m, deployments: [{provider: nope, model: x}]}]\n"
        )
        with caplog.at_level(logging.ERROR, logger="llmgateway.app"):
            assert not await gateway.reload()
        assert "config reload rejected" in caplog.text
        assert "models[0].deployments[0].provider" in caplog.text
        response = await client.chat.Chat(chat_request("m", user("still served")), timeout=5)
        assert response.message.parts[0].text == "still served"
    finally:
        await gateway.shutdown()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("# nothing but a comment\n", "the file is empty"),
        ("providers: [{name: e, type: echo}]\n", "has no models"),
        (
            "auth: {enabled: true}\nproviders: [{name: e, type: echo}]\n"
            "models: [{name: m, deployments: [{provider: e, model: x}]}]\n",
            "has no API keys",
        ),
    ],
)
async def test_a_reload_that_would_refuse_every_call_is_rejected(
    tmp_path: Path,
    connect: Callable[[Gateway], Client],
    caplog: pytest.LogCaptureFixture,
    text: str,
    reason: str,
) -> None:
    """An emptied file, or one with no model or no keys where keys are required, would take the
    gateway down (every call NOT_FOUND or UNAUTHENTICATED, readiness NOT_SERVING): rejected like an
    invalid one, and the running config serves on."""
    key, key_id, key_hash = new_key()
    path = tmp_path / "gateway.yaml"
    running = {
        "auth": {"enabled": True, "keys": [{"id": key_id, "hash": key_hash, "tenant": "t"}]},
        "providers": [{"name": "e", "type": "echo"}],
        "models": [{"name": "m", "deployments": [{"provider": "e", "model": "x"}]}],
    }
    gateway = Gateway(gateway_config(running), load=lambda: load_config(path, env={}))
    await gateway.start()
    try:
        client = connect(gateway)
        path.write_text(text)
        with caplog.at_level(logging.ERROR, logger="llmgateway.app"):
            assert not await gateway.reload()
        assert "config reload rejected" in caplog.text and reason in caplog.text
        metadata = (("authorization", f"Bearer {key}"),)
        response = await client.chat.Chat(
            chat_request("m", user("still served")), timeout=5, metadata=metadata
        )
        assert response.message.parts[0].text == "still served"
    finally:
        await gateway.shutdown()
