"""The least an HTTP relay on the gateway's HTTP stack can do per token (issue 25, item 2): an
aiohttp server that answers `POST /v1/chat/completions` by sending the request to the upstream with
an aiohttp client and writing the upstream's SSE bytes back as they arrive, chunk for chunk — no
parsing, no translation, no accounting. The gateway's OpenAI door does all of this plus read each
event, translate it to the domain model and back, count and settle; so no door on aiohttp can relay
a token for less CPU than this does at the same K, and the gap between the two is what the door's
own work costs.

    python -m bench.sse_passthrough --listen 127.0.0.1:18400 --upstream http://127.0.0.1:18000/v1 --key sk-bench
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import uvloop
from aiohttp import web


async def serve_completions(
    host: str, port: int, completions: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> None:
    """`POST /v1/chat/completions` answered by `completions` on aiohttp, until cancelled (also the
    SSE floor's server, bench/paced_floor.py)."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# What a relay does with one upstream answer once the caller's response is prepared.
Relay = Callable[[aiohttp.ClientResponse, web.StreamResponse], Awaitable[None]]


async def serve_relay(
    host: str, port: int, upstream: str, key: str, relay: Relay, *, content_type: str = ""
) -> None:
    """`POST /v1/chat/completions` sent upstream with an aiohttp client and its answer handed to
    `relay`, the caller's response carrying the upstream's status and `content_type` (the upstream's
    own when empty); shared with bench/sse_forwarder.py."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None),
    )
    url = upstream.rstrip("/") + "/chat/completions"
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with session.post(url, data=body, headers=headers) as answer:
            response = web.StreamResponse(
                status=answer.status,
                headers={"content-type": content_type or answer.headers.get("content-type", "")},
            )
            await response.prepare(request)
            await relay(answer, response)
        return response

    try:
        await serve_completions(host, port, completions)
    finally:
        await session.close()


async def passed_through(answer: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
    async for chunk in answer.content.iter_any():
        await response.write(chunk)


async def serve(host: str, port: int, upstream: str, key: str) -> None:
    await serve_relay(host, port, upstream, key, passed_through)


def relay_main(prog: str, serve_one: Callable[[str, int, str, str], Coroutine[Any, Any, None]]) -> None:
    """The command line of an upstream relay: `--listen host:port --upstream URL --key KEY`."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--listen", required=True, help="host:port")
    parser.add_argument("--upstream", required=True, help="the upstream's base URL (…/v1)")
    parser.add_argument("--key", default="", help="the upstream's API key")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    uvloop.run(serve_one(host, int(port), args.upstream, args.key))


if __name__ == "__main__":
    relay_main("python -m bench.sse_passthrough", serve)
