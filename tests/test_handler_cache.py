"""Interceptors build their wrapped handlers once per method, not once per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import grpc
import pytest

from llmgateway.frontends.grpc.handlers import WrappedHandlers
from tests.conftest import ECHO_CONFIG, Client, StartGateway, chat_request, stream_request, user


def test_a_wrapped_handler_is_made_once_per_method_and_inner_handler() -> None:
    made: list[str] = []

    def wrap(method: str, inner: Any) -> Any:
        made.append(method)
        return ("wrapped", inner)

    cache = WrappedHandlers(wrap)
    inner_a, inner_b = cast(Any, object()), cast(Any, object())
    first = cache.get("/s/A", inner_a)
    assert cache.get("/s/A", inner_a) is first
    assert cast(Any, cache.get("/s/B", inner_a)) == ("wrapped", inner_a)
    # A different inner handler (say, after an inner layer changed) is wrapped anew.
    assert cast(Any, cache.get("/s/A", inner_b)) == ("wrapped", inner_b)
    assert made == ["/s/A", "/s/B", "/s/A"]


async def test_calls_build_no_handlers_after_the_first(
    start_gateway: StartGateway, connect: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = {"unary": 0, "stream": 0}
    unary_factory, stream_factory = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler

    # Only the gateway's own interceptors count: OpenTelemetry's still wraps every call, and so
    # does the stream closer outside it (it wraps OpenTelemetry's per-call handler).
    def ours(behavior: Any) -> bool:
        module = str(getattr(behavior, "__module__", ""))
        return module.startswith("llmgateway.") and module != "llmgateway.frontends.grpc.stream_closing"

    def counting_unary(behavior: Any, *args: Any, **kwargs: Any) -> Any:
        built["unary"] += ours(behavior)
        return unary_factory(behavior, *args, **kwargs)

    def counting_stream(behavior: Any, *args: Any, **kwargs: Any) -> Any:
        built["stream"] += ours(behavior)
        return stream_factory(behavior, *args, **kwargs)

    monkeypatch.setattr(grpc, "unary_unary_rpc_method_handler", counting_unary)
    monkeypatch.setattr(grpc, "unary_stream_rpc_method_handler", counting_stream)
    client = connect(await start_gateway({**ECHO_CONFIG, "auth": {"enabled": False}}))
    request, streamed = chat_request("echo", user("hi")), stream_request("echo", user("hi"))
    await client.chat.Chat(request, timeout=5)
    [_ async for _ in client.chat.ChatStream(streamed, timeout=5)]
    after_first = dict(built)
    for _ in range(5):
        await client.chat.Chat(request, timeout=5)
        [_ async for _ in client.chat.ChatStream(streamed, timeout=5)]
    assert after_first["unary"] > 0 and after_first["stream"] > 0
    assert built == after_first
