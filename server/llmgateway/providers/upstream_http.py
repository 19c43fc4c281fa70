"""Pooled HTTP clients for providers, and upstream HTTP failures mapped to GatewayErrors."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import orjson
from opentelemetry import propagate

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.aiohttp_transport import AiohttpTransport, body_chunks
from llmgateway.providers.wire_json import loads_object
from llmgateway.reasons import Reason

# Statuses that say "try again" rather than "this request is wrong".
_UNAVAILABLE_STATUSES = frozenset({408, 409, 500, 502, 503, 504, 520, 522, 524, 529})


async def _inject_trace_context(request: httpx.Request) -> None:
    # W3C traceparent/tracestate of the current span (the upstream attempt's), for upstreams
    # whose own traces should join the gateway's.
    propagate.inject(request.headers)


def _transport(settings: ProviderSettings) -> httpx.AsyncBaseTransport:
    """The connection pool, sized from the provider's settings. HTTP/1.1 through aiohttp by default
    (the cheapest per call, see aiohttp_transport); with `http2`, httpx's own pool, which offers
    HTTP/2 by ALPN on https (falling back to HTTP/1.1) and uses it with prior knowledge on http."""
    if settings.http2:
        return httpx.AsyncHTTPTransport(
            http1=settings.base_url is None or settings.base_url.startswith("https:"),
            http2=True,
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
                keepalive_expiry=settings.keepalive_expiry_s,
            ),
            trust_env=False,
        )
    return AiohttpTransport(
        max_connections=settings.max_connections, keepalive_expiry_s=settings.keepalive_expiry_s
    )


async def read_body(response: httpx.Response, provider: str, limit: int) -> None:
    """Read the whole body of `response` into it (then `response.content` holds it), failing with
    UPSTREAM_RESPONSE_TOO_LARGE past `limit` bytes: at once when Content-Length announces more,
    else as soon as the bytes read pass it, so at most `limit` plus one read chunk is held. Decoded
    bytes are counted, so a small compressed body cannot inflate past the cap. The response is
    closed either way; closed half-read, its connection is dropped rather than pooled."""
    try:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise response_too_large(
                provider, f"a response body announced as {declared} bytes", limit, "max_response_bytes"
            )
        chunks: list[bytes] = []
        size = 0
        body = body_chunks(response)
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                # Closed here rather than left to the garbage collector, which would finalize the
                # suspended generator in another task.
                await body.aclose()
                raise response_too_large(provider, "a response body", limit, "max_response_bytes")
            chunks.append(chunk)
        # What `aread` does with the chunks it reads; httpx has no public way to hand a response a
        # body read by other means, and the adapters read `content` and `text` as with `aread`.
        response._content = b"".join(chunks)
    finally:
        await response.aclose()


class _CappedClient(httpx.AsyncClient):
    """httpx's client, except that a body it reads whole (`get`, `post`, `request`: model lists,
    probes) is read by `read_body` within the provider's `max_response_bytes`. Streams (`stream`,
    `send(stream=True)`) are left to the caller, whose decoder caps each event."""

    def __init__(self, *, provider: str, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._provider = provider
        self._max_body_bytes = max_body_bytes

    async def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        response = await super().send(request, stream=True, **kwargs)
        if not stream:
            await read_body(response, self._provider, self._max_body_bytes)
        return response


# Request URLs kept per provider; beyond this many distinct paths the memory starts again.
_MAX_REMEMBERED_URLS = 256


class UpstreamHttp:
    """A provider's pooled HTTP client, sized by its settings; per-request timeouts are set by the
    adapter. Trace context goes upstream only when the provider's `propagate_trace_context` says so.
    Every body read whole is capped at the provider's `max_response_bytes` (`read_body`).

    `post` is the unary call, the hot path: it builds the request with the client's base URL,
    headers and timeouts and hands it straight to the connection pool. `client.post` would also
    run httpx's cookie jar, auth flow, redirect loop and event hooks, none of which a provider call
    uses (redirects are never followed, credentials are headers), at about half a millisecond of
    CPU per call on the benchmark machine (bench/RESULTS.md). It does not use `client.build_request`
    either: that parses and merges the URL and copies the client's headers on every call (about
    0.14 ms there, against 0.03 ms for a request made from a URL built once per path and the
    client's header pairs). `stream` opens a streamed answer the same way. Model lists and probes
    use `client`, the full httpx.AsyncClient over the same pool.
    """

    def __init__(self, settings: ProviderSettings, base_url: str, headers: Mapping[str, str]) -> None:
        self._transport = _transport(settings)
        self._propagate = settings.propagate_trace_context
        self._provider = settings.name
        self._max_response_bytes = settings.max_response_bytes
        hooks: dict[str, list[Callable[[httpx.Request], Awaitable[None]]]] = (
            {"request": [_inject_trace_context]} if self._propagate else {}
        )
        self.client = _CappedClient(
            provider=settings.name,
            max_body_bytes=settings.max_response_bytes,
            transport=self._transport,
            event_hooks=hooks,
            base_url=base_url,
            headers={**settings.headers, **headers},
            timeout=httpx.Timeout(settings.timeouts.total_s, connect=settings.timeouts.connect_s),
            # Redirects are never followed: a provider API does not redirect, and following one
            # could carry our credentials to another host.
            follow_redirects=False,
            trust_env=False,
        )
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[httpx.URL, bytes]] = {}
        self._default_headers: list[tuple[bytes, bytes]] = list(self.client.headers.raw)
        self._default_names = frozenset(name.lower() for name, _ in self._default_headers)
        self._timeout = {"timeout": self.client.timeout.as_dict()}
        # A stream's reads are bounded between events by the adapters (`paced`), which tell a slow
        # first token from a stall mid-stream; the pool only bounds connecting and sending.
        stream_timeout = httpx.Timeout(
            None, connect=settings.timeouts.connect_s, write=settings.timeouts.connect_s
        )
        self._stream_timeout = {"timeout": stream_timeout.as_dict()}

    def _url(self, path: str, params: Mapping[str, str] | None) -> tuple[httpx.URL, bytes]:
        """The URL `client.build_request` would make, and its Host header, made once per path and
        query."""
        key = (path, tuple(params.items()) if params else ())
        made = self._urls.get(key)
        if made is None:
            if len(self._urls) >= _MAX_REMEMBERED_URLS:  # paths can hold caller-chosen model names
                self._urls.clear()
            url = self.client.build_request("POST", path, params=params).url
            made = self._urls[key] = (url, url.netloc)
        return made

    def _headers(
        self, headers: Mapping[str, str] | None
    ) -> tuple[list[tuple[bytes, bytes]], frozenset[bytes]]:
        """The client's headers with the request's own on top (replacing any of the same name), as
        httpx would encode them (ASCII), and their lower-cased names."""
        if not headers:
            return self._default_headers, self._default_names
        own = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        replaced = frozenset(name.lower() for name, _ in own)
        kept = [pair for pair in self._default_headers if pair[0].lower() not in replaced]
        return kept + own, replaced | self._default_names

    def _request(
        self,
        path: str,
        content: bytes,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        extensions: dict[str, Any],
    ) -> httpx.Request:
        url, host = self._url(path, params)
        pairs, names = self._headers(headers)
        # The Host and Content-Length headers httpx adds to a request made with `content=`, made
        # here in the same places (neither when given): handed a ready stream, httpx skips the step
        # that adds them, which builds the headers twice and took about 20 of the request's 26 µs
        # on the benchmark machine.
        head = [] if b"host" in names else [(b"Host", host)]
        tail: list[tuple[bytes, bytes]] = []
        if b"content-length" not in names and b"transfer-encoding" not in names:
            # httpx appends the length of a body after the given headers, and puts the "0" of an
            # empty one among its own, after Host.
            (tail if content else head).append((b"Content-Length", str(len(content)).encode()))
        request = httpx.Request(
            "POST",
            url,
            headers=[*head, *pairs, *tail],
            stream=httpx.ByteStream(content),
            extensions=extensions,
        )
        request.read()  # `content` readable, as for a request made with `content=`
        if self._propagate:
            propagate.inject(request.headers)
        return request

    async def post(
        self,
        path: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST `content` to `path` and read the whole answer, whatever its status, within
        `max_response_bytes`."""
        request = self._request(path, content, headers, params, self._timeout)
        response = await self._transport.handle_async_request(request)
        await self.read(response)
        return response

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """POST `content` to `path` and give the answer with its body unread (an event stream, or an
        error to `read`); closed when the block ends, dropping its connection if unfinished."""
        request = self._request(path, content, headers, params, self._stream_timeout)
        response = await self._transport.handle_async_request(request)
        try:
            yield response
        finally:
            await response.aclose()

    async def read(self, response: httpx.Response) -> None:
        """Read the whole body of a streamed response (an error answer) within `max_response_bytes`."""
        await read_body(response, self._provider, self._max_response_bytes)

    async def aclose(self) -> None:
        await self.client.aclose()


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret from provider text. Only whole secrets: providers that quote a key
    mask it themselves, and a key's prefix (`sk-proj-`) is shared by every key, so replacing it
    would only mangle the message."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "[REDACTED]")
    return text


