"""The cross-language cases (clients/testdata/cases.json) against the real gateway that
clients/testdata/harness.py starts; skipped when LLMGATEWAY_TEST_ADDR is not set."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from llmgateway.client import AsyncClient, AsyncStream, Client, GatewayError, Stream
from llmgateway.v1 import chat_pb2, content_pb2, embeddings_pb2

CASES_FILE = Path(
    os.environ.get("LLMGATEWAY_TEST_CASES", Path(__file__).resolve().parents[2] / "testdata" / "cases.json")
)
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text())["cases"]
ADDRESS = os.environ.get("LLMGATEWAY_TEST_ADDR", "")
FEATURES = set(os.environ.get("LLMGATEWAY_TEST_FEATURES", "").split(","))
API_KEY = os.environ.get("LLMGATEWAY_TEST_API_KEY", "")
Chunks = list[chat_pb2.ChatStreamResponse]


def prepare(case: dict[str, Any]) -> None:
    if not ADDRESS:
        pytest.skip(
            "LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py (make test-clients)"
        )
    if case.get("requires") and case["requires"] not in FEATURES:
        pytest.skip(f"requires {case['requires']!r}: {case.get('skip_reason', '')}")


def check_error(case: dict[str, Any], error: GatewayError) -> None:
    want = case["expect"]["error"]
    assert error.code == grpc.StatusCode[want["code"]], error
    if "reason" in want:
        assert error.reason == want["reason"]
    if "retry_delay_s" in want:
        assert error.retry_delay == want["retry_delay_s"]


def check_reply(case: dict[str, Any], text: str, provider: str, finish: int, usage: Any) -> None:
    expect = case["expect"]
    if "text" in expect:
        assert text == expect["text"]
    if "provider" in expect:
        assert provider == expect["provider"]
    if "finish_reason" in expect:
        assert chat_pb2.FinishReason.Name(finish) == expect["finish_reason"]  # type: ignore[arg-type]
    if "min_output_tokens" in expect:
        assert usage.output_tokens >= expect["min_output_tokens"]


def check_unary(case: dict[str, Any], reply: chat_pb2.ChatResponse, headers: dict[str, str]) -> None:
    text = "".join(part.text for part in reply.message.parts)
    check_reply(case, text, reply.provider, reply.finish_reason, reply.usage)
    for key, value in case["expect"].get("metadata", {}).items():
        assert headers.get(key) == value, key


def check_chunks(case: dict[str, Any], chunks: Chunks) -> None:
    expect = case["expect"]
    if "error" in expect:
        assert len(chunks) <= expect.get("max_chunks", len(chunks))
        return
    assert len(chunks) >= expect.get("min_chunks", 1)
    finish = next((c.finish_reason for c in reversed(chunks) if c.finish_reason), 0)
    check_reply(case, "".join(c.delta.text for c in chunks), chunks[0].provider, finish, chunks[-1].usage)


def read_stream(case: dict[str, Any], stream: Stream, chunks: Chunks) -> None:
    for chunk in stream:
        chunks.append(chunk)
        if len(chunks) == case.get("cancel_after_chunks"):
            stream.cancel()


async def read_async_stream(case: dict[str, Any], stream: AsyncStream, chunks: Chunks) -> None:
    async for chunk in stream:
        chunks.append(chunk)
        if len(chunks) == case.get("cancel_after_chunks"):
            stream.cancel()


def check_embeddings(case: dict[str, Any], response: embeddings_pb2.EmbedResponse) -> None:
    expect = case["expect"]
    assert response.provider == expect["provider"]
    assert response.model == expect["model"]
    assert [e.index for e in response.embeddings] == list(range(len(expect["embeddings"])))
    for got, want in zip(response.embeddings, expect["embeddings"], strict=True):
        assert list(got.values) == pytest.approx(want, abs=1e-6)
    assert response.usage.input_tokens >= expect["min_input_tokens"]


def check_pieces(case: dict[str, Any], pieces: list[str]) -> None:
    """A `stream_text` case: the text helper yields only text, every piece of it."""
    assert all(isinstance(piece, str) and piece for piece in pieces), pieces
    expect = case["expect"]
    if "error" in expect:
        assert len(pieces) <= expect.get("max_chunks", len(pieces))
        return
    assert len(pieces) >= expect.get("min_pieces", 1)
    if "text" in expect:
        assert "".join(pieces) == expect["text"]


def read_text(case: dict[str, Any], stream: Stream, pieces: list[str]) -> None:
    for piece in stream.text():
        pieces.append(piece)
        if len(pieces) == case.get("cancel_after_chunks"):
            stream.cancel()


async def read_async_text(case: dict[str, Any], stream: AsyncStream, pieces: list[str]) -> None:
    async for piece in stream.text():
        pieces.append(piece)
        if len(pieces) == case.get("cancel_after_chunks"):
            stream.cancel()


def assembled(chunks: Chunks) -> content_pb2.Message:
    """The assistant message a stream carries, rebuilt as chat.proto's Delta says: parts in the
    order the stream first mentions them (within one delta: reasoning, refusal, text, tool calls),
    each part's fragments joined in order."""
    parts: list[content_pb2.Part] = []
    known: dict[tuple[str, int], content_pb2.Part] = {}

    def part(kind: str, index: int = 0) -> content_pb2.Part:
        if (kind, index) not in known:
            new = content_pb2.Part()
            if kind in ("text", "refusal"):
                setattr(new, kind, "")
            else:
                getattr(new, kind).SetInParent()
            parts.append(new)
            known[kind, index] = new
        return known[kind, index]

    for delta in (chunk.delta for chunk in chunks if chunk.HasField("delta")):
        if (
            delta.reasoning
            or delta.reasoning_signature
            or delta.reasoning_redacted_data
            or delta.reasoning_origin
        ):
            reasoning = part("reasoning", delta.reasoning_index).reasoning
            reasoning.text += delta.reasoning
            reasoning.signature += delta.reasoning_signature
            reasoning.redacted_data += delta.reasoning_redacted_data
            reasoning.origin = reasoning.origin or delta.reasoning_origin
        if delta.refusal:
            part("refusal").refusal += delta.refusal
        if delta.text:
            part("text").text += delta.text
        for fragment in delta.tool_calls:
            call = part("tool_call", fragment.index).tool_call
            call.id += fragment.id
            call.name += fragment.name
            call.arguments_json += fragment.arguments_json_fragment
    return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts)


