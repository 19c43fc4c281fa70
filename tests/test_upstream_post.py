"""UpstreamHttp.post and UpstreamHttp.stream build their requests without client.build_request (the
hot path): the request they hand the pool must be the one build_request would have made — URL,
query, headers, timeouts (a stream's without a read timeout)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmgateway.config import ProviderSettings
from llmgateway.providers import upstream_http
from llmgateway.providers.upstream_http import UpstreamHttp


def provider_http() -> UpstreamHttp:
    settings = ProviderSettings.model_validate(
        {"name": "p", "type": "openai", "headers": {"OpenAI-Organization": "org-1", "X-Shared": "default"}}
    )
    return UpstreamHttp(settings, "http://127.0.0.1:9/v1", {"Authorization": "Bearer sk-test"})


def sent_by_post(http: UpstreamHttp, monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    sent: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=b"{}")

    monkeypatch.setattr(http._transport, "handle_async_request", handle)
    return sent


def comparable(request: httpx.Request) -> tuple[str, str, list[tuple[str, str]], Any]:
    headers = sorted((name.lower(), value) for name, value in request.headers.multi_items())
    return request.method, str(request.url), headers, request.extensions


@pytest.mark.parametrize(
    ("path", "headers", "params"),
    [
        ("/chat/completions", {"Content-Type": "application/json"}, None),
        ("/chat/completions", {"x-shared": "mine", "Authorization": "Bearer other"}, None),
        ("/deployments/gpt%3A4o/chat/completions", None, {"api-version": "2024-10-21"}),
        # Given, they are not added again.
        ("/chat/completions", {"Host": "proxy.example", "content-length": "14"}, None),
    ],
)
async def test_post_sends_what_build_request_would(
    monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str] | None, params: dict[str, str] | None
) -> None:
    http = provider_http()
    sent = sent_by_post(http, monkeypatch)
    body = b'{"model": "m"}'
    for _ in range(2):  # the second from the remembered URL
        await http.post(path, content=body, headers=headers, params=params)
    expected = http.client.build_request("POST", path, content=body, headers=headers, params=params)
    assert [comparable(request) for request in sent] == [comparable(expected)] * 2
    assert all(request.content == body for request in sent)
    await http.aclose()


async def test_remembered_urls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_http, "_MAX_REMEMBERED_URLS", 4)
    http = provider_http()
    sent = sent_by_post(http, monkeypatch)
    for n in range(10):
        await http.post(f"/models/m{n}:generate", content=b"{}")
    assert len(http._urls) <= 4
    assert str(sent[-1].url) == "http://127.0.0.1:9/v1/models/m9:generate"
    await http.aclose()


async def test_stream_sends_what_build_request_would_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    http = provider_http()
    sent = sent_by_post(http, monkeypatch)
    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield b"data: {}\n\n"

        async def aclose(self) -> None:
            closed.append(True)

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, stream=Body(), request=request)

    monkeypatch.setattr(http._transport, "handle_async_request", handle)
    body, headers, params = b'{"stream": true}', {"Content-Type": "application/json"}, {"alt": "sse"}
    async with http.stream(
        "/models/m:streamGenerateContent", content=body, headers=headers, params=params
    ) as got:
        assert [chunk async for chunk in got.aiter_bytes()] == [b"data: {}\n\n"]
    timeout = httpx.Timeout(None, connect=5.0, write=5.0)  # the default connect_s
    expected = http.client.build_request(
        "POST",
        "/models/m:streamGenerateContent",
        content=body,
        headers=headers,
        params=params,
        timeout=timeout,
    )
    assert [comparable(request) for request in sent] == [comparable(expected)]
    assert closed == [True], "the response is closed when the block ends"
    await http.aclose()


async def test_host_and_content_length_go_where_httpx_puts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = provider_http()
    sent = sent_by_post(http, monkeypatch)
    for body in (b'{"model": "m"}', b""):
        await http.post("/chat/completions", content=body, headers={"Content-Type": "application/json"})
        given = [pair for pair in sent[-1].headers.raw if pair[0] not in (b"Host", b"Content-Length")]
        expected = httpx.Request("POST", sent[-1].url, headers=given, content=body).headers.raw
        assert sent[-1].headers.raw == expected
        assert sent[-1].headers.raw[0] == (b"Host", b"127.0.0.1:9")
        assert (b"Content-Length", str(len(body)).encode()) in sent[-1].headers.raw
    await http.aclose()
