"""An httpx transport that sends requests with aiohttp: the adapters keep httpx's API (clients,
streamed responses, httpx-sse), while the bytes go through aiohttp's C-accelerated HTTP/1.1 client.

Why: profiles of the gateway under load (bench/profiles/) showed httpx's own connection pool
(httpcore, anyio, h11) as the largest single cost of a call — about 3 ms of CPU per request at
concurrency 16 on the benchmark machine, against 0.4 ms for aiohttp.

Why not the httpx-aiohttp package, which does the same: its exception mapping turns every
aiohttp.ClientConnectionError — a reset or a server disconnect in the middle of a body — into
httpx.ConnectTimeout, which would report a broken stream as UPSTREAM_TIMEOUT and make a request that
reached the provider look as if it never left. The mapping below keeps httpx's meanings.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import cast

import aiohttp
import httpx
import yarl

from llmgateway.providers.decoding import INFLATED_ENCODINGS, inflated


@contextmanager
def _httpx_errors(request: httpx.Request, *, reading: bool) -> Iterator[None]:
    """aiohttp's failures as the httpx exceptions httpx's own transport raises in the same case."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:
        raise httpx.ConnectTimeout(str(error), request=request) from error
    except aiohttp.SocketTimeoutError as error:
        raise httpx.ReadTimeout(str(error), request=request) from error
    except aiohttp.ServerTimeoutError as error:
        raise httpx.ReadTimeout(str(error), request=request) from error
    except TimeoutError as error:
        # aiohttp's `connect` budget: waiting for a free pooled connection plus connecting.
        raise httpx.PoolTimeout(str(error), request=request) from error
    except aiohttp.ClientConnectorError as error:
        raise httpx.ConnectError(str(error), request=request) from error
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
        raise httpx.RemoteProtocolError(str(error), request=request) from error
    except aiohttp.ClientResponseError as error:
        # Raised when the response cannot be parsed as HTTP.
        raise httpx.RemoteProtocolError(str(error), request=request) from error
    except aiohttp.ClientOSError as error:
        cls = httpx.ReadError if reading else httpx.WriteError
        raise cls(str(error), request=request) from error
    except aiohttp.InvalidURL as error:
        raise httpx.UnsupportedProtocol(str(error), request=request) from error
    except aiohttp.ClientError as error:
        raise httpx.TransportError(str(error), request=request) from error


@functools.lru_cache(maxsize=64)
def client_timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """httpx's pool, connect and read timeouts as aiohttp's, made once per set of values (a provider
    has one or two): ClientTimeout is immutable, and building one cost several µs on every call."""
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class _Body(httpx.AsyncByteStream):
    """The response body as aiohttp receives it. Closing it before the end closes the connection, so
    the provider sees the caller go away (and stops generating); a body read to its end returns the
    connection to the pool."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self.chunks()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, httpx's exceptions for aiohttp's."""
        content = self._response.content
        with _httpx_errors(self._request, reading=True):
            try:
                # iter_any: each chunk as soon as it arrives, so streamed tokens are never held back.
                async for chunk in content.iter_any():
                    yield chunk
            except aiohttp.ClientError:
                # When the connection breaks, aiohttp raises at once, even if bytes received before
                # the break are still buffered (a provider that resets right after two SSE events
                # delivers both). Those bytes are the caller's: hand them on, then fail. aiohttp has
                # no public way to read them past the error, hence its private _read_nowait.
                leftover = content._read_nowait(-1) if content._buffer else b""
                if leftover:
                    yield leftover
                raise

    async def aclose(self) -> None:
        # aiohttp pools the connection only if the body was read to its end; otherwise it closes it.
        self._response.release()


def body_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The decoded body of `response`, chunk by chunk as it arrives (close the generator when done
    with it). A body that came through this transport unread is read straight from aiohttp: httpx's
    `aiter_bytes` would pass every chunk through two more generators, a decoder, a chunker and
    context managers. A gzip or deflate body is inflated in bounded pieces (decoding.py), never
    whole chunks at a time as httpx's decoders do; any other body goes through `aiter_bytes`."""
    stream = response.stream
    encoding = response.headers.get("content-encoding", "").strip().lower()
    ours = isinstance(stream, _Body) and not (response.is_stream_consumed or response.is_closed)
    if ours and encoding in ("", "identity"):
        response.is_stream_consumed = True  # as aiter_bytes marks it: the body can be read once
        return cast(_Body, stream).chunks()
    if encoding in INFLATED_ENCODINGS:
        if ours:
            response.is_stream_consumed = True
            raw = cast(_Body, stream).chunks()
        else:
            raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        return inflated(raw, encoding)
    # httpx annotates aiter_bytes as an iterator; it is an async generator.
    return cast(AsyncGenerator[bytes, None], response.aiter_bytes())


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp connection pool. HTTP/1.1 with keep-alive and TCP_NODELAY (aiohttp sets it on
    every connection); no redirects, no proxies from the environment, no automatic decompression
    (httpx decodes the body by its content-encoding, as with its own transport)."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry_s = keepalive_expiry_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop it was made on.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = request.extensions.get("timeout", {})
        timeout = client_timeout(limits.get("pool"), limits.get("connect"), limits.get("read"))
        body = await request.aread()
        with _httpx_errors(request, reading=False):
            response = await self._pool().request(
                request.method,
                # encoded=True: the URL goes out byte for byte as httpx built it. Re-quoting it would
                # turn Bedrock's `%3A` in model ids into `:` and break the SigV4 signature.
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # aiohttp closes its sockets on the next loop iteration.
            await asyncio.sleep(0)
