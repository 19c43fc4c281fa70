"""Other calls while huge upstream bodies arrive: does reading them stall the gateway's event loop?

An upstream (a process of its own: this module with `--serve`) answers every completion with a
60 MiB JSON body, plain or gzip. The gateway (`llmgateway serve --workers 1`, in its own process)
refuses each at `max_response_bytes`. While 20 such calls run at once, over and over, a probe calls
the built-in `echo` model every 50 ms; the same probe runs alone first. The figure is the probe's
latency under the load against alone, in one run: a gateway that reads or inflates a body in one
piece holds the loop for its whole length, and the probe shows it.

    python -m bench.big_bodies [--seconds 10] [--gzip]      (make bench-bodies runs both encodings)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import yaml

from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BODY_BYTES = 60 * 1024 * 1024
CONCURRENT = 20
PROBE_EVERY_S = 0.05


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(port: int, compress: bool) -> None:
    """Answer every request with a 60 MiB JSON body, chunked (so no length gives it away early)."""
    body = b'{"pad": "' + b"0123456789abcdef" * (BODY_BYTES // 16) + b'"}'
    payload = gzip.compress(body, compresslevel=6) if compress else body
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n"
    head += b"content-encoding: gzip\r\n\r\n" if compress else b"\r\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in request.lower().split(b"\r\n")
                        if line.startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(head)
                for start in range(0, len(payload), 256 * 1024):
                    piece = payload[start : start + 256 * 1024]
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _request(model: str) -> chat_pb2.ChatRequest:
    text = content_pb2.Part(text="ping")
    return chat_pb2.ChatRequest(
        model=model, messages=[content_pb2.Message(role=content_pb2.ROLE_USER, parts=[text])]
    )


async def _probe(stub: chat_pb2_grpc.ChatServiceAsyncStub, seconds: float) -> list[float]:
    latencies = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        await stub.Chat(_request("echo"), timeout=60)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(PROBE_EVERY_S)
    return latencies


async def _load(stub: chat_pb2_grpc.ChatServiceAsyncStub, seconds: float) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    until = time.monotonic() + seconds

    async def one() -> None:
        while time.monotonic() < until:
            try:
                await stub.Chat(_request("big"), timeout=60)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            outcomes[code] = outcomes.get(code, 0) + 1

    await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    return outcomes


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "calls": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def _measure(address: str, seconds: float) -> dict[str, object]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        await _probe(stub, 1.0)  # warm-up
        alone = await _probe(stub, seconds)
        loaded, outcomes = await asyncio.gather(_probe(stub, seconds), _load(stub, seconds))
    result: dict[str, object] = {
        "alone": _summary(alone),
        "under_load": _summary(loaded),
        "big_calls": outcomes,
    }
    result["max_ratio"] = round(max(loaded) / max(alone), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--gzip", action="store_true", help="the upstream's bodies gzip-encoded")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.gzip))
        return
    upstream_port, gateway_port = _free_port(), _free_port()
    config = {
        "server": {
            "listen": f"127.0.0.1:{gateway_port}",
            "http_listen": None,
            "metrics_listen": None,
            "workers": 1,
        },
        "auth": {"enabled": False},
        "observability": {"access_log": False},
        "providers": [
            {"name": "big", "type": "openai", "base_url": f"http://127.0.0.1:{upstream_port}"},
            {"name": "echo", "type": "echo"},
        ],
        "models": [
            {"name": "big", "deployments": [{"provider": "big", "model": "gpt-4o-mini"}]},
            {"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]},
        ],
        # Every big call must reach the upstream: no breaker opening on the refusals.
        "routing": {
            "retry": {"max_retries": 0},
            "breaker": {"consecutive_failures": 1_000_000, "min_calls": 1_000_000},
        },
    }
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        flags = ["--gzip"] if args.gzip else []
        upstream = subprocess.Popen(
            [sys.executable, "-m", "bench.big_bodies", "--serve", str(upstream_port), *flags]
        )
        gateway = subprocess.Popen(
            [str(Path(sys.executable).parent / "llmgateway"), "serve", "--config", str(path)]
        )
        try:
            time.sleep(3)
            result = asyncio.run(_measure(f"127.0.0.1:{gateway_port}", args.seconds))
        finally:
            gateway.terminate()
            upstream.terminate()
            gateway.wait(60)
            upstream.wait(10)
    result["encoding"] = "gzip" if args.gzip else "identity"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"big-bodies-{result['encoding']}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
