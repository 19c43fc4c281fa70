"""What every provider simulator shares: a real HTTP/1.1 server on 127.0.0.1 in its own thread,
behaviour knobs, request recording, and the observables tests read from outside.

A provider simulator subclasses `SimulatorServer`, implements `dispatch` (its routes, auth,
validation and wire format) and uses `send_json`, `send_bytes` and `stream` to answer. The knobs in
`Behaviour` mean the same for every protocol, so one conformance suite can drive them all.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import random
import re
import secrets
import signal
import string
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Behaviour:
    """How a simulator answers one generation request (health and model-list routes take none).

    Order of effects: `latency`; a unary `stall_after`; `raw_body`; a non-200 `status`; then auth,
    validation and the normal reply. Injected failures pre-empt auth and validation, like an
    overloaded upstream that answers before looking at the request.

    `cut_after` / `reset_after` / `stall_after` / `stream_error_after` count reply chunks (words and
    tool-call pieces, not a role or start frame): N=0 acts right after the headers, before any
    frame; N>=1 after the opening frames and N reply chunks; an N that covers the whole reply acts
    after the finish frame, before usage and the terminator.
    """

    status: int = 200
    error_body: dict[str, Any] | str | None = None
    # The provider's own error vocabulary; None picks the simulator's default for the status.
    error_type: str | None = None
    error_code: str | None = None
    error_message: str = "simulated error"
    retry_after: str | None = None
    latency: float = 0.0
    ttft: float = 0.0
    inter_token: float = 0.0
    reply_text: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    # The provider's own finish/stop reason string, overriding the natural one.
    finish_reason: str | None = None
    # The model declines, each provider its own way: OpenAI answers this text as `message.refusal`
    # (`delta.refusal` chunks) with finish `stop`; Anthropic as text with stop_reason `refusal`;
    # Gemini with no content and finishReason `SAFETY`; Bedrock with stopReason `content_filtered`.
    refusal: str | None = None
    cut_after: int | None = None
    reset_after: int | None = None
    stall_after: int | None = None
    stream_error_after: int | None = None
    # A runaway upstream: the reply goes on past the request's max_tokens (OpenAI dialects).
    ignore_max_tokens: bool = False
    split_writes: bool = False
    crlf: bool = False
    comments: bool = False
    raw_body: bytes | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Exchange:
    """Per-request bookkeeping, used to tell a client disconnect from one the simulator caused."""

    request_id: str
    started: float
    response: web.StreamResponse | None = None
    self_aborted: bool = False


def random_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def word_chunks(text: str) -> list[str]:
    """Split text into per-word chunks that concatenate back to exactly `text`."""
    chunks = re.findall(r"\s*\S+", text)
    if not chunks:
        return [text] if text else []
    tail = text[sum(len(c) for c in chunks) :]
    chunks[-1] += tail
    return chunks


def fragments(text: str, size: int = 5) -> list[str]:
    """Tool-call arguments cut into pieces of `size` characters, as providers stream them."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def compact_json(obj: object) -> str:
    # Providers stream compact JSON with raw (unescaped) UTF-8.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse_event(data: str, behaviour: Behaviour, index: int, event: str | None = None) -> bytes:
    """One Server-Sent Event, with the framing quirks the behaviour asks for."""
    nl = "\r\n" if behaviour.crlf else "\n"
    text = (f"event: {event}{nl}" if event else "") + f"data: {data}{nl}{nl}"
    if behaviour.comments:
        # A comment line, then (on every other event) a lone blank line: a correct SSE parser
        # ignores both, and the blank line must not dispatch an empty event.
        text = f": ping{nl}{nl}" + (nl if index % 2 else "") + text
    return text.encode()


def action_index(after: int | None, reply_chunks: int, opening_frames: int = 1) -> int | None:
    """Index into a frame list at which a cut/reset/stall/error "after N reply chunks" happens."""
    if after is None:
        return None
    if after <= 0:
        return 0
    if after < reply_chunks:
        return opening_frames + after
    return opening_frames + 1 + reply_chunks


async def forever() -> None:
    await asyncio.Event().wait()


