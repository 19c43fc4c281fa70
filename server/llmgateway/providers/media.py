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
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import grpc
import httpx

from llmgateway.config import MediaSettings
from llmgateway.errors import GatewayError, unsupported_capability
from llmgateway.reasons import Reason
from llmgateway.v1 import content_pb2


def _media_error(reason: Reason, message: str, uri: str) -> GatewayError:
    # The caller sent the URI, so a URI the gateway will not or cannot fetch is the caller's error.
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, metadata={"uri": uri[:200]})


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
    """Fetches https media URIs under the configured guards."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        verify: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.ca_file))
        self._client = httpx.AsyncClient(
            timeout=settings.timeout_s, follow_redirects=False, trust_env=False, verify=verify
        )

    @property
    def enabled(self) -> bool:
        return self._settings.fetch_uris

    async def aclose(self) -> None:
        await self._client.aclose()

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
        except httpx.HTTPError as error:
            raise _media_error(
                Reason.MEDIA_FETCH_FAILED, f"fetching the media URI failed ({type(error).__name__})", uri
            ) from None

    async def _fetch(self, uri: str) -> tuple[bytes, str]:
        for _ in range(self._settings.max_redirects + 1):
            await self._check_host(uri)
            async with self._client.stream("GET", uri) as response:
                if response.is_redirect and "location" in response.headers:
                    uri = urljoin(uri, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise _media_error(
                        Reason.MEDIA_FETCH_FAILED, f"the media URI answered HTTP {response.status_code}", uri
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self._settings.max_bytes:
                    raise _media_error(
                        Reason.MEDIA_TOO_LARGE, f"media is larger than {self._settings.max_bytes} bytes", uri
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._settings.max_bytes:
                        raise _media_error(
                            Reason.MEDIA_TOO_LARGE,
                            f"media is larger than {self._settings.max_bytes} bytes",
                            uri,
                        )
                mime_type = (
                    response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
                )
                return bytes(body), mime_type
        raise _media_error(Reason.MEDIA_FETCH_FAILED, "too many redirects", uri)


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
