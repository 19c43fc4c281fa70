"""The transport for HTTP/2 (providers with `http2: true`) and for media fetches: httpx's own
connection pool (httpcore, with h2). It costs more CPU per call than aiohttp (see
aiohttp_transport), so it carries only what aiohttp cannot: HTTP/2, offered by ALPN on https and used
with prior knowledge on http. The public transport API is used (`handle_async_request` and a
request's `timeout` extension), not a client: redirects, cookies and auth flows are the caller's
business or not wanted at all.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator, Mapping

import httpx

from llmgateway.errors import GatewayError
from llmgateway.providers.http import failures
from llmgateway.providers.http.transport import UpstreamRequest, UpstreamResponse


def _failure(provider: str, error: httpx.HTTPError) -> GatewayError:
    """httpx's exception as the gateway's failure."""
    if isinstance(error, httpx.TimeoutException):
        return failures.timed_out(provider, error)
    if isinstance(error, httpx.ConnectError):
        return failures.connect_failed(provider, error)
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return failures.connection_lost(provider, error)
    return failures.call_failed(provider, type(error).__name__)


class _Body:
    def __init__(self, provider: str, response: httpx.Response) -> None:
        self._provider = provider
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def body(self) -> AsyncGenerator[bytes, None]:
        try:
            # Raw: the client above decodes content encodings in bounded pieces.
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as error:
            raise _failure(self._provider, error) from error

    async def close(self) -> None:
        # Shielded: the caller's task may be cancelled again while it closes (a gRPC deadline lands
        # beside the gateway's own timer for it); the connection must be closed all the same.
        await asyncio.shield(self._response.aclose())


class HttpxTransport:
    """One httpx connection pool; HTTP/2 when asked for, no proxies from the environment."""

    def __init__(
        self,
        provider: str,
        *,
        http2: bool = False,
        http1: bool = True,
        max_connections: int = 100,
        keepalive_expiry_s: float = 5.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._provider = provider
        self._pool = httpx.AsyncHTTPTransport(
            http1=http1,
            http2=http2,
            verify=verify,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry_s,
            ),
            trust_env=False,
        )

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        limits = request.timeouts
        outgoing = httpx.Request(
            request.method,
            request.url,
            headers=list(request.headers),
            content=request.body,
            extensions={
                "timeout": {
                    "connect": limits.connect,
                    "read": limits.read,
                    "write": limits.write,
                    "pool": limits.pool,
                }
            },
        )
        try:
            response = await self._pool.handle_async_request(outgoing)
        except httpx.HTTPError as error:
            raise _failure(self._provider, error) from error
        return _Body(self._provider, response)

    async def aclose(self) -> None:
        await self._pool.aclose()
