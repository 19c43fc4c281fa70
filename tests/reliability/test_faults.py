"""The fault matrix: every provider protocol (tests/conformance/harness.py) against every upstream
fault, through real gRPC. Each case asserts the documented status and reason (README "Errors"), that
the attempt was counted (llmgateway_upstream_attempts_total and the breaker, which is set to open on
one failure so counting is visible), that nothing partial is reported as OK, that the deployment
recovers once the breaker lets a probe through, and that no task, socket or upstream connection is
left behind. A second table shows the fallback model taking over for transient faults."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, models_pb2
from tests.conformance.harness import HARNESSES, MODEL, ProviderHarness, simulator_for
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.pki import make_pki
from tests.reliability.leaks import Snapshot, settle_until, snapshot
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.base import Behaviour, SimulatorServer

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
# Short, so a stall or timeout costs a second, yet long enough that a healthy answer is never taken
# for a stall on a loaded machine (0.3 s was: a stress run beside a second `make test` got
# UPSTREAM_STALL for a malformed body); the breaker opens on one failure and half-opens soon after,
# so "the breaker counted it" and "it recovers" are both one call each.
FAST_TIMEOUTS = {"connect_s": 1.0, "first_token_s": 1.0, "between_tokens_s": 1.0, "total_s": 1.5}
# One failure opens the breaker, for longer than any test takes (so "the next call is refused at
# once" is never a race); test_breaker_recovers uses a short open_s to see the half-open probe.
BREAKER = {"consecutive_failures": 1, "open_s": 5.0, "half_open_probes": 1}
OPEN_S = BREAKER["open_s"]
SHORT_OPEN_S = 0.1
CALL_TIMEOUT = 5.0
PROMPT = "a b c d e f"
BIG = 12 * 1024 * 1024

# Malformed frames in each protocol's streaming format, served with its own content type.
SSE_GARBAGE = (b'data: {"choices": [{"delta": {"content": "hi"\n\n', "text/event-stream")
STREAM_GARBAGE: dict[str, tuple[bytes, str]] = {
    "openai": SSE_GARBAGE,
    "azure_openai": SSE_GARBAGE,
    "vllm": SSE_GARBAGE,
    "together": SSE_GARBAGE,
    "anthropic": (b"event: message_start\ndata: {not json}\n\n", "text/event-stream"),
    "gemini": (b"data: [1, 2\n\n", "text/event-stream"),
    "ollama": (b'{"message": {"content": "hi"\n', "application/x-ndjson"),
    # A prelude claiming 16 bytes in total, with a wrong prelude CRC, then junk.
    "bedrock": (
        b"\x00\x00\x00\x10\x00\x00\x00\x00\xde\xad\xbe\xef" + b"junk" * 8,
        "application/vnd.amazon.eventstream",
    ),
}


@dataclass(frozen=True)
class Fault:
    """One upstream fault and the outcome the caller must see."""

    name: str
    stream: bool
    code: grpc.StatusCode
    reason: str
    behaviour: Callable[[ProviderHarness], Behaviour] | None = None
    # For STREAM_INTERRUPTED: the cause, and how many content messages reached the caller first.
    cause: str | None = None
    sent: int = 0
    # RetryInfo the caller must get, in seconds (None: not checked).
    retry_delay: float | None = None
    # "refused" or "tls": the upstream is not the simulator but a closed port / an untrusted TLS server.
    target: str | None = None
    counts: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    # Words the status message must hold (it says what is wrong, not only that something is).
    says: str | None = None


def _rate_limit(harness: ProviderHarness, retry_after: str | None) -> Behaviour:
    spec = dict(harness.errors["error_rate_limit"].behaviour)
    spec.pop("retry_after", None)
    return Behaviour(**spec, retry_after=retry_after)


def _http_status(status: int) -> Callable[[ProviderHarness], Behaviour]:
    return lambda harness: Behaviour(status=status)


def _stream_garbage(harness: ProviderHarness) -> Behaviour:
    body, content_type = STREAM_GARBAGE[harness.key]
    return Behaviour(raw_body=body, content_type=content_type)


def _oversized_stream(harness: ProviderHarness) -> Behaviour:
    """One enormous frame in the protocol's own framing."""
    content_type = STREAM_GARBAGE[harness.key][1]
    if harness.key == "bedrock":
        # A prelude announcing one BIG frame (total length, no headers, its CRC), then its bytes.
        prelude = struct.pack(">II", BIG, 0)
        prelude += struct.pack(">I", zlib.crc32(prelude))
        return Behaviour(raw_body=prelude + b"\x00" * (BIG - len(prelude)), content_type=content_type)
    if harness.key == "ollama":
        return Behaviour(raw_body=b"x" * BIG + b"\n", content_type=content_type)
    return Behaviour(raw_body=b"data: " + b"x" * BIG + b"\n\n", content_type=content_type)


