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
from collections.abc import Awaitable, Callable

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


async def serve(host: str, port: int, upstream: str, key: str) -> None:
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
                status=answer.status, headers={"content-type": answer.headers.get("content-type", "")}
            )
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
        return response

    try:
        await serve_completions(host, port, completions)
    finally:
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_passthrough")
    parser.add_argument("--listen", required=True, help="host:port")
    parser.add_argument("--upstream", required=True, help="the upstream's base URL (…/v1)")
    parser.add_argument("--key", default="", help="the upstream's API key")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    uvloop.run(serve(host, int(port), args.upstream, args.key))


if __name__ == "__main__":
    main()
