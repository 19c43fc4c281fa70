"""A Rust-backed HTTP client behind the gateway's transport seam, to measure against aiohttp (issue 25,
item 4): pyreqwest (reqwest and hyper on a Tokio runtime, bridged to asyncio).

Not the gateway's transport: it is adopted only if it costs fewer instructions per call and per
token than aiohttp_transport and passes the whole suite (bench/RESULTS.md says how it measured).
So it lives here, used by `python -m bench.minimal_forwarder --transport pyreqwest` on the same
UpstreamClient as the gateway. pyreqwest is not a dependency of the project: install it into the
venv by hand to measure (`uv pip install pyreqwest`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.providers.http import failures
from llmgateway.providers.http.transport import UpstreamRequest, UpstreamResponse

_OWN_HEADERS = frozenset({"host", "content-length"})


class _Answer:
    def __init__(self, provider: str, response: Any, errors: Any, *, streamed: bool) -> None:
        self.streamed = streamed
        self._provider = provider
        self._response = response
        self._errors = errors
        self._headers = {name.lower(): value for name, value in response.headers.items()}

    @property
    def status(self) -> int:
        return int(self._response.status)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def body(self) -> AsyncGenerator[bytes, None]:
        try:
            if not self.streamed:  # read whole by pyreqwest already
                yield bytes(await self._response.bytes())
                return
            reader = self._response.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                yield bytes(chunk)
        except self._errors.TransportError as error:
            raise _failure(self._provider, error, self._errors) from error

    async def close(self) -> None:
        await self._context.__aexit__(None, None, None)

    _context: Any


def _failure(provider: str, error: BaseException, errors: Any) -> GatewayError:
    if isinstance(error, TimeoutError):
        return failures.timed_out(provider, error)
    if isinstance(error, errors.ConnectError):
        return failures.connect_failed(provider, error)
    if isinstance(error, errors.NetworkError):
        return failures.connection_lost(provider, error)
    return failures.call_failed(provider, type(error).__name__)


class PyreqwestTransport:
    """One provider's pool in pyreqwest's client: HTTP/1.1, no redirects, no decompression (the
    client above decodes), no proxy from the environment."""

    def __init__(self, provider: str, *, max_connections: int, keepalive_expiry_s: float) -> None:
        import pyreqwest.exceptions  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415 (only when installed)
        from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        self._provider = provider
        self._errors = pyreqwest.exceptions
        self._client = (
            ClientBuilder()
            .max_connections(max_connections)
            .pool_idle_timeout(timedelta(seconds=keepalive_expiry_s))
            .follow_redirects(False)
            .gzip(False)
            .deflate(False)
            .brotli(False)
            .zstd(False)
            .no_proxy()
            .build()
        )

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        # reqwest writes Host and Content-Length itself (hyper refuses a second Content-Length).
        headers = [(name, value) for name, value in request.headers if name.lower() not in _OWN_HEADERS]
        builder = self._client.request(request.method, request.url).headers(headers)
        if request.body:
            builder = builder.body_bytes(request.body)
        timeout = request.timeouts.read if not request.streamed else None
        if timeout is not None:
            builder = builder.timeout(timedelta(seconds=timeout))
        try:
            if request.streamed:
                context = builder.build_streamed()
                response = await context.__aenter__()
                answer = _Answer(self._provider, response, self._errors, streamed=True)
                answer._context = context
                return answer
            response = await builder.build().send()
        except self._errors.RequestError as error:
            raise _failure(self._provider, error, self._errors) from error
        answer = _Answer(self._provider, response, self._errors, streamed=False)
        answer._context = _Closed()
        return answer

    async def aclose(self) -> None:
        await self._client.close()


class _Closed:
    async def __aexit__(self, *args: object) -> None:
        return None
