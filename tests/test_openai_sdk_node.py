"""The official `openai` npm package judges the OpenAI door from Node: tests/sdk/node/check.mjs runs
one scenario against a live gateway in front of a provider's simulator, which this side scripts
(tests/openai_door.py `scripted`). The package comes from tests/sdk/node/package-lock.json
(`npm ci`, a prerequisite of `make pytest`)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmgateway.auth.keys import new_key
from tests.conformance.harness import EMBEDDING_MODEL, MODEL
from tests.conftest import StartGateway
from tests.openai_door import door_url, provider_config, scripted, simulator
from tests.upstreams.base import SimulatorServer

NODE_DIR = Path(__file__).resolve().parent / "sdk" / "node"


async def run_check(scenario: str, base_url: str, api_key: str = "unused") -> dict[str, Any]:
    """Run one scenario in Node; its JSON result (the test fails on any failed assertion there)."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the npm SDK's tests"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `make pytest` (npm ci in tests/sdk/node)"
    process = await asyncio.create_subprocess_exec(
        node,
        "check.mjs",
        scenario,
        cwd=NODE_DIR,
        env={
            **os.environ,
            "GATEWAY_URL": base_url,
            "MODEL": MODEL,
            "EMBEDDING_MODEL": EMBEDDING_MODEL,
            "API_KEY": api_key,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=45)
    assert process.returncode == 0, f"{scenario}: {err.decode()[-3000:]}"
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert result["ok"] is True and result["scenario"] == scenario
    return result["result"]  # type: ignore[no-any-return]


async def check_against(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    provider: str,
    scenario: str,
    **config: Any,
) -> tuple[dict[str, Any], SimulatorServer]:
    sim = simulator(provider_simulators, provider)
    gateway = await start_gateway(provider_config(provider, sim.base_url) | config)
    scripted(sim, scenario, provider)
    return await run_check(scenario, door_url(gateway)), sim


@pytest.mark.parametrize("provider", ["bedrock", "gemini", "anthropic"])
@pytest.mark.parametrize("scenario", ["chat", "tools", "json"])
async def test_the_npm_sdk_in_front_of_each_provider(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str, scenario: str
) -> None:
    result, _ = await check_against(start_gateway, provider_simulators, provider, scenario)
    if scenario == "chat":
        assert result["usage"]["completion_tokens"] > 0
    elif scenario == "tools":
        assert len(set(result["ids"])) == 2


@pytest.mark.parametrize(
    ("scenario", "code"),
    [("rate_limit", "upstream_rate_limited"), ("not_found", "model_not_found"), ("mid_stream", None)],
)
async def test_the_npm_sdk_raises_its_own_errors(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    scenario: str,
    code: str | None,
) -> None:
    result, _ = await check_against(start_gateway, provider_simulators, "ollama", scenario)
    if code is not None:
        assert result["code"] == code
    else:
        assert result["text"] == "one two"


async def test_the_npm_sdk_authentication_error(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer]
) -> None:
    _, key_id, key_hash = new_key()
    auth = {"enabled": True, "keys": [{"id": key_id, "hash": key_hash, "tenant": "t"}]}
    sim = simulator(provider_simulators, "openai")
    gateway = await start_gateway(provider_config("openai", sim.base_url) | {"auth": auth})
    assert (await run_check("auth", door_url(gateway), api_key="sk-not-a-gateway-key"))[
        "code"
    ] == "invalid_api_key"


async def test_an_npm_client_that_stops_reading_closes_the_upstream_call(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer]
) -> None:
    result, sim = await check_against(start_gateway, provider_simulators, "azure_openai", "cancel")
    assert result["text"]
    await sim.wait_for_disconnects(1)
