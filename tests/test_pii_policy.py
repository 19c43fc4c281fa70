"""A key's PII policy through real gRPC: prompts redacted before they leave the gateway or refused,
answers redacted, streams too when a value is split across chunks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.config import ConfigError, parse_config
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY, KEY_ID, KEY_HASH = new_key()
AUTH = (("authorization", f"Bearer {KEY}"),)
EMAIL = "jane.doe@acme.io"


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


def config(sim: OpenAISimulator, **pii: Any) -> dict[str, Any]:
    return {
        "auth": {
            "enabled": True,
            "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t", "policy": {"pii": pii}}],
        },
        "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
        "models": [{"name": "m", "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}],
    }


@pytest.fixture
def fresh(sim: OpenAISimulator) -> OpenAISimulator:
    sim.reset()
    return sim


async def test_prompts_are_redacted_before_they_leave(
    fresh: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(config(fresh, prompts="redact")))
    response = await client.chat.Chat(
        chat_request("m", user(f"mail me at {EMAIL} please")), timeout=5, metadata=AUTH
    )
    sent = json.dumps(fresh.requests[-1].body)
    assert EMAIL not in sent and "[EMAIL]" in sent
    assert response.message.parts[0].text == "You said: mail me at [EMAIL] please"


async def test_prompts_with_pii_can_be_refused(
    fresh: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(config(fresh, prompts="reject", kinds=["email", "ssn"])))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(
            chat_request("m", user("ok"), user(f"my ssn is 123-45-6789, {EMAIL}")), timeout=5, metadata=AUTH
        )
    status = rich_status(failure.value)
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PII_DETECTED")
    violation = status.detail(error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "messages[1].parts[0].text" and violation.description == "contains email, ssn"
    assert EMAIL not in status.message and "6789" not in status.message
    assert fresh.requests == [], "nothing left the gateway"
    await client.chat.Chat(
        chat_request("m", user("call 10.0.0.1")), timeout=5, metadata=AUTH
    )  # ipv4 not listed


async def test_answers_are_redacted(
    fresh: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(config(fresh, output="redact")))
    fresh.behaviour = Behaviour(reply_text=f"Write to {EMAIL} or call +1 415 555 0100 today.")
    response = await client.chat.Chat(chat_request("m", user("contact?")), timeout=5, metadata=AUTH)
    assert response.message.parts[0].text == "Write to [EMAIL] or call [PHONE] today."
    streamed = [
        m
        async for m in client.chat.ChatStream(stream_request("m", user("contact?")), timeout=5, metadata=AUTH)
    ]
    text = "".join(m.delta.text for m in streamed)
    assert text == "Write to [EMAIL] or call [PHONE] today.", (
        "a phone number split across chunks is still caught"
    )
    assert streamed[-1].HasField("usage") and [m.finish_reason for m in streamed if m.finish_reason]


async def test_phone_regions_come_from_the_keys_policy(
    fresh: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """A German national number is a phone for a key whose regions include DE, not for one that
    names only US; a number with its country code is one for both."""
    text = "Ruf an: 0171 1234567 oder +49 171 7654321"
    for regions, expected in (
        (["DE"], "Ruf an: [PHONE] oder [PHONE]"),
        (["us"], "Ruf an: 0171 1234567 oder [PHONE]"),
    ):
        client = connect(await start_gateway(config(fresh, prompts="redact", phone_regions=regions)))
        await client.chat.Chat(chat_request("m", user(text)), timeout=5, metadata=AUTH)
        assert fresh.requests[-1].body["messages"][0]["content"] == expected


def test_hash_mode_needs_a_salt() -> None:
    data = {
        "auth": {
            "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t", "policy": {"pii": {"mode": "hash"}}}]
        }
    }
    with pytest.raises(ConfigError, match="pii_hash_salt"):
        parse_config(data, env={})
    with pytest.raises(ConfigError, match="unknown PII kinds"):
        parse_config(
            {"auth": {"keys": [{**data["auth"]["keys"][0], "policy": {"pii": {"kinds": ["dna"]}}}]}}, env={}
        )
    with pytest.raises(ConfigError, match=r"unknown phone regions \['XX'\]"):
        parse_config(
            {"auth": {"keys": [{**data["auth"]["keys"][0], "policy": {"pii": {"phone_regions": ["xx"]}}}]}},
            env={},
        )
