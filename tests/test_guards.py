"""Through real gRPC: a call refused by load shedding takes nothing from the key's limits. (The
order of the core's checks and what a refused call gives back are tested on the core itself, in
test_core.py.)"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from llmgateway.app import Gateway
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import rich_status
from tests.test_limits import A, limited
from tests.upstreams.openai import Behaviour, OpenAISimulator

CHAT = "/llmgateway.v1.ChatService/Chat"
STREAM = "/llmgateway.v1.ChatService/ChatStream"


async def test_load_shedding_refusals_give_back_the_admitted_concurrency(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """A call refused by load shedding must not hold a concurrency place of its key, or the key
    would soon be refused for a limit it never reached."""
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
