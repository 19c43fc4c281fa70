"""The built-in echo provider through a real gateway."""

from __future__ import annotations

from collections.abc import Callable

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2, models_pb2
from tests.conftest import ECHO_CONFIG, Client, StartGateway, chat_request, stream_request, user


async def test_chat_echoes_the_last_user_message(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    response = await client.chat.Chat(
        chat_request("echo", user("first"), user("hello there, gateway"), request_id="req-1"), timeout=5
    )
    assert response.id == "req-1"
    assert response.provider == "echo"
    assert response.model == "echo-1"
    assert response.message.role == content_pb2.ROLE_ASSISTANT
    assert [p.text for p in response.message.parts] == ["hello there, gateway"]
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.usage.input_tokens == 4
    assert response.usage.output_tokens == 3
    assert response.usage.total_tokens == 7


async def test_stream_message_order(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    messages = [
        m async for m in client.chat.ChatStream(stream_request("parrot", user("one two three")), timeout=5)
    ]
    first, *content, last = messages
    assert first.id and first.model == "echo-1" and first.provider == "echo"
    assert not first.HasField("delta") and not first.HasField("usage")
    assert "".join(m.delta.text for m in content) == "one two three"
    assert all(not m.id and not m.HasField("usage") for m in content)
    assert [m.finish_reason for m in content][-1] == chat_pb2.FINISH_REASON_STOP
    assert all(m.finish_reason == chat_pb2.FINISH_REASON_UNSPECIFIED for m in content[:-1])
    assert last.HasField("usage") and not last.HasField("delta")
    assert last.usage.output_tokens == 3


async def test_max_output_tokens_truncates_with_length(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    response = await client.chat.Chat(
        chat_request(
            "echo", user("a b c d e"), generation_config=chat_pb2.GenerationConfig(max_output_tokens=2)
        ),
        timeout=5,
    )
    assert response.message.parts[0].text == "a b "
    assert response.finish_reason == chat_pb2.FINISH_REASON_LENGTH


async def test_list_models(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(ECHO_CONFIG))
    response = await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    assert [(m.name, list(m.aliases), list(m.providers)) for m in response.models] == [
        ("echo", ["parrot"], ["echo"])
    ]