FAULTS: list[Fault] = [
    Fault("429_retry_after", False, RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED",
          lambda h: _rate_limit(h, "7"), retry_delay=7.0),
    Fault("429_bare", False, RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED",
          lambda h: _rate_limit(h, None), retry_delay=1.0),
    *[
        Fault(f"http_{status}" + ("_stream" if stream else ""), stream, UNAVAILABLE, "UPSTREAM_UNAVAILABLE",
              _http_status(status))
        for status, stream in [(500, False), (502, False), (503, False), (529, False), (503, True)]
    ],
    Fault("refused", False, UNAVAILABLE, "UPSTREAM_CONNECT_FAILED", target="refused"),
    Fault("refused_stream", True, UNAVAILABLE, "UPSTREAM_CONNECT_FAILED", target="refused"),
    Fault("tls_untrusted", False, UNAVAILABLE, "UPSTREAM_CONNECT_FAILED", target="tls"),
    Fault("reset_before_body", True, UNAVAILABLE, "UPSTREAM_CONNECTION_LOST",
          lambda h: Behaviour(reset_after=0)),
    Fault("reset_mid_body", True, UNAVAILABLE, "STREAM_INTERRUPTED",
          lambda h: Behaviour(reset_after=2), cause="UPSTREAM_CONNECTION_LOST", sent=2),
    Fault("timeout_before_headers", False, UNAVAILABLE, "UPSTREAM_TIMEOUT",
          lambda h: Behaviour(latency=2.5)),
    Fault("stall_before_headers_stream", True, UNAVAILABLE, "UPSTREAM_STALL",
          lambda h: Behaviour(latency=2.5)),
    Fault("stall_unary_body", False, UNAVAILABLE, "UPSTREAM_TIMEOUT",
          lambda h: Behaviour(stall_after=0)),
    Fault("stall_before_first_token", True, UNAVAILABLE, "UPSTREAM_STALL",
          lambda h: Behaviour(stall_after=0)),
    Fault("stall_mid_stream", True, UNAVAILABLE, "STREAM_INTERRUPTED",
          lambda h: Behaviour(stall_after=2), cause="UPSTREAM_STALL", sent=2),
    Fault("cut_before_first_token", True, UNAVAILABLE, "UPSTREAM_STREAM_CUT",
          lambda h: Behaviour(cut_after=0)),
    Fault("cut_mid_stream", True, UNAVAILABLE, "STREAM_INTERRUPTED",
          lambda h: Behaviour(cut_after=2), cause="UPSTREAM_STREAM_CUT", sent=2),
    Fault("malformed_json", False, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b'{"id": "x", "choices": ['), says="the body is not JSON"),
    Fault("json_not_object", False, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b"[1, 2, 3]"), says="a JSON list, not an object"),
    Fault("invalid_utf8_body", False, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b'{"id": "caf\xe9"}'), says="not valid UTF-8 (byte 11)"),
    Fault("malformed_stream_frames", True, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE", _stream_garbage),
    Fault("oversized_body", False, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b"{" + b" " * BIG)),
    Fault("oversized_stream", True, UNAVAILABLE, "UPSTREAM_RESPONSE_TOO_LARGE", _oversized_stream),
    Fault("wrong_content_type", False, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")),
    Fault("wrong_content_type_stream", True, UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE",
          lambda h: Behaviour(raw_body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")),
]  # fmt: skip


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatorServer]]:
    started: dict[str, SimulatorServer] = {}
    yield started
    for simulator in started.values():
        simulator.stop()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server on loopback whose certificate chains to a CA the gateway does not trust; it
    accepts, attempts the handshake (which the gateway must refuse) and closes."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server"], pki["server_key"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


def fault_config(harness: ProviderHarness, base_url: str, fallback: bool = False) -> dict[str, Any]:
    config = harness.config(base_url, timeouts=dict(FAST_TIMEOUTS))
    config["routing"] = {"retry": {"max_retries": 0}, "breaker": dict(BREAKER)}
    if fallback:
        config["providers"].append({"name": "backup-echo", "type": "echo"})
        config["models"][0]["fallbacks"] = ["backup"]
        config["models"].append(
            {"name": "backup", "deployments": [{"provider": "backup-echo", "model": "e"}]}
        )
    return config


# --- calls -------------------------------------------------------------------------------------


async def call(client: Client, stream: bool) -> tuple[list[Any], RichStatus | None, dict[str, str]]:
    """Make one call; the messages received, the failure (None when OK) and the trailing metadata."""
    received: list[Any] = []
    if not stream:
        unary = client.chat.Chat(chat_request(MODEL, user(PROMPT)), timeout=CALL_TIMEOUT)
        try:
            received.append(await unary)
        except grpc.aio.AioRpcError as error:
            return received, rich_status(error), {}
        return received, None, {k: str(v) for k, v in (await unary.trailing_metadata() or ())}
    streaming = client.chat.ChatStream(stream_request(MODEL, user(PROMPT)), timeout=CALL_TIMEOUT)
    try:
        async for message in streaming:
            received.append(message)
    except grpc.aio.AioRpcError as error:
        return received, rich_status(error), {}
    return received, None, {k: str(v) for k, v in (await streaming.trailing_metadata() or ())}


def content_messages(received: list[Any]) -> int:
    return sum(1 for m in received if isinstance(m, chat_pb2.ChatStreamResponse) and m.HasField("delta"))


def attempts(gateway: Gateway, provider: str, outcome: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "llmgateway_upstream_attempts_total",
        {"provider": provider, "deployment": f"{provider}/{harness_model(provider)}", "outcome": outcome},
    )
    return value or 0.0


def harness_model(provider: str) -> str:
    return next(h.upstream_model for h in HARNESSES.values() if h.provider_name == provider)


def breaker_state(gateway: Gateway, provider: str) -> float | None:
    return gateway.metrics.registry.get_sample_value(
        "llmgateway_breaker_state", {"deployment": f"{provider}/{harness_model(provider)}"}
    )


# --- the matrix --------------------------------------------------------------------------------


def matrix() -> list[Any]:
    return [
        pytest.param(HARNESSES[key], fault, id=f"{key}-{fault.name}") for key in HARNESSES for fault in FAULTS
    ]


@pytest.mark.parametrize(("harness", "fault"), matrix())
async def test_fault(
    harness: ProviderHarness,
    fault: Fault,
    simulators: dict[str, SimulatorServer],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    request: pytest.FixtureRequest,
) -> None:
    sim = simulator_for(simulators, harness)
    if fault.target == "refused":
        port = closed_port()
        base_url = f"http://127.0.0.1:{port}"
    elif fault.target == "tls":
        port = request.getfixturevalue("tls_port")
        base_url = f"https://127.0.0.1:{port}"
    else:
        port = int(sim.base_url.rsplit(":", 1)[1])
        base_url = sim.base_url
    gateway = await start_gateway(fault_config(harness, base_url))
    client = connect(gateway)
    provider = harness.provider_name

    # Warm up: the gRPC channel and (for the simulator) one pooled upstream connection.
    if fault.target is None:
        _, failure, _ = await call(client, fault.stream)
        assert failure is None, failure
    else:
        await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=CALL_TIMEOUT)
    await asyncio.sleep(0.02)
    before = snapshot(port)
    # A stream that failed after its first token is counted with its cause, not as OK.
    outcome = fault.cause or fault.reason
    counted_before = attempts(gateway, provider, outcome)

    if fault.behaviour is not None:
        sim.enqueue(fault.behaviour(harness))
    received, status, _ = await call(client, fault.stream)

    # The documented status and reason, never OK with a partial answer.
    assert status is not None, f"reported OK: {received!r}"[:500]
    assert (status.code, status.reason) == (fault.code, fault.reason), status.message
    assert fault.says is None or fault.says in status.message, status.message
    assert status.error_info.metadata.get("provider", provider) == provider
    if fault.cause is None:
        assert content_messages(received) == 0, "content reached the caller before a pre-first-token failure"
    else:
        assert status.error_info.metadata["cause"] == fault.cause
        interruption = status.detail(chat_pb2.StreamInterruption)
        assert interruption.reason == fault.cause
        assert interruption.messages_sent == content_messages(received) == fault.sent
    if fault.retry_delay is not None:
        retry = status.detail(error_details_pb2.RetryInfo)
        assert retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 == pytest.approx(fault.retry_delay)

    # Counted: one attempt with this outcome, and the breaker, which one failure opens (mid-stream
    # too, when the stream ends): the next call fails at once with BREAKER_OPEN, without a request
    # upstream.
    assert attempts(gateway, provider, outcome) == counted_before + 1
    assert breaker_state(gateway, provider) == 2.0, "the breaker gauge does not show it open"
    seen = len(sim.requests)
    _, blocked, _ = await call(client, fault.stream)
    assert blocked is not None, "the breaker did not count the failure"
    assert (blocked.code, blocked.reason) == (UNAVAILABLE, "BREAKER_OPEN"), blocked.message
    assert len(sim.requests) == seen
    if fault.retry_delay is not None and fault.retry_delay > OPEN_S:
        # Open for the upstream's Retry-After, not just open_s.
        retry = blocked.detail(error_details_pb2.RetryInfo)
        assert (
            fault.retry_delay - 1
            < retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
            <= fault.retry_delay
        )
    else:
        retry = blocked.detail(error_details_pb2.RetryInfo)
        assert 0 < retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 <= OPEN_S
    await no_leak(before, port)


