"""A provider's base URL written as its own SDK writes it (`https://api.openai.com/v1`, Azure's
`…/openai/v1`, Ollama's `…:11434/v1`, Gemini's `…/v1beta`) reaches the same endpoints as the bare
host: before, `OPENAI_BASE_URL=http://host:port/v1` sent every call to `/v1/v1/chat/completions`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llmgateway.app import Gateway
from llmgateway.config import SDK_BASE_URL_SUFFIXES, parse_config
from tests.conformance.harness import HARNESSES, MODEL, simulator_for
from tests.conftest import Client, StartGateway, chat_request, user
from tests.upstreams.base import SimulatorServer

# Each provider type's SDK-style suffix (Gemini's is its API version), and the path its chat
# call must reach on the simulator.
CONVENTIONS = {
    **{kind: suffixes[0] for kind, suffixes in SDK_BASE_URL_SUFFIXES.items()},
    "gemini": "/v1beta",
}


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatorServer]]:
    started: dict[str, SimulatorServer] = {}
    yield started
    for simulator in started.values():
        simulator.stop()


def test_every_type_with_a_convention_has_a_simulator_case() -> None:
    tested = {
        HARNESSES[key].provider_type for key in HARNESSES if HARNESSES[key].provider_type in CONVENTIONS
    }
    assert tested == set(CONVENTIONS), "a provider type's SDK base URL convention has no end-to-end case"


@pytest.mark.parametrize("key", [k for k in HARNESSES if HARNESSES[k].provider_type in CONVENTIONS])
async def test_a_base_url_with_the_sdk_suffix_reaches_the_same_endpoint(
    key: str,
    simulators: dict[str, SimulatorServer],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    harness = HARNESSES[key]
    sim = simulator_for(simulators, harness)
    suffixed = sim.base_url.rstrip("/") + CONVENTIONS[harness.provider_type] + "/"
    client = connect(await start_gateway(harness.config(suffixed)))

    response = await client.chat.Chat(chat_request(MODEL, user("hello")), timeout=5)

    assert response.message.parts, response
    paths = [request.path for request in sim.requests]
    assert paths and not any("/v1/v1/" in path or "/openai/v1/openai/" in path for path in paths), paths


@pytest.mark.parametrize(
    ("kind", "url", "expected"),
    [
        ("openai", "https://api.openai.com/v1", "https://api.openai.com"),
        ("openai", "https://proxy.example/team-a/v1/", "https://proxy.example/team-a"),
        ("openai", "https://api.openai.com", "https://api.openai.com"),
        ("together", "https://api.together.xyz/v1", "https://api.together.xyz"),
        ("vllm", "http://vllm:8000/v1", "http://vllm:8000"),
        ("azure_openai", "https://r.openai.azure.com/openai/v1", "https://r.openai.azure.com"),
        ("anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com"),
        ("ollama", "http://localhost:11434/v1", "http://localhost:11434"),
        ("ollama", "http://localhost:11434/api", "http://localhost:11434"),
        # Bedrock's endpoint has no version segment: a path stays as written.
        (
            "bedrock",
            "https://bedrock-runtime.eu-west-1.amazonaws.com/v1",
            "https://bedrock-runtime.eu-west-1.amazonaws.com/v1",
        ),
    ],
)
def test_the_sdk_suffix_is_taken_off_the_base_url(kind: str, url: str, expected: str) -> None:
    provider = {"name": "p", "type": kind, "base_url": url, "api_key": "k", "region": "eu-west-1"}
    config = parse_config(
        {"providers": [provider], "models": [{"name": "m", "deployments": [{"provider": "p", "model": "x"}]}]}
    )
    assert config.providers[0].base_url == expected


def test_gemini_takes_its_api_version_from_the_base_url_and_refuses_a_contradiction() -> None:
    def parse(**provider: str) -> object:
        return parse_config(
            {
                "providers": [{"name": "g", "type": "gemini", "api_key": "k", **provider}],
                "models": [{"name": "m", "deployments": [{"provider": "g", "model": "x"}]}],
            }
        ).providers[0]

    settings = parse(base_url="https://generativelanguage.googleapis.com/v1")
    assert (settings.base_url, settings.api_version) == ("https://generativelanguage.googleapis.com", "v1")  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="names API version 'v1' but api_version is 'v1beta'"):
        parse(base_url="https://generativelanguage.googleapis.com/v1", api_version="v1beta")
