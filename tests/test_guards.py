"""The checks run before a call (interceptors/guards.py): their order, what is given back when one
refuses or the call ends, and — through real gRPC — that a refusal by load shedding returns what
admission had taken."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.errors import GatewayError
from llmgateway.interceptors.guards import GuardInterceptor
from llmgateway.reasons import Reason
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import rich_status
from tests.test_limits import A, limited
from tests.upstreams.openai import Behaviour, OpenAISimulator

CHAT = "/llmgateway.v1.ChatService/Chat"
STREAM = "/llmgateway.v1.ChatService/ChatStream"


class Recording:
    """A guard that writes what happens to it into a shared journal."""

    def __init__(
        self, name: str, journal: list[str], *, refuse: bool = False, fail_leave: bool = False
    ) -> None:
        self.name, self.journal, self.refuse, self.fail_leave = name, journal, refuse, fail_leave

    def applies_to(self, method: str) -> bool:
        return method in (CHAT, STREAM)

    async def enter(self, request: Any, context: Any) -> object | None:
        self.journal.append(f"enter {self.name}")
        if self.refuse:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, Reason.OVERLOADED, f"{self.name} refuses")
        return self.name

    async def leave(self, entered: object) -> None:
        self.journal.append(f"leave {entered}")
        if self.fail_leave:
            raise RuntimeError(f"{self.name} failed to leave")


async def guarded(method: str, handler: Any, *guards: Recording) -> Any:
    async def continuation(details: Any) -> Any:
        return handler

    details = cast(grpc.HandlerCallDetails, type("Details", (), {"method": method})())
    return await GuardInterceptor(guards).intercept_service(continuation, details)


async def test_guards_run_in_order_and_leave_in_reverse() -> None:
    journal: list[str] = []

    async def behavior(request: Any, context: Any) -> str:
        journal.append("call")
        return "answer"

    handler = await guarded(
        CHAT,
        grpc.unary_unary_rpc_method_handler(behavior),
        *(Recording(name, journal) for name in ("a", "b", "c")),
    )
    assert await handler.unary_unary("request", None) == "answer"
    assert journal == ["enter a", "enter b", "enter c", "call", "leave c", "leave b", "leave a"]


async def test_a_refusal_gives_back_what_earlier_guards_took() -> None:
    journal: list[str] = []

    async def behavior(request: Any, context: Any) -> str:
        journal.append("call")
        return "answer"

    guards = (Recording("a", journal), Recording("b", journal), Recording("c", journal, refuse=True))
    handler = await guarded(CHAT, grpc.unary_unary_rpc_method_handler(behavior), *guards)
    with pytest.raises(GatewayError, match="c refuses"):
        await handler.unary_unary("request", None)
    assert journal == ["enter a", "enter b", "enter c", "leave b", "leave a"]


async def test_every_guard_leaves_even_when_one_fails_to() -> None:
    journal: list[str] = []

    async def behavior(request: Any, context: Any) -> str:
        return "answer"

    guards = (Recording("a", journal), Recording("b", journal, fail_leave=True), Recording("c", journal))
    handler = await guarded(CHAT, grpc.unary_unary_rpc_method_handler(behavior), *guards)
    with pytest.raises(RuntimeError, match="b failed to leave"):
        await handler.unary_unary("request", None)
    assert journal[-3:] == ["leave c", "leave b", "leave a"]


async def test_a_stream_leaves_when_it_ends_and_only_applicable_guards_run() -> None:
    journal: list[str] = []

    async def behavior(request: Any, context: Any) -> AsyncIterator[str]:
        for word in ("one", "two"):
            journal.append(f"yield {word}")
            yield word

    handler = await guarded(STREAM, grpc.unary_stream_rpc_method_handler(behavior), Recording("a", journal))
    assert [m async for m in handler.unary_stream("request", None)] == ["one", "two"]
    assert journal == ["enter a", "yield one", "yield two", "leave a"]
    other: Any = grpc.unary_unary_rpc_method_handler(behavior)
    assert await guarded("/grpc.health.v1.Health/Check", other, Recording("a", journal)) is other


async def test_load_shedding_refusals_give_back_the_admitted_concurrency(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """Admission runs before load shedding: a call it admitted and shedding then refused must give
    its concurrency slot back, or the key would soon be refused for a limit it never reached."""
    with OpenAISimulator(api_key=None) as sim:
        sim.behaviour = Behaviour(inter_token=0.1)
        config = limited(sim, {"max_concurrent": 2}, routing={"max_concurrent_calls": 1})
        client = connect(await start_gateway(config))
        slow = client.chat.ChatStream(stream_request("slow", user("w " * 10)), timeout=10, metadata=A)
        assert (await slow.read()) is not grpc.aio.EOF
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A)
            status = rich_status(failure.value)
            assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "OVERLOADED")
        slow.cancel()
        await sim.wait_for_disconnects(1)
        for _ in range(3):
            await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A)