Turn = tuple[content_pb2.Message, int, str, chat_pb2.Usage]


def streamed_turn(chunks: Chunks) -> Turn:
    finish = next((c.finish_reason for c in reversed(chunks) if c.finish_reason), 0)
    return assembled(chunks), finish, chunks[0].provider, chunks[-1].usage


def check_tool_call_turn(case: dict[str, Any], turn: Turn) -> content_pb2.Message:
    """Turn 1 of a tool loop: signed reasoning from the expected signer and one tool call; returns
    the tool's result for it (turn 2 sends this assistant turn back as it came, then the result)."""
    message, finish, _, _ = turn
    expect = case["expect"]
    assert chat_pb2.FinishReason.Name(finish) == "FINISH_REASON_TOOL_CALLS"  # type: ignore[arg-type]
    signed = [
        p.reasoning for p in message.parts if p.WhichOneof("kind") == "reasoning" and p.reasoning.signature
    ]
    assert signed, message
    assert all(r.origin == expect["reasoning_origin"] for r in signed), message
    [call] = [p.tool_call for p in message.parts if p.WhichOneof("kind") == "tool_call"]
    assert call.name == expect["tool_name"]
    assert call.id
    result = content_pb2.ToolResult(
        tool_call_id=call.id, content=[content_pb2.Part(text=case["tool_result"])]
    )
    return content_pb2.Message(role=content_pb2.ROLE_TOOL, parts=[content_pb2.Part(tool_result=result)])


def check_answer_turn(case: dict[str, Any], turn: Turn) -> None:
    message, finish, provider, usage = turn
    check_reply(case, "".join(part.text for part in message.parts), provider, finish, usage)


def run_tool_loop(case: dict[str, Any], client: Client, timeout: float) -> None:
    """A `tool_loop` case: the assistant turn (reasoning, signature and tool call) goes back exactly
    as received with the tool's result, and the second turn answers; unary or streamed."""
    request = json_format.ParseDict(case["request"], chat_pb2.ChatRequest())

    def ask() -> Turn:
        if case["kind"] == "tool_loop_stream":
            return streamed_turn(list(client.chat_stream(request, timeout=timeout)))
        reply = client.chat(request, timeout=timeout)
        return reply.message, reply.finish_reason, reply.provider, reply.usage

    first = ask()
    request.messages.extend([first[0], check_tool_call_turn(case, first)])
    check_answer_turn(case, ask())