def error_from_status(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    message: str,
    provider_code: str = "",
) -> GatewayError:
    """An upstream HTTP error status as a GatewayError; `message` must already be redacted."""
    retry_after = parse_retry_after(headers)
    metadata = {"provider": provider, "upstream_status": str(status)}
    if provider_code:
        metadata["upstream_code"] = provider_code
    if status in (401, 403):
        # The gateway's own credentials were refused: not the caller's fault, and the provider's
        # message may quote part of the key, so it is not passed on.
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_AUTH_FAILED,
            f"provider {provider!r} refused the gateway's credentials (HTTP {status})",
            metadata=metadata,
        )
    if status == 429:
        if provider_code == "insufficient_quota":
            return GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                Reason.UPSTREAM_QUOTA_EXHAUSTED,
                f"provider {provider!r} account quota is exhausted: {message}",
                metadata=metadata,
            )
        return GatewayError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            Reason.UPSTREAM_RATE_LIMITED,
            f"provider {provider!r} is rate limiting: {message}",
            metadata=metadata,
            retry_after=retry_after if retry_after is not None else 1.0,
        )
    if status == 404:
        return GatewayError(
            grpc.StatusCode.NOT_FOUND,
            Reason.UPSTREAM_NOT_FOUND,
            f"provider {provider!r} does not know the requested model or path: {message}",
            metadata=metadata,
        )
    if status == 413:
        return GatewayError(
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.REQUEST_TOO_LARGE,
            f"provider {provider!r} refused the request as too large: {message}",
            metadata=metadata,
        )
    if status in _UNAVAILABLE_STATUSES or status >= 500:
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_UNAVAILABLE,
            f"provider {provider!r} failed (HTTP {status}): {message}",
            metadata=metadata,
            retry_after=retry_after,
        )
    if provider_code == "context_length_exceeded":
        return GatewayError(
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.CONTEXT_LENGTH_EXCEEDED,
            f"the request does not fit the model's context window: {message}",
            metadata=metadata,
        )
    if provider_code == "content_filter":
        return GatewayError(
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.CONTENT_FILTERED,
            f"provider {provider!r} filtered the prompt: {message}",
            metadata=metadata,
        )
    return GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.UPSTREAM_REJECTED_REQUEST,
        f"provider {provider!r} rejected the request (HTTP {status}): {message}",
        metadata=metadata,
    )


