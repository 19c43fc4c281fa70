"""`http2: true` on a provider: the gateway speaks HTTP/2 to it (prior knowledge on http here; ALPN
on https); without it, HTTP/1.1 through the aiohttp pool. The upstream is hypercorn, which serves
both, and reports which one each request used."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

COMPLETION = {
    "id": "chatcmpl-h2",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "over h2"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


class OpenAIOverAnyHttp:
    """An ASGI app answering /v1/chat/completions and noting each request's HTTP version."""

    def __init__(self) -> None:
        self.versions: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.versions.append(scope["http_version"])
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        body = json.dumps(COMPLETION).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def h2_upstream() -> AsyncIterator[tuple[str, OpenAIOverAnyHttp]]:
    app = OpenAIOverAnyHttp()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    stop.set()
    await asyncio.wait_for(task, 5)


def _config(base_url: str, http2: bool) -> dict[str, Any]:
    provider = {"name": "up", "type": "openai", "base_url": base_url, "api_key": "sk-test", "http2": http2}
    return {
        "providers": [provider],
        "models": [{"name": "m", "deployments": [{"provider": "up", "model": "gpt-4o-mini"}]}],
    }


REQUEST = chat_pb2.ChatRequest(
    model="m", messages=[content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text="hi")])]
)


@pytest.mark.parametrize(("http2", "version"), [(True, "2"), (False, "1.1")])
async def test_http_version_to_the_upstream(
    h2_upstream: tuple[str, OpenAIOverAnyHttp],
    start_gateway: StartGateway,
    connect: Callable[..., Client],
    http2: bool,
    version: str,
) -> None:
    base_url, app = h2_upstream
    gateway = await start_gateway(_config(base_url, http2))
    client = connect(gateway)
    for _ in range(3):
        response = await client.chat.Chat(REQUEST, timeout=5)
        assert response.message.parts[0].text == "over h2"
    assert app.versions == [version] * 3