async def run_async_tool_loop(
    case: dict[str, Any],
    client: AsyncClient,
    timeout: float,  # noqa: ASYNC109 (the gRPC deadline the gateway receives)
) -> None:
    request = json_format.ParseDict(case["request"], chat_pb2.ChatRequest())

    async def ask() -> Turn:
        if case["kind"] == "tool_loop_stream":
            return streamed_turn([chunk async for chunk in client.chat_stream(request, timeout=timeout)])
        reply = await client.chat(request, timeout=timeout)
        return reply.message, reply.finish_reason, reply.provider, reply.usage

    first = await ask()
    request.messages.extend([first[0], check_tool_call_turn(case, first)])
    check_answer_turn(case, await ask())


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case_sync(case: dict[str, Any]) -> None:
    prepare(case)
    timeout = case.get("deadline_ms", 30_000) / 1000
    error_expected = "error" in case["expect"]
    with Client(ADDRESS, api_key=case.get("api_key", API_KEY) or None, tls=False) as client:
        if case["kind"] == "embed":
            embed_request = json_format.ParseDict(case["request"], embeddings_pb2.EmbedRequest())
            check_embeddings(case, client.embed(embed_request, timeout=timeout))
            return
        if case["kind"] in ("tool_loop", "tool_loop_stream"):
            run_tool_loop(case, client, timeout)
            return
        if case["kind"] == "unary":
            request = json_format.ParseDict(case["request"], chat_pb2.ChatRequest())
            if error_expected:
                with pytest.raises(GatewayError) as raised:
                    client.chat(request, timeout=timeout)
                check_error(case, raised.value)
            else:
                check_unary(case, *client.chat_with_headers(request, timeout=timeout))
            return
        stream_request = json_format.ParseDict(case["request"], chat_pb2.ChatStreamRequest())
        if case["kind"] == "stream_text":
            pieces: list[str] = []
            if error_expected:
                with pytest.raises(GatewayError) as raised:
                    read_text(case, client.chat_stream(stream_request, timeout=timeout), pieces)
                check_error(case, raised.value)
            else:
                read_text(case, client.chat_stream(stream_request, timeout=timeout), pieces)
            check_pieces(case, pieces)
            return
        chunks: Chunks = []
        if error_expected:
            with pytest.raises(GatewayError) as raised:
                read_stream(case, client.chat_stream(stream_request, timeout=timeout), chunks)
            check_error(case, raised.value)
        else:
            read_stream(case, client.chat_stream(stream_request, timeout=timeout), chunks)
        check_chunks(case, chunks)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
async def test_case_async(case: dict[str, Any]) -> None:
    prepare(case)
    timeout = case.get("deadline_ms", 30_000) / 1000
    error_expected = "error" in case["expect"]
    async with AsyncClient(ADDRESS, api_key=case.get("api_key", API_KEY) or None, tls=False) as client:
        if case["kind"] == "embed":
            embed_request = json_format.ParseDict(case["request"], embeddings_pb2.EmbedRequest())
            check_embeddings(case, await client.embed(embed_request, timeout=timeout))
            return
        if case["kind"] in ("tool_loop", "tool_loop_stream"):
            await run_async_tool_loop(case, client, timeout)
            return
        if case["kind"] == "unary":
            request = json_format.ParseDict(case["request"], chat_pb2.ChatRequest())
            if error_expected:
                with pytest.raises(GatewayError) as raised:
                    await client.chat(request, timeout=timeout)
                check_error(case, raised.value)
            else:
                check_unary(case, *(await client.chat_with_headers(request, timeout=timeout)))
            return
        stream_request = json_format.ParseDict(case["request"], chat_pb2.ChatStreamRequest())
        if case["kind"] == "stream_text":
            pieces: list[str] = []
            if error_expected:
                with pytest.raises(GatewayError) as raised:
                    await read_async_text(case, client.chat_stream(stream_request, timeout=timeout), pieces)
                check_error(case, raised.value)
            else:
                await read_async_text(case, client.chat_stream(stream_request, timeout=timeout), pieces)
            check_pieces(case, pieces)
            return
        chunks: Chunks = []
        if error_expected:
            with pytest.raises(GatewayError) as raised:
                await read_async_stream(case, client.chat_stream(stream_request, timeout=timeout), chunks)
            check_error(case, raised.value)
        else:
            await read_async_stream(case, client.chat_stream(stream_request, timeout=timeout), chunks)
        check_chunks(case, chunks)
