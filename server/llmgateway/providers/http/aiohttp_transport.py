"""The HTTP/1.1 transport: aiohttp's C-accelerated client and its connection pool.

Why aiohttp: profiles of the gateway under load (bench/profiles/) showed httpx's own connection pool
(httpcore, anyio, h11) as the largest single cost of a call, about 3 ms of CPU per request at
concurrency 16 on the benchmark machine, against 0.4 ms for aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncGenerator, Mapping

import aiohttp
import yarl

from llmgateway.errors import GatewayError
from llmgateway.providers.http import failures
from llmgateway.providers.http.aiohttp_connector import Connector
from llmgateway.providers.http.transport import Timeouts, UpstreamRequest, UpstreamResponse


def _failure(provider: str, error: BaseException) -> GatewayError:
    """aiohttp's exception as the gateway's failure. Timeouts first: aiohttp's timeout errors are
    also connection errors."""
    if isinstance(error, TimeoutError):
        # ConnectionTimeoutError, SocketTimeoutError, and the plain TimeoutError of the `connect`
        # budget (waiting for a pooled connection plus connecting).
        return failures.timed_out(provider, error)
    if isinstance(error, aiohttp.ClientConnectorError):
        return failures.connect_failed(provider, error)
    if isinstance(
        error,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError
        # Raised when the answer cannot be parsed as HTTP.
        | aiohttp.ClientResponseError
        # A reset or broken pipe while sending or reading.
        | aiohttp.ClientOSError,
    ):
        return failures.connection_lost(provider, error)
    return failures.call_failed(provider, type(error).__name__)


@functools.lru_cache(maxsize=64)
def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """The limits as aiohttp's, made once per set of values (a provider has two: unary and stream):
    ClientTimeout is immutable, and building one cost several µs on every call. aiohttp has no
    write limit; its `connect` covers the wait for a pooled connection and connecting."""
    return aiohttp.ClientTimeout(
        total=None, connect=timeouts.pool, sock_connect=timeouts.connect, sock_read=timeouts.read
    )


class _Body:
    """An answer read by its caller straight from aiohttp's buffer as it arrives.

    aiohttp raises a broken connection's error at the next read even while bytes received before
    the break are still in its buffer, and has no public way to read them past the error. A provider
    that resets right after two events must still have both relayed, however slow the caller was to
    ask for the second: so when a read fails, what aiohttp still holds is taken from its buffer
    (`StreamReader._read_nowait`, which skips the error check; aiohttp is pinned by the lock, and
    tests/test_upstream_transports.py fails if an upgrade changes it) and delivered before the
    failure. (A task moving every chunk out of aiohttp as it arrived did the same at the cost of a
    task switch per chunk.) aiohttp's own flow control (its reader's high-water mark pauses the
    socket) bounds how far the upstream gets ahead of a slow caller.
    """

    def __init__(self, provider: str, response: aiohttp.ClientResponse) -> None:
        self._provider = provider
        self._response = response
        self._taken = False

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def body(self) -> AsyncGenerator[bytes, None]:
        # A second read would find aiohttp's buffer empty and look like an empty body: refused, as
        # httpx refuses it (StreamConsumed is a RuntimeError too).
        if self._taken:
            raise RuntimeError("the body of an upstream answer is read once")
        self._taken = True
        content = self._response.content
        while True:
            try:
                chunk = await content.readany()  # each chunk as soon as it arrives
            except (aiohttp.ClientError, TimeoutError) as error:
                left = content._read_nowait(-1)  # private: no public read past the error
                if left:
                    yield left
                raise _failure(self._provider, error) from error
            if not chunk:
                return
            yield chunk

    async def close(self) -> None:
        # aiohttp pools the connection only if the body was read to its end; otherwise it closes it.
        self._response.release()


class AiohttpTransport:
    """One provider's aiohttp connection pool. HTTP/1.1 with keep-alive and TCP_NODELAY (aiohttp
    sets it on every connection); no redirects, no proxies from the environment, no decompression
    (the client above decodes bodies in bounded pieces), no headers of aiohttp's own."""

    def __init__(
        self,
        provider: str,
        *,
        max_connections: int,
        keepalive_expiry_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._provider = provider
        self._max_connections = max_connections
        self._keepalive_expiry_s = keepalive_expiry_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop it was made on.
        if self._session is None or self._session.closed:
            connector = Connector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry_s,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        try:
            response = await self._pool().request(
                request.method,
                # encoded=True: the URL goes out byte for byte as given (Bedrock's `%3A` in model ids
                # would otherwise become `:` and break the SigV4 signature).
                yarl.URL(request.url, encoded=True),
                headers=list(request.headers),
                data=request.body or None,
                allow_redirects=False,
                timeout=client_timeout(request.timeouts),
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _failure(self._provider, error) from error
        return _Body(self._provider, response)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # aiohttp closes its sockets on the next loop iteration.
            await asyncio.sleep(0)
