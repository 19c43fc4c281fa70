"""Media inlining: data: URIs, and https fetching only when enabled and only to public addresses."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from aiohttp import web

from llmgateway.config import MediaSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.media import MediaFetcher, decode_data_uri, media_bytes
from llmgateway.v1 import content_pb2
from tests.pki import make_pki

PNG = b"\x89PNG\r\n\x1a\n-not-really"


def test_data_uris() -> None:
    assert decode_data_uri("data:image/png;base64,iVBORw==") == (b"\x89PNG", "image/png")
    assert decode_data_uri("data:,hello%20there") == (b"hello there", "text/plain")
    for bad in ("data:image/png;base64,@@@", "data:nocomma"):
        with pytest.raises(GatewayError) as error:
            decode_data_uri(bad)
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_inline_data_and_fetching_off_by_default() -> None:
    fetcher = MediaFetcher(MediaSettings())
    try:
        inline = content_pb2.Media(mime_type="image/png", data=PNG)
        assert await media_bytes(inline, "p", fetcher) == (PNG, "image/png")
        by_uri = content_pb2.Media(uri="https://example.com/cat.png")
        with pytest.raises(GatewayError) as error:
            await media_bytes(by_uri, "p", fetcher)
        assert (error.value.code, error.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "UNSUPPORTED_CAPABILITY",
        )
    finally:
        await fetcher.aclose()


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/cat.png",  # not https
        "https://127.0.0.1/cat.png",  # loopback
        "https://localhost/cat.png",  # a name that resolves to loopback
        "https://10.1.2.3/cat.png",  # private (refused before any connection is made)
        "https://192.168.0.10/cat.png",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[::1]/cat.png",
        "https://[::ffff:127.0.0.1]/cat.png",  # IPv4-mapped loopback
        "file:///etc/passwd",
    ],
)
async def test_refuses_non_public_targets(uri: str) -> None:
    fetcher = MediaFetcher(MediaSettings(fetch_uris=True))
    try:
        with pytest.raises(GatewayError) as error:
            await fetcher.fetch(uri)
        assert (error.value.code, error.value.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MEDIA_URI_REFUSED",
        )
    finally:
        await fetcher.aclose()


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 with a test CA, for the paths a public host would take."""
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server"], pki["server_key"])

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="image/png")

    async def to_http(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1/cat.png")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to_image(request: web.Request) -> web.Response:
        raise web.HTTPFound("/cat.png")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(body=PNG)

    app = web.Application()
    app.add_routes(
        [
            web.get("/cat.png", image),
            web.get("/big.png", big),
            web.get("/to-http", to_http),
            web.get("/loop", loop),
            web.get("/to-image", to_image),
            web.get("/slow", slow),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}", pki["ca"]
    await runner.cleanup()


async def test_fetch_with_redirects_size_and_time_caps(https_server: tuple[str, Path]) -> None:
    base, ca = https_server
    settings = MediaSettings(
        fetch_uris=True,
        allow_private_addresses=True,
        ca_file=ca,
        max_bytes=1000,
        timeout_s=0.5,
        max_redirects=2,
    )
    fetcher = MediaFetcher(settings)
    try:
        assert await fetcher.fetch(f"{base}/cat.png") == (PNG, "image/png")
        assert await fetcher.fetch(f"{base}/to-image") == (PNG, "image/png")
        media = content_pb2.Media(uri=f"{base}/cat.png")
        assert await media_bytes(media, "p", fetcher) == (PNG, "image/png")
        for path, reason in [
            ("/to-http", "MEDIA_URI_REFUSED"),  # every hop is checked again
            ("/loop", "MEDIA_FETCH_FAILED"),
            ("/big.png", "MEDIA_TOO_LARGE"),
            ("/slow", "MEDIA_FETCH_FAILED"),
            ("/missing", "MEDIA_FETCH_FAILED"),
        ]:
            with pytest.raises(GatewayError) as error:
                await fetcher.fetch(base + path)
            assert error.value.reason == reason, path
    finally:
        await fetcher.aclose()
