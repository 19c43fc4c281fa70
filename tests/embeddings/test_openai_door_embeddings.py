"""`POST /v1/embeddings` on the OpenAI door, judged by raw HTTP (the wire shape, errors in OpenAI's
shape), the official openai Python and npm SDKs (base64 by default, decoded by the SDK, and
floats) and LangChain's OpenAIEmbeddings, in front of providers' simulators."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import OpenAIEmbeddings
from pydantic import SecretStr

from tests.conformance.harness import EMBEDDING_MODEL, MODEL
from tests.conftest import StartGateway
from tests.openai_door import door_url, provider_config, simulator
from tests.test_openai_sdk_node import run_check
from tests.upstreams.base import SimulatorServer
from tests.upstreams.embeddings import vector

PROVIDERS = ["openai", "azure_openai", "gemini", "bedrock", "ollama"]
TEXTS = ["first text", "second text here", "third"]


async def door(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str, **extra: Any
) -> tuple[str, SimulatorServer]:
    sim = simulator(provider_simulators, provider)
    gateway = await start_gateway(provider_config(provider, sim.base_url) | extra)
    return door_url(gateway), sim


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_floats_and_base64_on_the_wire(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> None:
    url, _ = await door(start_gateway, provider_simulators, provider)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        floats = await http.post(
            "/embeddings", json={"model": EMBEDDING_MODEL, "input": TEXTS, "encoding_format": "float"}
        )
        packed = await http.post("/embeddings", json={"model": EMBEDDING_MODEL, "input": TEXTS[0]})
    assert floats.status_code == 200, floats.text
    body = floats.json()
    assert body["object"] == "list" and body["model"] == EMBEDDING_MODEL
    assert [d["object"] for d in body["data"]] == ["embedding"] * 3
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    for text, item in zip(TEXTS, body["data"], strict=True):
        assert item["embedding"] == vector(text, len(item["embedding"]))
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]
    assert floats.headers["x-llmgateway-provider"].startswith("conf-")
    # Without encoding_format OpenAI answers floats; the door's default is what its SDKs ask for
    # explicitly, base64 of little-endian float32.
    assert packed.status_code == 200, packed.text
    raw = base64.b64decode(packed.json()["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == body["data"][0]["embedding"]


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"input": "x"}, "model", 400),
        ({"model": EMBEDDING_MODEL}, "input", 400),
        ({"model": EMBEDDING_MODEL, "input": [1, 2, 3]}, "input", 400),
        ({"model": EMBEDDING_MODEL, "input": [[1, 2], [3]]}, "input", 400),
        ({"model": EMBEDDING_MODEL, "input": ["ok", ""]}, "input[1]", 400),
        ({"model": EMBEDDING_MODEL, "input": []}, "input", 400),
        ({"model": EMBEDDING_MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format", 400),
        ({"model": EMBEDDING_MODEL, "input": "x", "dimensions": 0}, "dimensions", 400),
        ({"model": EMBEDDING_MODEL, "input": "x", "truncate": True}, "truncate", 400),
        ({"model": MODEL, "input": "x"}, None, 400),
        ({"model": "no-such-model", "input": "x"}, None, 404),
    ],
)
async def test_bad_requests_in_openais_error_shape(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    body: dict[str, Any],
    param: str | None,
    status: int,
) -> None:
    url, sim = await door(start_gateway, provider_simulators, "openai")
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        answer = await http.post("/embeddings", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param, error
    assert sim.requests == [], "refused before anything was sent"


async def test_anthropic_has_no_embeddings(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer]
) -> None:
    url, sim = await door(start_gateway, provider_simulators, "anthropic")
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        answer = await http.post("/embeddings", json={"model": EMBEDDING_MODEL, "input": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unsupported_capability"
    assert sim.requests == []


@pytest.mark.parametrize("provider", ["openai", "gemini", "bedrock"])
async def test_the_python_sdk_base64_default_and_floats(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> None:
    url, _ = await door(start_gateway, provider_simulators, provider)
    client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
    decoded = await client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)
    floats = await client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS, encoding_format="float")
    as_base64 = await client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS, encoding_format="base64")
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    for text, item in zip(TEXTS, decoded.data, strict=True):
        assert item.embedding == vector(text, len(item.embedding))
    raw = base64.b64decode(as_base64.data[0].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == floats.data[0].embedding
    assert decoded.usage.prompt_tokens > 0
    short = await client.embeddings.create(model=EMBEDDING_MODEL, input="x", dimensions=256)
    assert len(short.data[0].embedding) == 256
    with pytest.raises(openai.BadRequestError) as refused:
        await client.embeddings.create(model=EMBEDDING_MODEL, input=[[1, 2, 3]])
    assert refused.value.body is not None and "token" in str(refused.value.body)


async def test_the_npm_sdk(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer]
) -> None:
    url, _ = await door(start_gateway, provider_simulators, "openai")
    result = await run_check("embeddings", url)
    assert result["vectors"] == [vector(text, 1536) for text in ("node one", "node two", "node three")]
    assert result["short"] == vector("node one", 8)


async def test_langchain_openai_embeddings(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer]
) -> None:
    url, _ = await door(start_gateway, provider_simulators, "gemini")
    # check_embedding_ctx_length=False: LangChain then sends the text, not tiktoken ids (which the
    # door refuses: one model name may route to providers with other tokenizers).
    embeddings = OpenAIEmbeddings(
        model=EMBEDDING_MODEL,
        base_url=url,
        api_key=SecretStr("unused"),
        check_embedding_ctx_length=False,
        max_retries=0,
        chunk_size=2,  # LangChain's own batching: two requests for three texts
    )
    documents = await embeddings.aembed_documents(TEXTS)
    assert documents == [vector(text, 3072) for text in TEXTS]
    assert await embeddings.aembed_query("a query") == vector("a query", 3072)