def malformed_response(provider: str, what: str) -> GatewayError:
    """The provider answered something that does not follow its protocol."""
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.UPSTREAM_MALFORMED_RESPONSE,
        f"provider {provider!r} sent a malformed response: {what}",
        metadata={"provider": provider},
    )


def json_object_body(provider: str, body: bytes) -> dict[str, Any]:
    """A provider's answer as the JSON object its protocol promises, or UPSTREAM_MALFORMED_RESPONSE
    saying what is wrong with it (not UTF-8, not JSON, not an object) rather than what is missing."""
    payload = loads_object(body)
    if payload is not None:
        return payload
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise malformed_response(provider, f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed_response(provider, "the body is not JSON") from None
    raise malformed_response(provider, f"the body is a JSON {type(value).__name__}, not an object")


def response_too_large(provider: str, what: str, limit: int, setting: str) -> GatewayError:
    """The provider sent more than the gateway holds for one body or stream event (`setting`).
    A well-behaved provider never does, so it is this deployment misbehaving (or a base_url that
    points at something else): UNAVAILABLE, for the router to try another deployment."""
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.UPSTREAM_RESPONSE_TOO_LARGE,
        f"provider {provider!r} sent {what} over the {limit}-byte limit ({setting})",
        metadata={"provider": provider, "limit_bytes": str(limit)},
    )


def stream_cut(provider: str, what: str) -> GatewayError:
    """The provider's stream ended before its terminator."""
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.UPSTREAM_STREAM_CUT,
        f"provider {provider!r} stream ended early: {what}",
        metadata={"provider": provider},
    )


def stalled(provider: str, what: str, seconds: float) -> GatewayError:
    """The provider sent nothing for longer than the configured timeout."""
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.UPSTREAM_STALL,
        f"provider {provider!r} sent no {what} for {seconds:g}s",
        metadata={"provider": provider},
    )


@asynccontextmanager
async def transport_errors(provider: str) -> AsyncIterator[None]:
    """Map httpx transport failures to GatewayErrors. The exception text is not passed on: it can
    hold upstream URLs, which for some providers carry credentials."""
    try:
        yield
    except httpx.TimeoutException as error:
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_TIMEOUT,
            f"provider {provider!r} timed out ({type(error).__name__})",
            metadata={"provider": provider},
        ) from error
    except httpx.ConnectError as error:
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_CONNECT_FAILED,
            f"cannot connect to provider {provider!r}",
            metadata={"provider": provider},
        ) from error
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_CONNECTION_LOST,
            f"the connection to provider {provider!r} broke ({type(error).__name__})",
            metadata={"provider": provider},
        ) from error
    except httpx.HTTPError as error:
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            Reason.UPSTREAM_ERROR,
            f"the call to provider {provider!r} failed ({type(error).__name__})",
            metadata={"provider": provider},
        ) from error
