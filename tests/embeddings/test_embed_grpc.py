"""EmbeddingService.Embed through real gRPC to a gateway in front of the providers' simulators: every
input's vector in input order across the providers' batch limits, no partial results, the model's
kind enforced, validation, the response cache, a fallback, key limits counting input tokens,
budgets, metrics and spans."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import embeddings_pb2
from tests.conftest import Client, StartGateway, chat_request, gateway_config, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.base import Behaviour
from tests.upstreams.bedrock import BedrockSimulator
from tests.upstreams.embeddings import vector
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.ollama import OllamaSimulator
from tests.upstreams.openai import OpenAISimulator

AWS_ID, AWS_SECRET = "AKIDEMBED", "embed-secret-0123456789"
KEY, KEY_ID, KEY_HASH = new_key()
AUTH = (("authorization", f"Bearer {KEY}"),)
PACKED = embeddings_pb2.EMBEDDING_ENCODING_PACKED_FLOAT32


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Any]]:
    started = {
        "openai": OpenAISimulator(api_key=None).start(),
        "backup": OpenAISimulator(api_key=None).start(),
        "gemini": GeminiSimulator(api_key="g-key").start(),
        "bedrock": BedrockSimulator(AWS_ID, AWS_SECRET, "us-east-1").start(),
        "ollama": OllamaSimulator(api_key=None).start(),
    }
    yield started
    for sim in started.values():
        sim.stop()


@pytest.fixture
def fresh(sims: dict[str, Any]) -> dict[str, Any]:
    for sim in sims.values():
        sim.reset()
    return sims


def config(sims: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Every embedding provider, one embedding model each, and a chat model; no retries."""

    def model(name: str, provider: str, upstream: str, **more: Any) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "embedding",
            "deployments": [{"provider": provider, "model": upstream}],
            **more,
        }

    return {
        "providers": [
            {"name": "oa", "type": "openai", "base_url": sims["openai"].base_url},
            {"name": "backup", "type": "openai", "base_url": sims["backup"].base_url},
            {"name": "gem", "type": "gemini", "base_url": sims["gemini"].base_url, "api_key": "g-key"},
            {
                "name": "aws",
                "type": "bedrock",
                "base_url": sims["bedrock"].base_url,
                "region": "us-east-1",
                "aws_access_key_id": AWS_ID,
                "aws_secret_access_key": AWS_SECRET,
            },
            {"name": "local", "type": "ollama", "base_url": sims["ollama"].base_url},
        ],
        "models": [
            model("small", "oa", "text-embedding-3-small", fallbacks=["small-backup"]),
            model("small-backup", "backup", "text-embedding-3-small"),
            model("ada", "oa", "text-embedding-ada-002"),
            model("gemini-embed", "gem", "gemini-embedding-001"),
            model("titan", "aws", "amazon.titan-embed-text-v2:0"),
            model("cohere", "aws", "cohere.embed-english-v3"),
            model("nomic", "local", "nomic-embed-text"),
            {"name": "chat", "deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]},
        ],
        "routing": {"retry": {"max_retries": 0}},
        **extra,
    }


async def embed(
    client: Client, request: embeddings_pb2.EmbedRequest, **kwargs: Any
) -> embeddings_pb2.EmbedResponse:
    response: embeddings_pb2.EmbedResponse = await client.embeddings.Embed(request, timeout=10, **kwargs)
    return response


async def refused(client: Client, request: embeddings_pb2.EmbedRequest, **kwargs: Any) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.embeddings.Embed(request, timeout=10, **kwargs)
    return rich_status(failure.value)


def texts(count: int) -> list[str]:
    return [f"text number {i}" for i in range(count)]


@pytest.mark.parametrize(
    ("model", "sim", "count", "requests", "dimensions"),
    [
        ("small", "openai", 2050, 2, 8),  # 2048 inputs a request
        ("gemini-embed", "gemini", 205, 3, 8),  # 100 a request
        ("cohere", "bedrock", 200, 3, None),  # 96 a request
        ("titan", "bedrock", 12, 12, 256),  # one a request, fanned out
        ("nomic", "ollama", 600, 2, 8),  # 512 a request
    ],
)
async def test_inputs_over_the_batch_limit_come_back_in_order(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    fresh: dict[str, Any],
    model: str,
    sim: str,
    count: int,
    requests: int,
    dimensions: int | None,
) -> None:
    client = connect(await start_gateway(config(fresh)))
    inputs = texts(count)
    request = embeddings_pb2.EmbedRequest(model=model, inputs=inputs)
    if dimensions is not None:
        request.dimensions = dimensions
    response = await embed(client, request)
    assert len(fresh[sim].requests) == requests
    assert [e.index for e in response.embeddings] == list(range(count))
    size = dimensions or 1024
    for text, embedding in zip(inputs, response.embeddings, strict=True):
        assert list(embedding.values) == vector(text, size)
    assert response.usage.input_tokens >= count
    assert response.usage.total_tokens == response.usage.input_tokens


async def test_packed_float32_is_the_providers_base64_unparsed(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    response = await embed(
        client, embeddings_pb2.EmbedRequest(model="small", inputs=["a b c"], encoding=PACKED)
    )
    assert fresh["openai"].requests[0].body["encoding_format"] == "base64"
    packed = response.embeddings[0].packed_float32
    assert not response.embeddings[0].values
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == vector("a b c", 1536)


async def test_one_failed_batch_fails_the_call(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    gemini = fresh["gemini"]
    gemini.enqueue(Behaviour(), Behaviour(status=500), Behaviour())
    status = await refused(client, embeddings_pb2.EmbedRequest(model="gemini-embed", inputs=texts(250)))
    assert status.code == grpc.StatusCode.UNAVAILABLE
    assert status.reason == "UPSTREAM_UNAVAILABLE"


async def test_the_models_kind_is_enforced_both_ways(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    status = await refused(client, embeddings_pb2.EmbedRequest(model="chat", inputs=["hi"]))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CAPABLE_DEPLOYMENT")
    assert "'chat' is a chat model" in status.message
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("small", user("hi")), timeout=10)
    chat_status = rich_status(failure.value)
    assert chat_status.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "'small' is an embedding model" in chat_status.message
    assert "EmbeddingService.Embed" in chat_status.message
    assert fresh["openai"].requests == []


async def test_bad_requests_are_invalid_argument_with_every_violation(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    status = await refused(
        client, embeddings_pb2.EmbedRequest(model="small", inputs=["ok", " "], dimensions=0)
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in status.detail(error_details_pb2.BadRequest).field_violations}
    assert fields == {"inputs[1]", "dimensions"}
    status = await refused(client, embeddings_pb2.EmbedRequest(model="small"))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert fresh["openai"].requests == []


async def test_a_providers_refusal_is_the_callers_error(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    # ada-002 cannot shorten its vectors: OpenAI answers 400, the caller gets INVALID_ARGUMENT.
    status = await refused(client, embeddings_pb2.EmbedRequest(model="ada", inputs=["hi"], dimensions=8))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST")
    assert "does not support specifying dimensions" in status.message


async def test_a_second_identical_call_is_served_from_the_cache(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh, cache={"enabled": True})))
    request = embeddings_pb2.EmbedRequest(model="small", inputs=["cache me"], dimensions=8)
    first = await embed(client, request)
    call = client.embeddings.Embed(request, timeout=10)
    second = await call
    trailers = dict(await call.trailing_metadata())
    assert trailers["x-llmgateway-cache"] == "hit"
    assert len(fresh["openai"].requests) == 1
    assert list(second.embeddings[0].values) == list(first.embeddings[0].values)
    assert first.usage.cost_usd > 0 and second.usage.cost_usd == 0
    # Another size, encoding or the bypass header goes upstream again.
    await embed(client, embeddings_pb2.EmbedRequest(model="small", inputs=["cache me"], dimensions=4))
    await embed(
        client, embeddings_pb2.EmbedRequest(model="small", inputs=["cache me"], dimensions=8, encoding=PACKED)
    )
    await embed(client, request, metadata=(("x-llmgateway-cache", "bypass"),))
    assert len(fresh["openai"].requests) == 4


async def test_a_failing_deployment_falls_back_to_the_next_model(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    fresh["openai"].behaviour = Behaviour(status=503)
    call = client.embeddings.Embed(embeddings_pb2.EmbedRequest(model="small", inputs=["hello"]), timeout=10)
    response = await call
    trailers = dict(await call.trailing_metadata())
    assert response.provider == "backup"
    assert trailers["x-llmgateway-fallback"] == "small->small-backup"
    assert len(fresh["openai"].requests) == 1 and len(fresh["backup"].requests) == 1


def keyed(sims: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    return config(
        sims,
        auth={"enabled": True, "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t", "policy": policy}]},
        tenants=[{"name": "t"}],
    )


async def test_tpm_counts_the_input_tokens(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(keyed(fresh, {"tpm": 60})))
    # About 25 tokens estimated a call (100 characters), 20 counted by the provider (20 words): the
    # first two fit in 60, the third would not.
    inputs = ["word " * 20]
    for _ in range(2):
        await embed(client, embeddings_pb2.EmbedRequest(model="nomic", inputs=inputs), metadata=AUTH)
    status = await refused(client, embeddings_pb2.EmbedRequest(model="nomic", inputs=inputs), metadata=AUTH)
    assert (status.code, status.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    # No output is reserved for an embedding: a call of 55 estimated tokens fits a fresh 60 budget.
    client = connect(await start_gateway(keyed(fresh, {"tpm": 60})))
    await embed(client, embeddings_pb2.EmbedRequest(model="nomic", inputs=["x" * 220]), metadata=AUTH)


async def test_budgets_are_charged_the_real_cost(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    data = keyed(fresh, {"budget": {"usd": 0.01, "period": "day"}})
    data["models"][0]["deployments"][0]["input_price_per_mtok"] = 5000
    client = connect(await start_gateway(data))
    response = await embed(
        client, embeddings_pb2.EmbedRequest(model="small", inputs=["one two three"]), metadata=AUTH
    )
    assert response.usage.input_tokens == 3
    assert response.usage.cost_usd == pytest.approx(3 * 5000 / 1_000_000)
    status = await refused(
        client, embeddings_pb2.EmbedRequest(model="small", inputs=["again"]), metadata=AUTH
    )
    assert (status.code, status.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "BUDGET_EXCEEDED")


async def test_a_keys_model_policy_covers_embedding_models(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(keyed(fresh, {"models": ["chat"]})))
    status = await refused(client, embeddings_pb2.EmbedRequest(model="small", inputs=["x"]), metadata=AUTH)
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "MODEL_NOT_ALLOWED")
    status = await refused(client, embeddings_pb2.EmbedRequest(model="small", inputs=["x"]))
    assert status.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def observed(fresh: dict[str, Any]) -> AsyncIterator[tuple[Gateway, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = config(fresh, server={"metrics_listen": "127.0.0.1:0"})
    gateway = Gateway(gateway_config(data), tracer_provider=provider)
    await gateway.start()
    yield gateway, exporter
    await gateway.shutdown()


def samples(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert gateway.metrics_server is not None
    text = httpx.get(f"http://127.0.0.1:{gateway.metrics_server.port}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_and_spans(
    observed: tuple[Gateway, InMemorySpanExporter], connect: Callable[[Gateway], Client]
) -> None:
    gateway, exporter = observed
    client = connect(gateway)
    await embed(client, embeddings_pb2.EmbedRequest(model="small", inputs=["one two", "three"], dimensions=8))
    key = (
        "llmgateway_requests_total",
        tuple(
            sorted(
                {
                    "frontend": "grpc",
                    "method": "Embed",
                    "model": "small",
                    "provider": "oa",
                    "code": "OK",
                }.items()
            )
        ),
    )
    async with asyncio.timeout(2):
        while samples(gateway).get(key, 0) < 1:
            await asyncio.sleep(0.01)
    found = samples(gateway)
    tokens = ("llmgateway_tokens_total", (("direction", "input"), ("model", "small"), ("provider", "oa")))
    assert found[tokens] == 3
    attempt = next(s for s in exporter.get_finished_spans() if s.name == "embeddings text-embedding-3-small")
    assert attempt.attributes is not None
    assert attempt.attributes["gen_ai.operation.name"] == "embeddings"
    assert attempt.attributes["gen_ai.request.model"] == "text-embedding-3-small"
    assert attempt.attributes["gen_ai.usage.input_tokens"] == 3
    assert attempt.attributes["gen_ai.embeddings.dimension.count"] == 8
