"""vLLM and Together: the OpenAI wire with their own dialects, and upstream model listing.

The simulator's dialect is checked over plain HTTP; the adapter through a real gateway (chat) or
directly (`list_models`, which the ModelService wires up elsewhere).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from pydantic import SecretStr

from llmgateway.app import Gateway
from llmgateway.config import MediaSettings, ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers import openai_compat
from llmgateway.providers.base import ProviderContext
from llmgateway.providers.media import MediaFetcher
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.test_openai_adapter import chat_fails, collect
from tests.upstreams.openai import DIALECT_MODELS, MODELS, Behaviour, Dialect, OpenAISimulator

KEY = "sk-dialect-key-0123456789abcdef"
VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TOGETHER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
UPSTREAM_MODEL: dict[str, str] = {"openai": "gpt-4o-mini", "vllm": VLLM_MODEL, "together": TOGETHER_MODEL}


@pytest.fixture(scope="module")
def vllm_open() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None, dialect="vllm") as sim:
        yield sim


@pytest.fixture(scope="module")
def vllm_keyed() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY, dialect="vllm") as sim:
        yield sim


@pytest.fixture(scope="module")
def together_sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY, dialect="together") as sim:
        yield sim


@pytest.fixture(scope="module")
def openai_sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY) as sim:
        yield sim


@pytest.fixture
def vllm(vllm_open: OpenAISimulator) -> OpenAISimulator:
    vllm_open.reset()
    return vllm_open


@pytest.fixture
def together(together_sim: OpenAISimulator) -> OpenAISimulator:
    together_sim.reset()
    return together_sim


@pytest.fixture
def keyed_vllm(vllm_keyed: OpenAISimulator) -> OpenAISimulator:
    vllm_keyed.reset()
    return vllm_keyed


@pytest.fixture
def openai(openai_sim: OpenAISimulator) -> OpenAISimulator:
    openai_sim.reset()
    return openai_sim


def config(sim: OpenAISimulator, api_key: str | None = KEY, **provider: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"name": "upstream", "type": sim.dialect, "base_url": sim.base_url, **provider}
    if api_key is not None:
        settings["api_key"] = api_key
    deployment = {"provider": "upstream", "model": UPSTREAM_MODEL[sim.dialect]}
    return {"providers": [settings], "models": [{"name": "m", "deployments": [deployment]}]}


@pytest.fixture
async def gateway(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> Callable[..., Any]:
    async def build(sim: OpenAISimulator, api_key: str | None = KEY, **provider: Any) -> Client:
        return connect(await start_gateway(config(sim, api_key, **provider)))

    return build


def body_of(sim: OpenAISimulator) -> dict[str, Any]:
    body = sim.requests[-1].body
    assert isinstance(body, dict)
    return body


def developer(text: str) -> content_pb2.Message:
    return content_pb2.Message(role=content_pb2.ROLE_DEVELOPER, parts=[content_pb2.Part(text=text)])


SAMPLING = chat_pb2.GenerationConfig(top_k=40, max_output_tokens=30, temperature=0.7)


# --- the simulator's dialects ------------------------------------------------------------------


def post(sim: OpenAISimulator, body: dict[str, Any], key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{sim.base_url}/v1/chat/completions", json=body, headers=headers)


def simple(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("dialect", ["vllm", "together"])
def test_open_model_servers_take_extra_sampling_fields(
    dialect: Dialect, vllm: OpenAISimulator, together: OpenAISimulator
) -> None:
    sim = vllm if dialect == "vllm" else together
    extra = {"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "max_tokens": 2}
    response = post(sim, simple(UPSTREAM_MODEL[dialect], **extra))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["finish_reason"] == "length"
    assert response.json()["model"] == UPSTREAM_MODEL[dialect]


def test_openai_rejects_top_k(openai: OpenAISimulator) -> None:
    response = post(openai, simple("gpt-4o-mini", top_k=40))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Unrecognized request argument supplied: top_k"


@pytest.mark.parametrize("dialect", ["vllm", "together"])
def test_open_model_servers_refuse_the_developer_role(
    dialect: Dialect, vllm: OpenAISimulator, together: OpenAISimulator
) -> None:
    sim = vllm if dialect == "vllm" else together
    body = {"model": UPSTREAM_MODEL[dialect], "messages": [{"role": "developer", "content": "x"}]}
    assert post(sim, body).status_code == 400


def test_vllm_error_shapes(vllm: OpenAISimulator, keyed_vllm: OpenAISimulator) -> None:
    bad = post(vllm, simple(VLLM_MODEL, top_k=-5), key=None)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "BadRequestError" and bad.json()["error"]["code"] == 400
    missing = post(vllm, simple("nope"), key=None)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, 404)
    assert missing.json()["error"]["message"] == "The model `nope` does not exist."
    unauthorized = post(keyed_vllm, simple(VLLM_MODEL), key="wrong")
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"error": "Unauthorized"})


def test_vllm_ignores_and_records_unknown_fields(vllm: OpenAISimulator) -> None:
    assert post(vllm, simple(VLLM_MODEL, frobnicate=True), key=None).status_code == 200
    assert vllm.ignored_fields == ["frobnicate"]


def test_vllm_health_needs_no_key(keyed_vllm: OpenAISimulator) -> None:
    health = httpx.get(f"{keyed_vllm.base_url}/health")
    assert (health.status_code, health.content) == (200, b"")
    assert httpx.get(f"{keyed_vllm.base_url}/v1/models").status_code == 401


def test_together_lists_models_as_a_bare_array(together: OpenAISimulator) -> None:
    listing = httpx.get(f"{together.base_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert isinstance(listing, list)
    assert [m["id"] for m in listing] == list(DIALECT_MODELS["together"])


# --- through the gateway -----------------------------------------------------------------------


async def test_vllm_without_a_key_takes_top_k(vllm: OpenAISimulator, gateway: Callable[..., Any]) -> None:
    client = await gateway(vllm, api_key=None)
    request = chat_request("m", developer("Be brief."), user("hello"), generation_config=SAMPLING)
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: hello"
    assert response.model == VLLM_MODEL
    body = body_of(vllm)
    assert (body["top_k"], body["max_tokens"], body["temperature"]) == (40, 30, 0.7)
    assert "max_completion_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "authorization" not in vllm.requests[-1].headers
    assert vllm.ignored_fields == []


async def test_vllm_stream_with_top_k(vllm: OpenAISimulator, gateway: Callable[..., Any]) -> None:
    client = await gateway(vllm, api_key=None)
    request = stream_request("m", user("one two"), generation_config=SAMPLING)
    messages = await collect(client.chat.ChatStream(request, timeout=5))
    assert "".join(m.delta.text for m in messages) == "You said: one two"
    assert messages[-1].usage.output_tokens == 4
    assert body_of(vllm)["top_k"] == 40


async def test_vllm_with_a_key_sends_it(keyed_vllm: OpenAISimulator, gateway: Callable[..., Any]) -> None:
    client = await gateway(keyed_vllm)
    await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert keyed_vllm.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    wrong = await gateway(keyed_vllm, api_key="wrong-key-0123456789")
    status = await chat_fails(wrong, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")


async def test_vllm_reasoning_content_becomes_reasoning(
    vllm: OpenAISimulator, gateway: Callable[..., Any]
) -> None:
    vllm.reasoning = "Think first."
    client = await gateway(vllm, api_key=None)
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert [p.WhichOneof("kind") for p in response.message.parts] == ["reasoning", "text"]
    assert response.message.parts[0].reasoning.text == "Think first."
    # vLLM's usage has no completion_tokens_details: its reasoning tokens are not reported apart.
    assert response.usage.reasoning_tokens == 0
    assert response.usage.output_tokens == 2 + 3
    messages = await collect(client.chat.ChatStream(stream_request("m", user("hi")), timeout=5))
    assert "".join(m.delta.reasoning for m in messages) == "Think first."
    assert "".join(m.delta.text for m in messages) == "You said: hi"


async def test_together_takes_top_k_and_maps_developer(
    together: OpenAISimulator, gateway: Callable[..., Any]
) -> None:
    client = await gateway(together)
    request = chat_request("m", developer("Be brief."), user("hello"), generation_config=SAMPLING)
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: hello"
    body = body_of(together)
    assert (body["top_k"], body["max_tokens"], body["messages"][0]["role"]) == (40, 30, "system")
    messages = await collect(
        client.chat.ChatStream(stream_request("m", user("a b"), generation_config=SAMPLING), timeout=5)
    )
    assert "".join(m.delta.text for m in messages) == "You said: a b"


async def test_together_reasoning_field(together: OpenAISimulator, gateway: Callable[..., Any]) -> None:
    together.reasoning = "Hmm."
    client = await gateway(together)
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert response.message.parts[0].reasoning.text == "Hmm."


async def test_openai_refuses_top_k_and_keeps_developer(
    openai: OpenAISimulator, gateway: Callable[..., Any]
) -> None:
    client = await gateway(openai)
    status = await chat_fails(client, chat_request("m", user("hi"), generation_config=SAMPLING))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert openai.requests == []
    await client.chat.Chat(chat_request("m", developer("Be brief."), user("hi")), timeout=5)
    assert body_of(openai)["messages"][0]["role"] == "developer"


async def test_flat_vllm_error_envelope_is_read(vllm: OpenAISimulator, gateway: Callable[..., Any]) -> None:
    # vLLM before the nested envelope put the error fields at the top level.
    flat = {"object": "error", "message": "This model's maximum context length is 8192 tokens.",
            "type": "BadRequestError", "param": None, "code": 400}  # fmt: skip
    vllm.behaviour = Behaviour(status=400, error_body=flat)
    client = await gateway(vllm, api_key=None)
    status = await chat_fails(client, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTEXT_LENGTH_EXCEEDED")
    assert "maximum context length is 8192" in status.message
    assert status.error_info.metadata["upstream_code"] == "context_length_exceeded"


async def test_vllm_unknown_model_is_not_found(
    vllm: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    data = config(vllm, api_key=None)
    data["models"][0]["deployments"][0]["model"] = "not-served"
    client = connect(await start_gateway(data))
    status = await chat_fails(client, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND")


# --- list_models -------------------------------------------------------------------------------


@pytest.fixture
async def context() -> AsyncIterator[ProviderContext]:
    fetcher = MediaFetcher(MediaSettings())
    yield ProviderContext(media=fetcher)
    await fetcher.aclose()


async def list_models(
    context: ProviderContext, dialect: str, base_url: str, api_key: str | None = KEY
) -> list[str] | None:
    settings = ProviderSettings(
        name="upstream",
        type=dialect,  # type: ignore[arg-type]  # a Literal at runtime, chosen by the test
        base_url=base_url,
        api_key=SecretStr(api_key) if api_key else None,
    )
    provider = openai_compat.create(settings, context)
    try:
        return await provider.list_models()
    finally:
        await provider.aclose()


async def test_list_models_per_dialect(
    context: ProviderContext, openai: OpenAISimulator, vllm: OpenAISimulator, together: OpenAISimulator
) -> None:
    assert await list_models(context, "openai", openai.base_url) == list(MODELS)
    assert await list_models(context, "vllm", vllm.base_url, api_key=None) == [VLLM_MODEL]
    assert await list_models(context, "together", together.base_url) == list(DIALECT_MODELS["together"])
    assert (together.requests[-1].method, together.requests[-1].path) == ("GET", "/v1/models")
    assert together.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_list_models_errors_map_like_chat_errors(
    context: ProviderContext, openai: OpenAISimulator, keyed_vllm: OpenAISimulator
) -> None:
    with pytest.raises(GatewayError) as refused:
        await list_models(context, "openai", openai.base_url, api_key="sk-wrong-0123456789abcdef")
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
    assert "sk-wrong" not in refused.value.message

    with pytest.raises(GatewayError) as unauthorized:
        await list_models(context, "vllm", keyed_vllm.base_url, api_key=None)
    assert unauthorized.value.reason == "UPSTREAM_AUTH_FAILED"

    with pytest.raises(GatewayError) as unreachable:
        await list_models(context, "openai", "http://127.0.0.1:9")
    assert unreachable.value.reason == "UPSTREAM_CONNECT_FAILED"


@pytest.mark.parametrize(
    "payload", [b"not json", b'{"object": "list"}', b'{"data": [{"object": "model"}]}', b'"models"']
)
async def test_list_models_rejects_malformed_listings(context: ProviderContext, payload: bytes) -> None:
    class Listing(OpenAISimulator):
        async def _models(self, request: Any, exchange: Any, model_id: str) -> Any:
            return await self.send_bytes(
                request, exchange, 200, payload, {"Content-Type": "application/json"}
            )

    with Listing() as sim, pytest.raises(GatewayError) as malformed:
        await list_models(context, "openai", sim.base_url, api_key="sk-sim-test")
    assert malformed.value.reason == "UPSTREAM_MALFORMED_RESPONSE"
