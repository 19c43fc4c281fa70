"""The minimal forwarder of issue 25 item 2 speaking SSE, as the issue's load client does to every
target: an aiohttp server that answers `POST /v1/chat/completions` by sending the request upstream
with an aiohttp client and, for each SSE event of the answer, parsing its JSON and writing back an
OpenAI chunk built from it (id, model, the choices' deltas and finish reasons, usage) — the per-token
work any OpenAI relay must do, and nothing else: no auth, limits, accounting, domain model or
observability. bench/minimal_forwarder.py is the same relay with a gRPC front (grpc.aio), which
bounds it by grpc.aio's own capacity; bench/sse_passthrough.py writes the bytes back unread.

    python -m bench.sse_forwarder --listen 127.0.0.1:18500 --upstream http://127.0.0.1:18000/v1 --key sk-bench
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.sse_passthrough import relay_main, serve_relay


def rewritten(data: bytes) -> bytes:
    """One upstream chunk's JSON as the chunk this forwarder sends."""
    parsed = orjson.loads(data)
    chunk: dict[str, Any] = {
        "id": parsed.get("id"),
        "object": "chat.completion.chunk",
        "created": parsed.get("created"),
        "model": parsed.get("model"),
        "choices": [
            {
                "index": choice.get("index", 0),
                "delta": choice.get("delta") or {},
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in parsed.get("choices") or []
        ],
    }
    if "usage" in parsed:
        chunk["usage"] = parsed["usage"]
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def rewriting(answer: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
    held = b""  # an event not yet ended by its blank line (LF endings, as the bench upstream's)
    async for chunk in answer.content.iter_any():
        events = (held + chunk).split(b"\n\n")
        held = events.pop()
        for event in events:
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            await response.write(b"data: [DONE]\n\n" if data == b"[DONE]" else rewritten(data))


async def serve(host: str, port: int, upstream: str, key: str) -> None:
    await serve_relay(host, port, upstream, key, rewriting, content_type="text/event-stream")


if __name__ == "__main__":
    relay_main("python -m bench.sse_forwarder", serve)
