"""What the embeddings adapters put on each provider's wire (through a gateway, read back from the
simulators' recorded requests), what they refuse before sending, how they take malformed answers;
the simulators' strictness (they refuse what the real APIs refuse); the config checks of a model's
kind; PII on the inputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.config import ConfigError, parse_config
from llmgateway.v1 import embeddings_pb2
from tests.conftest import Client, StartGateway
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.azure_openai import AzureOpenAISimulator
from tests.upstreams.base import Behaviour
from tests.upstreams.bedrock import BedrockSimulator
from tests.upstreams.embeddings import vector
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.ollama import OllamaSimulator
from tests.upstreams.openai import OpenAISimulator

AWS_ID, AWS_SECRET = "AKIDWIRE", "wire-secret-0123456789"
QUERY = embeddings_pb2.EMBEDDING_TASK_QUERY


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Any]]:
    started = {
        "azure": AzureOpenAISimulator(api_key="az-key").start(),
        "together": OpenAISimulator(api_key="tg-key", dialect="together").start(),
        "vllm": OpenAISimulator(api_key=None, dialect="vllm").start(),
        "openai": OpenAISimulator(api_key=None).start(),
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


def config(sims: dict[str, Any], **pii: Any) -> dict[str, Any]:
    def model(name: str, provider: str, upstream: str) -> dict[str, Any]:
        return {"name": name, "kind": "embedding", "deployments": [{"provider": provider, "model": upstream}]}

    return {
        "providers": [
            {"name": "az", "type": "azure_openai", "base_url": sims["azure"].base_url, "api_key": "az-key"},
            {"name": "tg", "type": "together", "base_url": sims["together"].base_url, "api_key": "tg-key"},
            {"name": "vl", "type": "vllm", "base_url": sims["vllm"].base_url},
            {"name": "oa", "type": "openai", "base_url": sims["openai"].base_url},
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
            model("azure", "az", "embed-small-prod"),
            model("together", "tg", "BAAI/bge-base-en-v1.5"),
            model("vllm", "vl", "BAAI/bge-m3"),
            model("openai", "oa", "text-embedding-3-small"),
            model("gemini", "gem", "gemini-embedding-001"),
            model("cohere", "aws", "cohere.embed-multilingual-v3"),
            model("titan", "aws", "amazon.titan-embed-text-v2:0"),
            model("nova", "aws", "amazon.nova-lite-v1:0"),
            model("ollama", "local", "nomic-embed-text"),
        ],
        "routing": {"retry": {"max_retries": 0}},
        **pii,
    }


async def refused(client: Client, request: embeddings_pb2.EmbedRequest) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.embeddings.Embed(request, timeout=10)
    return rich_status(failure.value)


async def test_each_providers_wire(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))

    async def sent(model: str, sim: str, **fields: Any) -> dict[str, Any]:
        await client.embeddings.Embed(
            embeddings_pb2.EmbedRequest(model=model, inputs=["a b"], **fields), timeout=10
        )
        recorded = fresh[sim].requests[-1]
        body: dict[str, Any] = recorded.body
        body["_path"], body["_query"] = recorded.path, recorded.query
        return body

    azure = await sent("azure", "azure", dimensions=16)
    # The deployment in the path picks the model: no `model` in the body; api-version as for chat.
    assert azure["_path"] == "/openai/deployments/embed-small-prod/embeddings"
    assert azure["_query"] == {"api-version": "2024-10-21"}
    assert "model" not in azure and azure["dimensions"] == 16 and azure["encoding_format"] == "base64"
    assert fresh["azure"].requests[-1].headers["api-key"] == "az-key"

    together = await sent("together", "together")
    assert {k: v for k, v in together.items() if not k.startswith("_")} == {
        "input": ["a b"],
        "model": "BAAI/bge-base-en-v1.5",
    }
    vllm = await sent("vllm", "vllm")
    assert vllm["encoding_format"] == "base64" and vllm["model"] == "BAAI/bge-m3"

    gemini = await sent("gemini", "gemini", dimensions=8, task=QUERY)
    assert gemini["_path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert gemini["requests"] == [
        {
            "model": "models/gemini-embedding-001",
            "content": {"parts": [{"text": "a b"}]},
            "taskType": "RETRIEVAL_QUERY",
            "outputDimensionality": 8,
        }
    ]
    cohere = await sent("cohere", "bedrock", task=QUERY)
    assert cohere["_path"] == "/model/cohere.embed-multilingual-v3/invoke"
    assert cohere == {**cohere, "texts": ["a b"], "input_type": "search_query"}
    document = await sent("cohere", "bedrock")
    assert document["input_type"] == "search_document", (
        "Cohere's input_type is required: documents by default"
    )
    assert (
        fresh["bedrock"]
        .requests[-1]
        .headers["authorization"]
        .startswith("AWS4-HMAC-SHA256 Credential=AKIDWIRE/")
    )
    titan = await sent("titan", "bedrock", dimensions=256)
    assert {k: v for k, v in titan.items() if not k.startswith("_")} == {
        "inputText": "a b",
        "dimensions": 256,
    }
    ollama = await sent("ollama", "ollama", dimensions=8)
    assert {k: v for k, v in ollama.items() if not k.startswith("_")} == {
        "model": "nomic-embed-text",
        "input": ["a b"],
        "dimensions": 8,
    }


@pytest.mark.parametrize(
    ("model", "feature"),
    [
        ("together", "embedding dimensions"),
        ("cohere", "embedding dimensions with Cohere embed v3"),
        ("nova", "embeddings with model 'amazon.nova-lite-v1:0' (Titan and Cohere embed only)"),
    ],
)
async def test_what_a_provider_cannot_do_is_refused_before_sending(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    fresh: dict[str, Any],
    model: str,
    feature: str,
) -> None:
    client = connect(await start_gateway(config(fresh)))
    request = embeddings_pb2.EmbedRequest(model=model, inputs=["x"])
    if model != "nova":
        request.dimensions = 256
    status = await refused(client, request)
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert status.error_info.metadata["feature"] == feature
    assert all(not sim.requests for sim in fresh.values())


@pytest.mark.parametrize(
    ("model", "sim", "body"),
    [
        ("openai", "openai", {"data": [], "model": "m", "usage": {"prompt_tokens": 1}}),
        ("openai", "openai", {"data": [{"index": 0, "embedding": "not base64!"}]}),
        ("gemini", "gemini", {"embeddings": [{"values": ["x"]}]}),
        ("ollama", "ollama", {"embeddings": [[0.1], [0.2]]}),
    ],
)
async def test_a_malformed_answer_is_unavailable(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    fresh: dict[str, Any],
    model: str,
    sim: str,
    body: dict[str, Any],
) -> None:
    client = connect(await start_gateway(config(fresh)))
    fresh[sim].behaviour = Behaviour(raw_body=json.dumps(body).encode())
    status = await refused(client, embeddings_pb2.EmbedRequest(model=model, inputs=["x"]))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE")


async def test_pii_in_inputs_is_redacted_before_it_leaves(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    key, key_id, key_hash = new_key()
    data = config(fresh)
    data["auth"] = {
        "enabled": True,
        "keys": [{"id": key_id, "hash": key_hash, "tenant": "t", "policy": {"pii": {"prompts": "redact"}}}],
    }
    client = connect(await start_gateway(data))
    await client.embeddings.Embed(
        embeddings_pb2.EmbedRequest(model="ollama", inputs=["mail jane.doe@example.com now"]),
        timeout=10,
        metadata=(("authorization", f"Bearer {key}"),),
    )
    sent = fresh["ollama"].requests[-1].body["input"][0]
    assert "jane.doe@example.com" not in sent and sent.startswith("mail ")


def test_a_model_falls_back_only_to_its_own_kind() -> None:
    models: list[dict[str, Any]] = [
        {
            "name": "e",
            "kind": "embedding",
            "fallbacks": ["c"],
            "deployments": [{"provider": "echo", "model": "x"}],
        },
        {"name": "c", "deployments": [{"provider": "echo", "model": "y"}]},
    ]
    data = {"providers": [{"name": "echo", "type": "echo"}], "models": models}
    with pytest.raises(ConfigError, match="'c' is of kind 'chat', 'e' of kind 'embedding'"):
        parse_config(data, env={})
    models[0]["kind"] = "chat"
    assert parse_config(data, env={}).models[0].kind == "chat"
    models[0]["kind"] = "vector"
    with pytest.raises(ConfigError, match="kind"):
        parse_config(data, env={})


# ---- the simulators refuse what the real APIs refuse -----------------------------------------


def post(url: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
            400,
            "does not support specifying dimensions",
        ),
        ({"model": "text-embedding-3-small", "input": ["x"] * 2049}, 400, "'$.input' is invalid"),
        ({"model": "text-embedding-3-small", "input": ""}, 400, "'$.input' is invalid"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 5000}, 400, "dimensions"),
        (
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"},
            400,
            "Supported values",
        ),
        (
            {"model": "text-embedding-3-small", "input": "x", "truncate": True},
            400,
            "Unrecognized request argument",
        ),
        ({"model": "nope", "input": "x"}, 404, "does not exist"),
    ],
)
def test_openai_simulator_strictness(
    sims: dict[str, Any], body: dict[str, Any], status: int, words: str
) -> None:
    answer = post(f"{sims['openai'].base_url}/v1/embeddings", body)
    assert answer.status_code == status
    assert words in answer.json()["error"]["message"]


def test_other_simulators_strictness(sims: dict[str, Any]) -> None:
    gemini = f"{sims['gemini'].base_url}/v1beta/models/gemini-embedding-001:batchEmbedContents"
    item = {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "x"}]}}
    assert post(gemini, {"requests": [item] * 101}, **{"x-goog-api-key": "g-key"}).status_code == 400
    assert (
        post(gemini, {"requests": [{**item, "taskType": "QUERY"}]}, **{"x-goog-api-key": "g-key"}).status_code
        == 400
    )
    assert post(gemini, {"requests": [item]}).status_code == 403, "no key"
    answer = post(gemini, {"requests": [item]}, **{"x-goog-api-key": "g-key"})
    assert answer.json() == {"embeddings": [{"values": vector("x", 3072)}]}
    ollama = f"{sims['ollama'].base_url}/api/embed"
    assert post(ollama, {"model": "llama3.2", "input": "x"}).status_code == 404
    assert post(ollama, {"model": "nomic-embed-text", "input": "x"}).json()["embeddings"] == [
        vector("x", 768)
    ]
    # Bedrock's bodies are checked behind SigV4, through the gateway (test_each_providers_wire);
    # an unsigned request never reaches the model.
    assert (
        post(f"{sims['bedrock'].base_url}/model/cohere.embed-english-v3/invoke", {"texts": ["x"]}).status_code
        == 403
    )


async def test_bedrock_refuses_bodies_the_real_models_refuse(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], fresh: dict[str, Any]
) -> None:
    client = connect(await start_gateway(config(fresh)))
    # Titan v2 takes 256, 512 or 1024 dimensions only.
    status = await refused(client, embeddings_pb2.EmbedRequest(model="titan", inputs=["x"], dimensions=100))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST")
    assert "dimensions" in status.message
