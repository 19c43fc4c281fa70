"""UpstreamClient builds each request by hand (the hot path), not with an HTTP client library: the
request it hands the transport must be the one httpx's client made before the transport seam (the
oracle here) — URL, query, headers — with the limits of a unary call or of a stream (no read limit:
pacing bounds a stream's gaps)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

import httpx
import pytest
from opentelemetry import propagate

from llmgateway.config import ProviderSettings
from llmgateway.providers.http import client as client_module
from llmgateway.providers.http.client import UpstreamClient
from llmgateway.providers.http.transport import Timeouts, UpstreamRequest, UpstreamResponse

BASE_URL = "http://127.0.0.1:9/v1"
PROVIDER_HEADERS = {"OpenAI-Organization": "org-1", "X-Shared": "default"}
CREDENTIALS = {"Authorization": "Bearer sk-test"}


class Answer:
    def __init__(self) -> None:
        self.closed = False

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> Mapping[str, str]:
        return httpx.Headers({"content-type": "text/event-stream"})

    async def body(self) -> AsyncGenerator[bytes, None]:
        yield b"data: {}\n\n"

    async def close(self) -> None:
        self.closed = True


class Recorder:
    """A transport that answers every request with one event and keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[UpstreamRequest] = []
        self.answers: list[Answer] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        self.answers.append(Answer())
        return self.answers[-1]

    async def aclose(self) -> None:
        pass


def provider_client(monkeypatch: pytest.MonkeyPatch) -> tuple[UpstreamClient, Recorder]:
    recorder = Recorder()
    monkeypatch.setattr(client_module, "transport_for", lambda settings: recorder)
    settings = ProviderSettings.model_validate({"name": "p", "type": "openai", "headers": PROVIDER_HEADERS})
    return UpstreamClient(settings, BASE_URL, CREDENTIALS), recorder


def oracle(
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Request:
    """The request httpx's client made for the same call."""
    # httpx offers br and zstd too when brotli or zstandard happen to be installed (langchain brings
    # zstandard into the test venv); the gateway decodes only gzip and deflate, and says so.
    accepted = {"Accept-Encoding": "gzip, deflate"}
    client = httpx.AsyncClient(base_url=BASE_URL, headers={**PROVIDER_HEADERS, **CREDENTIALS, **accepted})
    if method == "GET":
        return client.build_request(method, path, headers=headers, params=params)
    return client.build_request(method, path, content=content, headers=headers, params=params)


def comparable(request: UpstreamRequest | httpx.Request) -> tuple[str, str, list[tuple[str, str]]]:
    if isinstance(request, httpx.Request):
        pairs = request.headers.multi_items()
        return request.method, str(request.url), sorted((name.lower(), value) for name, value in pairs)
    headers = sorted((name.lower(), value) for name, value in request.headers)
    return request.method, request.url, headers


UNARY = Timeouts(connect=5.0, pool=300.0, read=300.0, write=300.0)  # the default connect_s and total_s
STREAM = Timeouts(connect=5.0, pool=None, read=None, write=5.0)


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
async def test_post_sends_what_httpx_sent(
    monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str] | None, params: dict[str, str] | None
) -> None:
    http, recorder = provider_client(monkeypatch)
    body = b'{"model": "m"}'
    for _ in range(2):  # the second from the remembered URL
        answer = await http.post(path, content=body, headers=headers, params=params)
        assert answer.body == b"data: {}\n\n"
    expected = oracle("POST", path, body, headers, params)
    assert [comparable(request) for request in recorder.sent] == [comparable(expected)] * 2
    assert all(request.body == body and request.timeouts == UNARY for request in recorder.sent)
    assert all(answer.closed for answer in recorder.answers)


async def test_get_sends_what_httpx_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    http, recorder = provider_client(monkeypatch)
    await http.get("/models", params={"limit": "1000", "after_id": "claude 3/x"})
    expected = oracle("GET", "/models", b"", params={"limit": "1000", "after_id": "claude 3/x"})
    assert [comparable(request) for request in recorder.sent] == [comparable(expected)]


async def test_remembered_urls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_MAX_REMEMBERED_URLS", 4)
    http, recorder = provider_client(monkeypatch)
    for n in range(10):
        await http.post(f"/models/m{n}:generate", content=b"{}")
    assert len(http._urls) <= 4
    assert recorder.sent[-1].url == "http://127.0.0.1:9/v1/models/m9:generate"


async def test_stream_sends_what_httpx_sent_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    http, recorder = provider_client(monkeypatch)
    body, headers, params = b'{"stream": true}', {"Content-Type": "application/json"}, {"alt": "sse"}
    async with http.stream(
        "/models/m:streamGenerateContent", content=body, headers=headers, params=params
    ) as got:
        assert [chunk async for chunk in got.body()] == [b"data: {}\n\n"]
    expected = oracle("POST", "/models/m:streamGenerateContent", body, headers, params)
    assert [comparable(request) for request in recorder.sent] == [comparable(expected)]
    assert recorder.sent[0].streamed and recorder.sent[0].timeouts == STREAM
    assert recorder.answers[0].closed, "the answer is closed when the block ends"


async def test_host_and_content_length_go_where_httpx_puts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    http, recorder = provider_client(monkeypatch)
    for body in (b'{"model": "m"}', b""):
        await http.post("/chat/completions", content=body, headers={"Content-Type": "application/json"})
        sent = recorder.sent[-1].headers
        assert sent[0] == ("Host", "127.0.0.1:9")
        assert ("Content-Length", str(len(body))) in sent


async def test_trace_context_goes_only_where_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(client_module, "transport_for", lambda settings: recorder)
    for enabled in (False, True):
        settings = ProviderSettings(name="p", type="openai", propagate_trace_context=enabled)
        monkeypatch.setattr(propagate, "inject", lambda carrier: carrier.update(traceparent="00-ab-cd-01"))
        await UpstreamClient(settings, BASE_URL, {}).post("/chat/completions", content=b"{}")
        names = [name.lower() for name, _ in recorder.sent[-1].headers]
        assert ("traceparent" in names) is enabled
