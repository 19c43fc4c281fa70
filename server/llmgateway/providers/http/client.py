"""One provider's HTTP client over the transport seam: it builds each request (base URL, the
provider's headers, trace context, limits), picks the provider's transport, decodes bodies, and
reads a whole body within `max_response_bytes`.

The request is built by hand, not by an HTTP client library, because this is the hot path: a URL is
made once per path and query, the provider's headers once per provider; httpx's client spent about
half a millisecond of CPU per call on cookies, auth flows, redirects and hooks none of which a
provider call uses (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager

import httpx
from opentelemetry import propagate

from llmgateway.config import ProviderSettings
from llmgateway.providers.errors import response_too_large
from llmgateway.providers.http.aiohttp_transport import AiohttpTransport
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.http.decoding import decoded
from llmgateway.providers.http.httpx_transport import HttpxTransport
from llmgateway.providers.http.transport import Timeouts, Transport, UpstreamRequest, UpstreamResponse

# The headers httpx's client sent before this seam existed, so upstreams (and anything in front of
# them that allow-lists clients) see no change. Only gzip and deflate are accepted: decoding.py
# inflates those in bounded pieces.
_DEFAULT_HEADERS = {
    "accept": ("Accept", "*/*"),
    "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
    "connection": ("Connection", "keep-alive"),
    "user-agent": ("User-Agent", f"python-httpx/{httpx.__version__}"),
}
# Request URLs kept per provider; beyond this many distinct paths the memory starts again.
_MAX_REMEMBERED_URLS = 256


def transport_for(settings: ProviderSettings) -> Transport:
    """The provider's connection pool, sized from its settings: HTTP/1.1 through aiohttp, or with
    `http2` httpx's pool, which offers HTTP/2 by ALPN on https (falling back to HTTP/1.1) and uses
    it with prior knowledge on http."""
    if settings.http2:
        return HttpxTransport(
            settings.name,
            http2=True,
            http1=settings.base_url is None or settings.base_url.startswith("https:"),
            max_connections=settings.max_connections,
            keepalive_expiry_s=settings.keepalive_expiry_s,
        )
    return AiohttpTransport(
        settings.name,
        max_connections=settings.max_connections,
        keepalive_expiry_s=settings.keepalive_expiry_s,
    )


def _with_trailing_slash(url: httpx.URL) -> httpx.URL:
    # Paths are appended to the base URL's own path, as httpx's client does with its base_url.
    return url if url.raw_path.endswith(b"/") else url.copy_with(raw_path=url.raw_path + b"/")


class UpstreamClient:
    """A provider's way to its upstream: its pool, base URL and headers (the provider's configured
    ones, then its credentials), trace context only when `propagate_trace_context` says so, and its
    limits: connect and the whole call's time for a unary call (each read, each write, the wait for
    a pooled connection); for a stream only connecting and sending, because pacing bounds the gaps
    between events. Every body read whole is capped at `max_response_bytes`. Redirects are never
    followed: a provider API does not redirect, and following one could carry credentials to
    another host."""

    def __init__(self, settings: ProviderSettings, base_url: str, headers: Mapping[str, str]) -> None:
        self._transport = transport_for(settings)
        self._provider = settings.name
        self._propagate = settings.propagate_trace_context
        self._max_response_bytes = settings.max_response_bytes
        self._base = _with_trailing_slash(httpx.URL(base_url))
        self._headers = dict(_DEFAULT_HEADERS)
        for name, value in {**settings.headers, **headers}.items():
            self._headers[name.lower()] = (name, value)
        timeouts = settings.timeouts
        self._unary = Timeouts(
            connect=timeouts.connect_s, pool=timeouts.total_s, read=timeouts.total_s, write=timeouts.total_s
        )
        self._stream = Timeouts(connect=timeouts.connect_s, pool=None, read=None, write=timeouts.connect_s)
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, str]] = {}

    def _url(self, path: str, params: Mapping[str, str] | None) -> tuple[str, str]:
        """The URL for `path` and `params` below the base URL, and its Host header, made once."""
        key = (path, tuple(params.items()) if params else ())
        made = self._urls.get(key)
        if made is None:
            if len(self._urls) >= _MAX_REMEMBERED_URLS:  # paths can hold caller-chosen model names
                self._urls.clear()
            url = self._base.copy_with(raw_path=self._base.raw_path + httpx.URL(path).raw_path.lstrip(b"/"))
            if params:
                url = url.copy_merge_params(params)
            made = self._urls[key] = (str(url), url.netloc.decode("ascii"))
        return made

    def _request(
        self,
        method: str,
        path: str,
        content: bytes,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        *,
        streamed: bool,
    ) -> UpstreamRequest:
        url, host = self._url(path, params)
        merged = self._headers
        if headers or self._propagate:
            merged = dict(merged)
            for name, value in (headers or {}).items():
                merged[name.lower()] = (name, value)
            if self._propagate:
                # W3C traceparent/tracestate of the current span (the upstream attempt's), for
                # upstreams whose own traces should join the gateway's.
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                for name, value in carrier.items():
                    merged[name.lower()] = (name, value)
        pairs = list(merged.values())
        if "host" not in merged:
            pairs.insert(0, ("Host", host))
        if method == "POST" and "content-length" not in merged and "transfer-encoding" not in merged:
            pairs.append(("Content-Length", str(len(content))))
        return UpstreamRequest(
            method, url, pairs, content, self._stream if streamed else self._unary, streamed=streamed
        )

    async def _read(self, response: UpstreamResponse) -> Answer:
        """The whole body, failing with UPSTREAM_RESPONSE_TOO_LARGE past `max_response_bytes`: at
        once when Content-Length announces more, else as soon as the bytes read pass it, so at most
        the cap plus one read chunk is held. Decoded bytes are counted, so a small compressed body
        cannot inflate past the cap. The answer is closed either way; closed half-read, its
        connection is dropped rather than pooled."""
        limit = self._max_response_bytes
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise response_too_large(
                    self._provider,
                    f"a response body announced as {declared} bytes",
                    limit,
                    "max_response_bytes",
                )
            chunks: list[bytes] = []
            size = 0
            async with aclosing(decoded(response, self._provider)) as body:
                async for chunk in body:
                    size += len(chunk)
                    if size > limit:
                        raise response_too_large(
                            self._provider, "a response body", limit, "max_response_bytes"
                        )
                    chunks.append(chunk)
            return Answer(response.status, response.headers, b"".join(chunks))
        finally:
            await response.close()

    async def post(
        self,
        path: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST `content` to `path` and read the whole answer, whatever its status."""
        return await self._read(
            await self._transport.send(self._request("POST", path, content, headers, params, streamed=False))
        )

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Answer:
        """GET `path` (a model list, a probe) and read the whole answer, whatever its status."""
        return await self._read(
            await self._transport.send(self._request("GET", path, b"", None, params, streamed=False))
        )

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """POST `content` to `path` and give the answer with its body unread (an event stream to read
        through `decoding.decoded`, or an error to `read`); closed when the block ends, dropping its
        connection if unfinished."""
        response = await self._transport.send(
            self._request("POST", path, content, headers, params, streamed=True)
        )
        try:
            yield response
        finally:
            await response.close()

    async def read(self, response: UpstreamResponse) -> Answer:
        """The whole body of a streamed answer (an error's), within `max_response_bytes`."""
        return await self._read(response)

    async def aclose(self) -> None:
        await self._transport.aclose()
