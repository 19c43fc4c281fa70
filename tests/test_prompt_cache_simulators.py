"""The simulators' prompt caches judged over HTTP: marked prefixes written then read (Anthropic,
Bedrock), automatic 128-token steps from 1,024 tokens (OpenAI), too-short prefixes not cached, and
malformed marks refused in each API's own error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.upstreams.anthropic import AnthropicSimulator
from tests.upstreams.openai import OpenAISimulator
from tests.upstreams.prompt_cache import Piece, PromptCache

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-sim-test", "anthropic-version": "2023-06-01"}
LONG = " ".join(f"word{i}" for i in range(1500))  # 1,500 tokens in the simulators' counting


@pytest.fixture(scope="module")
def anthropic() -> Iterator[AnthropicSimulator]:
    with AnthropicSimulator() as server:
        yield server


@pytest.fixture
def claude(anthropic: AnthropicSimulator) -> Iterator[httpx.Client]:
    anthropic.reset()
    with httpx.Client(base_url=anthropic.base_url, headers=ANTHROPIC_HEADERS, timeout=5.0) as client:
        yield client


def messages_body(
    system: list[dict[str, Any]], model: str = "claude-sonnet-4-5", **extra: Any
) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 50,
        "system": system,
        "messages": [{"role": "user", "content": "what now"}],
        **extra,
    }


def marked(text: str, **control: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral", **control}}


def test_anthropic_writes_a_marked_prefix_then_reads_it() -> None:
    with (
        AnthropicSimulator() as server,
        httpx.Client(base_url=server.base_url, headers=ANTHROPIC_HEADERS) as c,
    ):
        first = c.post("/v1/messages", json=messages_body([marked(LONG)])).json()["usage"]
        second = c.post("/v1/messages", json=messages_body([marked(LONG)])).json()["usage"]
    assert (first["cache_creation_input_tokens"], first["cache_read_input_tokens"]) == (1500, 0)
    assert first["cache_creation"] == {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 0}
    assert first["input_tokens"] == 2, "input_tokens leaves out what the cache wrote"
    assert (second["cache_creation_input_tokens"], second["cache_read_input_tokens"]) == (0, 1500)
    assert second["input_tokens"] == 2


def test_anthropic_one_hour_writes_are_reported_apart(claude: httpx.Client) -> None:
    usage = claude.post("/v1/messages", json=messages_body([marked(LONG, ttl="1h")])).json()["usage"]
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1500}


def test_anthropic_does_not_cache_a_prefix_shorter_than_the_models_minimum(claude: httpx.Client) -> None:
    # Haiku 4.5 caches from 4,096 tokens: 1,500 is accepted, and not cached.
    for _ in range(2):
        usage = claude.post("/v1/messages", json=messages_body([marked(LONG)], "claude-haiku-4-5")).json()[
            "usage"
        ]
        assert (usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (0, 0)
        assert usage["input_tokens"] == 1502


def test_anthropic_a_changed_prefix_misses(claude: httpx.Client) -> None:
    claude.post("/v1/messages", json=messages_body([marked(LONG)]))
    usage = claude.post("/v1/messages", json=messages_body([marked(LONG + " more")])).json()["usage"]
    assert (usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (1501, 0)


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"type": "persistent"}, "system.0.cache_control.type: Input should be 'ephemeral'"),
        ({"type": "ephemeral", "ttl": "10m"}, "system.0.cache_control.ttl: Input should be '5m' or '1h'"),
        ({"type": "ephemeral", "scope": "x"}, "system.0.cache_control.scope: Extra inputs are not permitted"),
    ],
)
def test_anthropic_refuses_malformed_cache_control(
    claude: httpx.Client, control: dict[str, Any], message: str
) -> None:
    resp = claude.post(
        "/v1/messages", json=messages_body([{"type": "text", "text": "x", "cache_control": control}])
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_anthropic_refuses_a_fifth_breakpoint_and_1h_after_5m(claude: httpx.Client) -> None:
    five = [marked(f"part {i}") for i in range(5)]
    resp = claude.post("/v1/messages", json=messages_body(five))
    assert resp.status_code == 400
    assert (
        resp.json()["error"]["message"]
        == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    resp = claude.post("/v1/messages", json=messages_body([marked("a"), marked("b", ttl="1h")]))
    assert resp.status_code == 400
    assert "must not come after a ttl='5m'" in resp.json()["error"]["message"]


def test_prompt_cache_lifetime_expires() -> None:
    now = [0.0]
    cache = PromptCache(clock=lambda: now[0])
    pieces = [Piece("a", 2000, "5m")]
    assert cache.on_request("m", pieces, 1024).written_5m == 2000
    now[0] = 299.0
    assert cache.on_request("m", pieces, 1024).read == 2000, "a read renews the lifetime"
    now[0] = 598.0
    assert cache.on_request("m", pieces, 1024).read == 2000
    now[0] = 899.0
    use = cache.on_request("m", pieces, 1024)
    assert (use.read, use.written_5m) == (0, 2000), "expired after 5 idle minutes"


@pytest.fixture(scope="module")
def openai_sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator() as server:
        yield server


def test_openai_caches_automatically_in_128_token_steps(openai_sim: OpenAISimulator) -> None:
    openai_sim.reset()
    headers = {"authorization": "Bearer sk-sim-test"}
    prompt = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG}]}
    with httpx.Client(base_url=openai_sim.base_url, headers=headers) as c:
        first = c.post("/v1/chat/completions", json=prompt).json()["usage"]
        second = c.post("/v1/chat/completions", json=prompt).json()["usage"]
        keyed = c.post("/v1/chat/completions", json={**prompt, "prompt_cache_key": "tenant-a"}).json()[
            "usage"
        ]
        short = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG[:3000]}]}
        c.post("/v1/chat/completions", json=short)
        short_again = c.post("/v1/chat/completions", json=short).json()["usage"]
        bad = c.post("/v1/chat/completions", json={**prompt, "prompt_cache_key": 7})
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == 1408, "1,500 rounds down to 1,024 + 3 x 128"
    assert second["prompt_tokens"] == 1500
    assert keyed["prompt_tokens_details"]["cached_tokens"] == 0, "another cache key is another cache"
    assert short_again["prompt_tokens_details"]["cached_tokens"] == 0, "under 1,024 tokens nothing is cached"
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt_cache_key"