class _CountingServer(web.Server):
    """aiohttp's low-level server, plus a hook so the simulator can count TCP connections."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        on_connection: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._on_connection = on_connection

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._on_connection()


class SimulatorServer(abc.ABC):
    """A provider upstream on 127.0.0.1, served from a background thread with its own event loop.

    Observables (written by the simulator thread, safe to read from tests): `requests`;
    `disconnects`, clients that went away while their response was still being produced;
    `completed`, responses whose last byte was written (a cut stream counts, a reset one does not);
    `connections_opened`, TCP connections accepted, which shows whether a client pools connections.
    """

    name = "simulator"

    def __init__(self, api_key: str | None, host: str = "127.0.0.1", *, port: int = 0) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.base_url = ""
        self.behaviour = Behaviour()
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.completed = 0
        self.connections_opened = 0
        self._queue: deque[Behaviour] = deque()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()

    # ---- the protocol, implemented by each provider -------------------------------------------

    @abc.abstractmethod
    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        """Answer one request; `body` is the parsed JSON body or None."""

    # ---- control, called from the test's thread -----------------------------------------------

    def enqueue(self, *behaviours: Behaviour) -> None:
        """One-shot behaviours for the next generation requests, before `behaviour` applies."""
        self._queue.extend(behaviours)

    def reset(self) -> None:
        self.requests.clear()
        self._queue.clear()
        self.disconnects = 0
        self.completed = 0
        self.connections_opened = 0
        self.behaviour = Behaviour()

    async def wait_for_disconnects(self, n: int, timeout: float = 5.0) -> None:
        # Polling (not an asyncio.Event) because the counter lives in another thread's loop.
        deadline = time.monotonic() + timeout
        while self.disconnects < n:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {n} upstream disconnects within {timeout}s, saw {self.disconnects}"
                )
            await asyncio.sleep(0.01)

    def wait_for_disconnects_sync(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.disconnects < n:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {n} upstream disconnects within {timeout}s, saw {self.disconnects}"
                )
            time.sleep(0.01)

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        ready = threading.Event()
        self._startup_error = None
        self._stopping = False
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name=f"{self.name}-simulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("simulator did not start listening within 10s")
        if self._startup_error is not None:
            self._thread.join(timeout=5)
            self._thread = None
            raise RuntimeError(f"simulator failed to start: {self._startup_error!r}") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed on its own
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=10)
        if thread.is_alive():
            raise RuntimeError("simulator thread did not stop within 10s")
        self._thread = None
        self._loop = None
        self._stop_event = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- the simulator's own thread -----------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:
            if ready.is_set():
                raise
            # Hand the failure to start(), which is waiting on `ready`, instead of dying unseen.
            self._startup_error = exc
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = _CountingServer(
            self._handle,
            on_connection=self._count_connection,
            handler_cancellation=True,  # a client going away cancels its handler: that is how we see it
            access_log=None,
        )
        # Stalled handlers are cancelled before cleanup, so a short grace period is plenty.
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except BaseException as exc:
                self._startup_error = exc
                ready.set()
                return
            port = runner.addresses[0][1]
            self.base_url = f"http://{self.host}:{port}"
            ready.set()
            await self._stop_event.wait()
        finally:
            self._stopping = True
            for task in list(self._inflight):
                task.cancel()
            await runner.cleanup()

    def _count_connection(self) -> None:
        self.connections_opened += 1

    def next_behaviour(self) -> Behaviour:
        try:
            return self._queue.popleft()
        except IndexError:
            return self.behaviour

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        exchange = Exchange(request_id="req_" + secrets.token_hex(16), started=time.monotonic())
        try:
            raw = await request.read()
            body: Any = None
            if raw:
                with contextlib.suppress(ValueError):
                    body = json.loads(raw)
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    raw=raw,
                )
            )
            return await self.dispatch(request, exchange, body)
        except asyncio.CancelledError:
            if not self._stopping and not exchange.self_aborted:
                self.disconnects += 1
            raise
        except ConnectionError:
            # A write hit a closed socket before aiohttp noticed the disconnect and cancelled us.
            if not exchange.self_aborted:
                self.disconnects += 1
            if exchange.response is None:
                raise
            return exchange.response
        finally:
            self._inflight.discard(task)

    # ---- answering ----------------------------------------------------------------------------

    async def send_bytes(
        self, request: web.BaseRequest, exchange: Exchange, status: int, body: bytes, headers: dict[str, str]
    ) -> web.StreamResponse:
        resp = web.Response(status=status, body=body, headers=headers)
        exchange.response = resp
        await resp.prepare(request)
        await self.finish(resp)
        return resp

    async def send_json(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        payload: object,
        headers: dict[str, str],
        content_type: str | None = None,
    ) -> web.StreamResponse:
        headers = {**headers, "Content-Type": content_type or "application/json"}
        body = json.dumps(payload, indent=2, ensure_ascii=False).encode()
        return await self.send_bytes(request, exchange, status, body, headers)

    async def finish(self, resp: web.StreamResponse) -> None:
        # Counted before the final write, not after: the client can see the last byte (and a test
        # can read `completed`) before this coroutine resumes from write_eof().
        self.completed += 1
        try:
            await resp.write_eof()
        except BaseException:
            self.completed -= 1
            raise

    async def stream(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        behaviour: Behaviour,
        frames: list[bytes],
        *,
        reply_chunks: int,
        headers: dict[str, str],
        error_frame: bytes | None = None,
        opening_frames: int = 1,
    ) -> web.StreamResponse:
        """Send `frames` as a chunked body with the behaviour's timing and faults.

        `opening_frames` is how many frames precede the reply chunks (a role chunk, a message_start
        and content_block_start, ...), so "after N chunks" means the same for every protocol.
        """
        resp = web.StreamResponse(status=200, headers=headers)
        resp.enable_chunked_encoding()
        exchange.response = resp
        await resp.prepare(request)  # StreamResponse sends its headers right away

        stall_at = action_index(behaviour.stall_after, reply_chunks, opening_frames)
        reset_at = action_index(behaviour.reset_after, reply_chunks, opening_frames)
        cut_at = action_index(behaviour.cut_after, reply_chunks, opening_frames)
        error_at = action_index(behaviour.stream_error_after, reply_chunks, opening_frames)
        rng = random.Random()
        for index, frame in enumerate(frames):
            if index == stall_at:
                await forever()
            if index == reset_at:
                await self.abort(request, exchange)
                return resp
            if index == error_at and error_frame is not None:
                await self.write_frame(resp, error_frame, behaviour, rng)
                await self.finish(resp)
                return resp
            if index == cut_at:
                await self.finish(resp)
                return resp
            delay = behaviour.ttft if index == 0 else behaviour.inter_token
            if delay > 0:
                await asyncio.sleep(delay)
            await self.write_frame(resp, frame, behaviour, rng)
        await self.finish(resp)
        return resp

    async def write_frame(
        self, resp: web.StreamResponse, frame: bytes, behaviour: Behaviour, rng: random.Random
    ) -> None:
        if not behaviour.split_writes:
            await resp.write(frame)
            return
        pos = 0
        while pos < len(frame):
            size = rng.randint(3, 7)
            await resp.write(frame[pos : pos + size])
            pos += size
            # Yield long enough for each piece to leave as its own TCP segment.
            await asyncio.sleep(0.001)

    async def abort(self, request: web.BaseRequest, exchange: Exchange) -> None:
        transport = request.transport
        exchange.self_aborted = True
        if transport is None:
            return
        # abort() drops unsent buffered bytes; let the chunks already written reach the client
        # first so "after N chunks" is deterministic.
        for _ in range(1000):
            if not transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.001)
        transport.abort()
        # connection_lost() will cancel this handler; give it the chance rather than letting
        # aiohttp try to finish a response on a dead socket.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await forever()


def serve_until_signalled(simulator: SimulatorServer) -> int:
    """A simulator's command-line entry: start it, print where it listens, serve until SIGTERM or
    SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with simulator as sim:
        print(f"listening on {sim.base_url}", flush=True)
        # A timed wait keeps the main thread responsive to signals.
        while not stop.wait(0.2):
            pass
    return 0
