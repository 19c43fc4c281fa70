"""`POST /v1/messages`: the body read and translated to v1, the call through the core, the answer as
a Message or as the Messages event stream, failures in Anthropic's error shape.

A stream's first message is awaited before the response begins, so everything that fails before
the model answers (auth, limits, unknown model, every route down) is a real HTTP status the SDKs
raise as their typed errors; a failure after that is an `event: error`, which they raise too.
A caller that disconnects cancels the handler (the HTTP server's handler_cancellation), which
closes the core's stream and with it the upstream call."""

from __future__ import annotations

import re
from contextlib import aclosing, suppress

import orjson
from aiohttp import web

from llmgateway.core.identity import CallerIdentity
from llmgateway.core.pipeline import Core
from llmgateway.errors import GatewayError, as_gateway_error
from llmgateway.frontends.anthropic.errors import error_event, error_response, invalid
from llmgateway.frontends.anthropic.events import Event, EventStream
from llmgateway.frontends.anthropic.message import message
from llmgateway.frontends.anthropic.request import api_version, chat_request, count_request
from llmgateway.frontends.http.identity import caller_of
from llmgateway.frontends.http.server import REQUEST_ID
from llmgateway.frontends.http.sse import open_event_stream, send_event
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2

FRONTEND = "anthropic"
# Says how a count was made: "provider" (its counting endpoint) or "estimate" (the local tokenizer).
COUNTED_BY_HEADER = "x-llmgateway-token-count"
# v1's request_id syntax: an x-request-id outside it stays the HTTP request's id only, and the
# core names the call itself rather than refusing it.
_V1_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/-]{1,128}")


def anthropic_routes(core: Core) -> list[web.RouteDef]:
    async def messages(request: web.Request) -> web.StreamResponse:
        return await _messages(core, request)

    async def count_tokens(request: web.Request) -> web.StreamResponse:
        return await _count_tokens(core, request)

    return [web.post("/v1/messages", messages), web.post("/v1/messages/count_tokens", count_tokens)]


async def _messages(core: Core, request: web.Request) -> web.StreamResponse:
    request_id = request[REQUEST_ID]
    try:
        version = api_version(request.headers)
        chat, stream = chat_request(await _body(request), version)
        if _V1_REQUEST_ID.fullmatch(request_id):
            chat.request_id = request_id
        caller = caller_of(request, FRONTEND)
        if stream:
            return await _stream(core, request, chat, caller)
        response, call = await core.chat(chat, caller)
        headers = {"content-type": "application/json", "request-id": request_id}
        if call.served is not None:
            headers.update(call.served.headers())
        return web.Response(body=orjson.dumps(message(response)), headers=headers)
    except Exception as raised:  # a GatewayError, or a bug: masked, logged with an id
        return error_response(as_gateway_error(raised), request_id)


async def _count_tokens(core: Core, request: web.Request) -> web.StreamResponse:
    """`POST /v1/messages/count_tokens` → `{"input_tokens": N}`, as the API answers. Whether the
    figure is the provider's or the gateway's estimate is in the x-llmgateway-token-count header
    (the API's body has no place for it)."""
    request_id = request[REQUEST_ID]
    try:
        api_version(request.headers)
        count = count_request(await _body(request))
        if _V1_REQUEST_ID.fullmatch(request_id):
            count.request_id = request_id
        counted, call = await core.count_tokens(count, caller_of(request, FRONTEND))
        headers = {
            "content-type": "application/json",
            "request-id": request_id,
            COUNTED_BY_HEADER: "estimate" if counted.estimated else "provider",
        }
        if call.served is not None:
            headers.update(call.served.headers())
        return web.Response(body=orjson.dumps({"input_tokens": counted.input_tokens}), headers=headers)
    except Exception as raised:  # a GatewayError, or a bug: masked, logged with an id
        return error_response(as_gateway_error(raised), request_id)


async def _body(request: web.Request) -> object:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as too_large:
        reason = Reason.REQUEST_TOO_LARGE
        raise GatewayError(reason, f"request body too large: {too_large.text}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise invalid("body", f"the request body is not valid JSON ({error})") from None


async def _stream(
    core: Core, request: web.Request, chat: chat_pb2.ChatRequest, caller: CallerIdentity
) -> web.StreamResponse:
    messages, call = core.chat_stream(chat, caller)
    async with aclosing(messages):
        # Raises before anything is sent: the caller gets the failure as an HTTP status.
        first = await anext(messages, chat_pb2.ChatStreamResponse(id=chat.request_id, model=chat.model))
        headers = [("request-id", request[REQUEST_ID])]
        if call.served is not None:
            headers.extend(call.served.headers())
        response = await open_event_stream(request, headers)
        events = EventStream()
        try:
            await _send(response, events.start(first))
            async for each in messages:
                await _send(response, events.feed(each))
            await _send(response, events.end())
        except ConnectionResetError:
            pass  # the caller went away mid-write; closing the core's stream ends the upstream call
        except Exception as raised:  # the stream broke after it began: Anthropic's error event
            with suppress(ConnectionResetError):
                await _send(response, [("error", error_event(as_gateway_error(raised)))])
    return response


async def _send(response: web.StreamResponse, events: list[Event]) -> None:
    for name, data in events:
        await send_event(response, data, name)
