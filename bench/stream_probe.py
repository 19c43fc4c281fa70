"""Timing of streamed replies, one stream at a time: time to first token, gaps between tokens, and
the rate at which tokens arrive.

The same measurement runs against a gRPC target (the gateway or the minimal forwarder: ChatStream)
and against the upstream directly (OpenAI SSE over httpx), so the difference is what the gRPC hop
adds. A "token" is a message (gRPC) or an SSE event (HTTP) that carries reply text.

    python -m bench.stream_probe grpc 127.0.0.1:18100 --model fast --streams 200 [--api-key K]
    python -m bench.stream_probe http http://127.0.0.1:18000/v1 --model gpt-4o-mini --streams 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import httpx

from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

PROMPT = "Say something."


@dataclass
class StreamTimes:
    """Seconds from the start of the call to each text-carrying message."""

    arrivals: list[float] = field(default_factory=list)
    total: float = 0.0


async def grpc_texts(target: str, model: str, api_key: str | None) -> Callable[[], AsyncIterator[str]]:
    channel = grpc.aio.insecure_channel(target)
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
    request = chat_pb2.ChatStreamRequest(
        model=model,
        messages=[content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=PROMPT)])],
    )

    async def texts() -> AsyncIterator[str]:
        async for message in stub.ChatStream(request, metadata=metadata, timeout=30):
            if message.delta.text:
                yield message.delta.text

    return texts


async def http_texts(base_url: str, model: str, api_key: str | None) -> Callable[[], AsyncIterator[str]]:
    # No key, no header (the gateway with auth off): "Bearer " alone is not a valid header value.
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def texts() -> AsyncIterator[str]:
        async with client.stream("POST", "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    yield chunk["choices"][0]["delta"]["content"]

    return texts


async def measure(texts: Callable[[], AsyncIterator[str]], streams: int, warmup: int) -> list[StreamTimes]:
    results: list[StreamTimes] = []
    for index in range(warmup + streams):
        times = StreamTimes()
        start = time.perf_counter()
        async for _ in texts():
            times.arrivals.append(time.perf_counter() - start)
        times.total = time.perf_counter() - start
        if index >= warmup:
            results.append(times)
    return results


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarise(results: list[StreamTimes]) -> dict[str, float]:
    """Milliseconds, except `tokens_per_stream` and `tokens_per_s` (a single stream's relay rate)."""
    ttft = [r.arrivals[0] * 1000 for r in results if r.arrivals]
    gaps = [(b - a) * 1000 for r in results for a, b in zip(r.arrivals, r.arrivals[1:], strict=False)]
    tokens = [len(r.arrivals) for r in results]
    busy = sum(r.arrivals[-1] - r.arrivals[0] for r in results if len(r.arrivals) > 1)
    relayed = sum(len(r.arrivals) - 1 for r in results if len(r.arrivals) > 1)
    return {
        "streams": len(results),
        "tokens_per_stream": statistics.mean(tokens),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p99_ms": percentile(ttft, 99),
        "gap_p50_ms": percentile(gaps, 50),
        "gap_p99_ms": percentile(gaps, 99),
        "tokens_per_s": relayed / busy if busy > 0 else 0.0,
        "stream_p50_ms": percentile([r.total * 1000 for r in results], 50),
    }


async def run(args: argparse.Namespace) -> dict[str, float]:
    if args.kind == "grpc":
        texts = await grpc_texts(args.target, args.model, args.api_key)
    else:
        texts = await http_texts(args.target, args.model, args.api_key)
    return summarise(await measure(texts, args.streams, args.warmup))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_probe")
    parser.add_argument("kind", choices=["grpc", "http"])
    parser.add_argument("target", help="HOST:PORT (grpc) or a base URL ending in /v1 (http)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
