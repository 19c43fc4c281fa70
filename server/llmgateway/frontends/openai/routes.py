"""The OpenAI door's handlers: the request body read and translated (request.py), the call made
through the core exactly as the gRPC door makes it, the answer rendered (response.py, chunks.py)
and any GatewayError in OpenAI's error shape (errors.py).

A stream is answered with an HTTP error until its first message is in hand: the core fails over
between deployments until then, so auth, limits, routing and upstream errors before the first token
keep their real status. After the event stream has started, a failure is an `error` event and the
stream ends without `data: [DONE]`, so the SDKs raise instead of returning a truncated answer. A
caller that disconnects cancels the handler (the HTTP server's handler_cancellation), which closes
the core's stream and with it the upstream request."""

from __future__ import annotations

import time
from contextlib import aclosing

import orjson
from aiohttp import web

from llmgateway.core.identity import CallerIdentity
from llmgateway.core.pipeline import Core
from llmgateway.errors import GatewayError, as_gateway_error, model_not_found
from llmgateway.frontends.http.identity import caller_of
from llmgateway.frontends.http.server import REQUEST_ID
from llmgateway.frontends.http.sse import open_event_stream, send_event
from llmgateway.frontends.openai.chunks import ChunkRenderer
from llmgateway.frontends.openai.embeddings import EmbeddingsCall, embedding_list, to_v1_embed
from llmgateway.frontends.openai.errors import error_body, error_response
from llmgateway.frontends.openai.models import model_list, one_model
from llmgateway.frontends.openai.request import ChatCall, to_v1
from llmgateway.frontends.openai.response import completion
from llmgateway.observability.call_record import CallRecord
from llmgateway.reasons import Reason

FRONTEND = "openai"
_DONE = b"data: [DONE]\n\n"


def _served(outcome: CallRecord) -> tuple[tuple[str, str], ...]:
    return outcome.served.headers() if outcome.served is not None else ()


async def _body(request: web.Request) -> object:
    """The request's JSON; REQUEST_TOO_LARGE or INVALID_REQUEST when it cannot be had."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as refused:
        raise GatewayError(
            Reason.REQUEST_TOO_LARGE,
            f"The request body is larger than the {request.client_max_size} bytes this gateway accepts.",
        ) from refused
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayError(
            Reason.INVALID_REQUEST,
            "We could not parse the JSON body of your request. The API expects a JSON payload.",
        ) from None


class OpenAIDoor:
    """The door's handlers, all on one core."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        call: ChatCall | None = None
        try:
            call = to_v1(await _body(request), request[REQUEST_ID])
            caller = caller_of(request, FRONTEND)
            if call.stream:
                return await self._stream(request, call, caller)
            response, outcome = await self._core.chat(call.request, caller)
            body = completion(response, int(time.time()), call.request.model)
            answer = web.Response(body=orjson.dumps(body), content_type="application/json")
            for name, value in _served(outcome):
                answer.headers[name] = value
            return answer
        except Exception as raised:  # the core's errors, and a bug here as a masked INTERNAL
            return error_response(as_gateway_error(raised), call.wire_param if call else str)

    async def _stream(
        self, request: web.Request, call: ChatCall, caller: CallerIdentity
    ) -> web.StreamResponse:
        messages, outcome = self._core.chat_stream(call.request, caller)
        async with aclosing(messages):
            try:
                first = await anext(messages)
            except GatewayError as error:
                return error_response(error, call.wire_param, _served(outcome))
            response = await open_event_stream(request, _served(outcome))
            renderer = ChunkRenderer(
                first, created=int(time.time()), model=call.request.model, include_usage=call.include_usage
            )
            try:
                for chunk in renderer.render(first):
                    await send_event(response, chunk)
                async for message in messages:
                    for chunk in renderer.render(message):
                        await send_event(response, chunk)
            except ConnectionResetError:
                return response  # the caller left; closing `messages` closes the upstream call
            except Exception as raised:
                await send_event(
                    response, orjson.dumps(error_body(as_gateway_error(raised), call.wire_param))
                )
                return response
            await response.write(_DONE)
            return response

    async def embeddings(self, request: web.Request) -> web.Response:
        call: EmbeddingsCall | None = None
        try:
            call = to_v1_embed(await _body(request), request[REQUEST_ID])
            response, outcome = await self._core.embed(call.request, caller_of(request, FRONTEND))
            body = embedding_list(response, call.request.model, as_base64=call.base64)
            answer = web.Response(body=orjson.dumps(body), content_type="application/json")
            for name, value in _served(outcome):
                answer.headers[name] = value
            return answer
        except Exception as raised:  # the core's errors, and a bug here as a masked INTERNAL
            return error_response(as_gateway_error(raised), call.wire_param if call else str)

    async def models(self, request: web.Request) -> web.Response:
        try:
            listed = await self._core.list_models(caller_of(request, FRONTEND))
        except Exception as raised:
            return error_response(as_gateway_error(raised))
        return web.json_response(model_list(listed), dumps=lambda v: orjson.dumps(v).decode())

    async def model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        try:
            found = one_model(await self._core.list_models(caller_of(request, FRONTEND)), name)
            if found is None:
                raise model_not_found(name)
        except Exception as raised:
            return error_response(as_gateway_error(raised))
        return web.json_response(found, dumps=lambda v: orjson.dumps(v).decode())


def openai_routes(core: Core) -> list[web.RouteDef]:
    """POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models and GET /v1/models/{model}."""
    door = OpenAIDoor(core)
    return [
        web.post("/v1/chat/completions", door.chat_completions),
        web.post("/v1/embeddings", door.embeddings),
        web.get("/v1/models", door.models),
        # Model names hold slashes (meta-llama/Llama-3.1-8B-Instruct): the rest of the path is the id.
        web.get("/v1/models/{model:.+}", door.model),
    ]
