"""Media for providers: inline bytes, data: URIs, and (only when configured) fetched https URIs.

Fetching is off by default. When on, a URI must be https; its host must resolve only to public
addresses (no private, loopback, link-local, multicast or reserved ranges); redirects are followed
by hand so every hop is checked again; the body is capped in size and the whole fetch in time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from contextlib import aclosing
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from llmgateway.config import MediaSettings
from llmgateway.errors import GatewayError, unsupported_capability
from llmgateway.providers.http.decoding import decoded
from llmgateway.providers.http.httpx_transport import HttpxTransport
from llmgateway.providers.http.transport import Timeouts, UpstreamRequest, UpstreamResponse
from llmgateway.reasons import Reason
from llmgateway.v1 import content_pb2

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What httpx's client sent with each fetch before the transport seam.
_HEADERS = [
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("User-Agent", f"python-httpx/{httpx.__version__}"),
]
_TRANSPORT_FAILURES = frozenset(
    {
        Reason.UPSTREAM_TIMEOUT,
        Reason.UPSTREAM_CONNECT_FAILED,
        Reason.UPSTREAM_CONNECTION_LOST,
        Reason.UPSTREAM_ERROR,
    }
)


def _media_error(reason: Reason, message: str, uri: str) -> GatewayError:
    # The caller sent the URI, so a URI the gateway will not or cannot fetch is the caller's error.
    return GatewayError(reason, message, metadata={"uri": uri[:200]})


def decode_data_uri(uri: str) -> tuple[bytes, str]:
    """(bytes, mime type) of a `data:` URI; raises INVALID_ARGUMENT when malformed."""
    header, comma, payload = uri.partition(",")
    if not comma or not header.startswith("data:"):
        raise _media_error(Reason.INVALID_MEDIA_URI, "malformed data: URI", uri)
    parameters = header[len("data:") :].split(";")
    mime_type = parameters[0] or "text/plain"
    try:
        if "base64" in parameters[1:]:
            return base64.b64decode(payload, validate=True), mime_type
        return unquote_to_bytes(payload), mime_type
    except (binascii.Error, ValueError):
        raise _media_error(Reason.INVALID_MEDIA_URI, "data: URI with invalid base64", uri) from None


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class MediaFetcher:
    """Fetches https media URIs under the configured guards, over the httpx transport (the one
    that also carries HTTP/2 to providers; media fetches are rare, so aiohttp's lower cost per call
    does not matter here)."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        verify: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.ca_file))
        self._transport = HttpxTransport("media", verify=verify)
        limit = settings.timeout_s
        self._timeouts = Timeouts(connect=limit, pool=limit, read=limit, write=limit)

    @property
    def enabled(self) -> bool:
        return self._settings.fetch_uris

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _check_host(self, uri: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            raise _media_error(Reason.MEDIA_URI_REFUSED, "only https:// media URIs are fetched", uri)
        if self._settings.allow_private_addresses:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            )
        except OSError:
            raise _media_error(Reason.MEDIA_FETCH_FAILED, f"cannot resolve {parts.hostname!r}", uri) from None
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(_is_public(address) for address in addresses):
            raise _media_error(
                Reason.MEDIA_URI_REFUSED, f"{parts.hostname!r} resolves to a non-public address", uri
            )

    async def fetch(self, uri: str) -> tuple[bytes, str]:
        """(bytes, mime type) of an https URI; INVALID_ARGUMENT when refused or failed."""
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                return await self._fetch(uri)
        except TimeoutError:
            raise _media_error(Reason.MEDIA_FETCH_FAILED, "fetching the media URI timed out", uri) from None
        except GatewayError as error:
            if error.reason not in _TRANSPORT_FAILURES:
                raise
            # The transport's failure, told to the caller as theirs: the URI is what they sent.
            cause = type(error.__cause__).__name__ if error.__cause__ is not None else error.reason
            raise _media_error(
                Reason.MEDIA_FETCH_FAILED, f"fetching the media URI failed ({cause})", uri
            ) from None

    async def _fetch(self, uri: str) -> tuple[bytes, str]:
        for _ in range(self._settings.max_redirects + 1):
            await self._check_host(uri)
            response = await self._transport.send(self._request(uri))
            try:
                location = response.headers.get("location")
                if response.status in _REDIRECTS and location is not None:
                    uri = urljoin(uri, location)
                    continue
                if response.status != 200:
                    raise _media_error(
                        Reason.MEDIA_FETCH_FAILED, f"the media URI answered HTTP {response.status}", uri
                    )
                return await self._read(uri, response), _mime_type(response.headers)
            finally:
                await response.close()
        raise _media_error(Reason.MEDIA_FETCH_FAILED, "too many redirects", uri)

    def _request(self, uri: str) -> UpstreamRequest:
        return UpstreamRequest("GET", uri, _HEADERS, b"", self._timeouts)

    async def _read(self, uri: str, response: UpstreamResponse) -> bytes:
        too_large = f"media is larger than {self._settings.max_bytes} bytes"
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._settings.max_bytes:
            raise _media_error(Reason.MEDIA_TOO_LARGE, too_large, uri)
        body = bytearray()
        async with aclosing(decoded(response, "media")) as chunks:
            async for chunk in chunks:
                body += chunk
                if len(body) > self._settings.max_bytes:
                    raise _media_error(Reason.MEDIA_TOO_LARGE, too_large, uri)
        return bytes(body)


def _mime_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "application/octet-stream").split(";")[0].strip()


async def media_bytes(media: content_pb2.Media, provider: str, fetcher: MediaFetcher) -> tuple[bytes, str]:
    """The media's bytes and mime type, for providers that only accept inline data.

    Inline data as is; a data: URI decoded; an https URI fetched when fetching is enabled, else
    FAILED_PRECONDITION (UNSUPPORTED_CAPABILITY) naming the provider.
    """
    if media.WhichOneof("source") == "data":
        return media.data, media.mime_type
    if media.uri.startswith("data:"):
        data, mime_type = decode_data_uri(media.uri)
        return data, media.mime_type or mime_type
    if not fetcher.enabled:
        raise unsupported_capability(provider, "media by URI (enable media.fetch_uris to inline it)")
    data, mime_type = await fetcher.fetch(media.uri)
    return data, media.mime_type or mime_type
