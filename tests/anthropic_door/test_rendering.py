"""The renderers on v1 messages no simulator sends: what a Messages answer cannot say is an error,
never a wrong answer."""

from __future__ import annotations

import orjson
import pytest

from llmgateway.errors import GatewayError
from llmgateway.frontends.anthropic.events import EventStream
from llmgateway.frontends.anthropic.message import message
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, content_pb2


def tool_delta(index: int, fragment: str, name: str = "") -> chat_pb2.ChatStreamResponse:
    call = chat_pb2.ToolCallDelta(index=index, id=f"call_{index}" if name else "", name=name)
    call.arguments_json_fragment = fragment
    return chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(tool_calls=[call]))


def test_tool_calls_one_after_another_are_blocks_in_order() -> None:
    events = EventStream()
    rendered = events.start(chat_pb2.ChatStreamResponse(id="r1", model="m"))
    for each in (tool_delta(0, '{"a":', "f"), tool_delta(0, "1}"), tool_delta(1, "{}", "g")):
        rendered += events.feed(each)
    rendered += events.feed(chat_pb2.ChatStreamResponse(finish_reason=chat_pb2.FINISH_REASON_TOOL_CALLS))
    rendered += events.end()
    payloads = [orjson.loads(data) for _, data in rendered]
    starts = [p["content_block"] for p in payloads if p["type"] == "content_block_start"]
    assert starts == [
        {"type": "tool_use", "id": "call_0", "name": "f", "input": {}},
        {"type": "tool_use", "id": "call_1", "name": "g", "input": {}},
    ]
    assert [p["index"] for p in payloads if p["type"] == "content_block_stop"] == [0, 1]
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"


def test_a_tool_call_resumed_after_another_began_is_an_error() -> None:
    events = EventStream()
    events.start(chat_pb2.ChatStreamResponse(id="r1", model="m"))
    events.feed(tool_delta(0, "{", "f"))
    events.feed(tool_delta(1, "{}", "g"))
    with pytest.raises(GatewayError) as failure:
        events.feed(tool_delta(0, "}"))
    assert failure.value.reason is Reason.UPSTREAM_MALFORMED_RESPONSE


def test_an_answer_a_message_cannot_carry_is_an_error() -> None:
    media = content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"png"))
    bad_arguments = content_pb2.Part(tool_call=content_pb2.ToolCall(id="c", name="f", arguments_json="[1]"))
    for part in (media, bad_arguments):
        response = chat_pb2.ChatResponse(id="r", message=content_pb2.Message(parts=[part]))
        with pytest.raises(GatewayError) as failure:
            message(response)
        assert failure.value.reason is Reason.UPSTREAM_MALFORMED_RESPONSE