async def no_leak(before: Snapshot, port: int) -> None:
    """Tasks and sockets back to where they were. The fault may have cost the pooled keep-alive
    connection to the upstream (both of its ends are in this process), so those are compared as
    pairs: the gateway's side and the simulator's side must match (nothing half-closed), and
    everything else must be as before."""

    def others(snap: Snapshot) -> int:
        return snap.sockets - snap.to_port - snap.at_port

    def settled(now: Snapshot) -> bool:
        return (
            now.tasks <= before.tasks
            and now.to_port == now.at_port <= max(before.to_port, 1)
            and others(now) <= others(before)
        )

    after = await settle_until(settled, port)
    assert settled(after), f"leak: before {before}, after {after}"


@pytest.mark.parametrize("harness", [pytest.param(h, id=k) for k, h in HARNESSES.items()])
async def test_breaker_recovers(
    harness: ProviderHarness,
    simulators: dict[str, SimulatorServer],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    """After a failure opens the breaker and open_s passes, one half-open probe goes through, the
    breaker closes, and nothing leaked: tasks and sockets as before the failure, except that the
    keep-alive connection to the upstream may or may not be pooled again (a stream's connection is
    reused only if the upstream's final chunk arrived before the stream was closed)."""
    sim = simulator_for(simulators, harness)
    port = int(sim.base_url.rsplit(":", 1)[1])
    config = fault_config(harness, sim.base_url)
    config["routing"]["breaker"]["open_s"] = SHORT_OPEN_S
    gateway = await start_gateway(config)
    client = connect(gateway)
    for stream in (False, True):
        _, failure, _ = await call(client, stream)
        assert failure is None, failure
        await asyncio.sleep(0.02)
        before = snapshot(port)
        sim.enqueue(Behaviour(status=503))
        _, failure, _ = await call(client, stream)
        assert failure is not None and failure.reason == "UPSTREAM_UNAVAILABLE"
        assert breaker_state(gateway, harness.provider_name) == 2.0
        await asyncio.sleep(SHORT_OPEN_S + 0.05)
        received, failure, _ = await call(client, stream)
        assert failure is None, failure
        assert received
        assert breaker_state(gateway, harness.provider_name) == 0.0
        await no_leak(before, port)


FALLBACK_FAULTS = [
    f
    for f in FAULTS
    if f.name
    in {"http_503", "refused", "stall_before_first_token", "cut_before_first_token", "malformed_json"}
]


@pytest.mark.parametrize(
    ("harness", "fault"),
    [pytest.param(HARNESSES[k], f, id=f"{k}-{f.name}") for k in HARNESSES for f in FALLBACK_FAULTS],
)
async def test_fallback_takes_over(
    harness: ProviderHarness,
    fault: Fault,
    simulators: dict[str, SimulatorServer],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> None:
    sim = simulator_for(simulators, harness)
    base_url = f"http://127.0.0.1:{closed_port()}" if fault.target == "refused" else sim.base_url
    gateway = await start_gateway(fault_config(harness, base_url, fallback=True))
    client = connect(gateway)
    if fault.behaviour is not None:
        sim.enqueue(fault.behaviour(harness))
    received, status, metadata = await call(client, fault.stream)
    assert status is None, status.message
    assert metadata.get("x-llmgateway-fallback") == f"{MODEL}->backup"
    assert metadata.get("x-llmgateway-provider") == "backup-echo"
    first = received[0]
    assert first.provider == "backup-echo"
    assert attempts(gateway, harness.provider_name, fault.reason) == 1
