"""No secret in anything a run produces: a real gateway process is driven through successes and
every kind of failure, then all it printed, every status it returned and its /metrics are
searched for the gateway keys and the provider keys."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import httpx
import yaml

from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2_grpc, models_pb2, models_pb2_grpc
from tests.conftest import chat_request, stream_request, user
from tests.test_serve_subprocess import ServerProcess
from tests.upstreams.openai import Behaviour, OpenAISimulator

GATEWAY_KEY, KEY_ID, KEY_HASH = new_key()
PROVIDER_KEY = "sk-proj-provider-secret-0123456789abcdef"
WRONG_PROVIDER_KEY = "sk-proj-wrong-secret-fedcba9876543210"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def secrets_in(text: str) -> list[str]:
    found = []
    for name, secret in [
        ("gateway key", GATEWAY_KEY),
        ("gateway key secret", GATEWAY_KEY.split("-", 2)[2]),
        ("provider key", PROVIDER_KEY),
        ("wrong provider key", WRONG_PROVIDER_KEY),
        ("provider key prefix", PROVIDER_KEY[8:24]),
    ]:
        if secret in text:
            found.append(name)
    return found


async def test_no_secret_in_logs_statuses_or_metrics(tmp_path: Path) -> None:
    metrics_port = free_port()
    with OpenAISimulator(api_key=PROVIDER_KEY) as sim:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "server": {
                        "listen": "127.0.0.1:0",
                        "http_listen": "127.0.0.1:0",
                        "metrics_listen": f"127.0.0.1:{metrics_port}",
                        "drain_s": 0,
                    },
                    "observability": {"log_level": "DEBUG"},
                    "auth": {"enabled": True, "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t"}]},
                    "providers": [
                        {
                            "name": "good",
                            "type": "openai",
                            "base_url": sim.base_url,
                            "api_key": "${GOOD_KEY}",
                        },
                        {
                            "name": "bad",
                            "type": "openai",
                            "base_url": sim.base_url,
                            "api_key": WRONG_PROVIDER_KEY,
                        },
                    ],
                    "models": [
                        {"name": "good", "deployments": [{"provider": "good", "model": "gpt-4o-mini"}]},
                        {"name": "bad", "deployments": [{"provider": "bad", "model": "gpt-4o-mini"}]},
                    ],
                    "routing": {"retry": {"max_retries": 0}},
                }
            )
        )
        server = ServerProcess(config, env={"GOOD_KEY": PROVIDER_KEY})
        statuses: list[str] = []
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                chat = chat_pb2_grpc.ChatServiceStub(channel)
                auth = (("authorization", f"Bearer {GATEWAY_KEY}"),)
                await chat.Chat(chat_request("good", user("hi")), timeout=5, metadata=auth)
                async for _ in chat.ChatStream(stream_request("good", user("hi")), timeout=5, metadata=auth):
                    pass
                await models_pb2_grpc.ModelServiceStub(channel).ListModels(
                    models_pb2.ListModelsRequest(), timeout=5, metadata=auth
                )
                sim.enqueue(Behaviour(status=500, error_message=f"upstream echoed {PROVIDER_KEY}"))
                for model, metadata in [
                    ("good", auth),  # the provider's error message quotes its key
                    ("bad", auth),  # the provider refuses the gateway's (wrong) key
                    ("good", (("authorization", f"Bearer {GATEWAY_KEY}x"),)),  # a mangled gateway key
                    ("good", (("x-api-key", GATEWAY_KEY[:-4]),)),
                ]:
                    try:
                        await chat.Chat(chat_request(model, user("hi")), timeout=5, metadata=metadata)
                    except grpc.aio.AioRpcError as error:
                        statuses.append(f"{error.code()} {error.details()} {error.trailing_metadata()}")
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)).text
        finally:
            server.stop()
    output = "".join(server.log)
    assert len(statuses) == 4, statuses
    assert "[REDACTED]" in statuses[0]
    assert "refused the gateway's credentials" in statuses[1]
    assert "llmgateway.access" in output, "the run logged its calls"
    assert secrets_in(output) == [], "a secret in the logs"
    assert secrets_in("\n".join(statuses)) == [], "a secret in a status"
    assert secrets_in(metrics) == [], "a secret in the metrics"
