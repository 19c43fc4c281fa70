"""A wire-faithful Ollama native API upstream (`/api/chat`, `/api/tags`) for gateway tests.

Ollama streams newline-delimited JSON (`application/x-ndjson`): one object per line, the last one with
`"done": true`, the reason and the counters. Tool calls arrive whole (arguments as a JSON object) in one
line each. Validation follows the real server, a Go program that decodes the body into typed structs:
wrong JSON types and invalid base64 images are 400s with Go's error text, an unknown model is a 404,
unknown fields and options are ignored. Beyond the real server it refuses unknown roles (the real one
silently renders them into the prompt template), so an adapter bug shows up as a failure.

SSE-only knobs (`crlf`, `comments`) do not apply to NDJSON and are ignored.

Standalone use:

    python -m tests.upstreams.ollama --host 127.0.0.1 --port 0 [--api-key K]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import random
import secrets
import string
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from tests.upstreams.base import (
    Behaviour,
    Exchange,
    RecordedRequest,
    SimulatorServer,
    compact_json,
    forever,
    serve_until_signalled,
    word_chunks,
)
from tests.upstreams.embeddings import EmbeddingRefusedError, ollama_embed

__all__ = ["MODELS", "Behaviour", "OllamaSimulator", "RecordedRequest"]

VERSION: Final = "0.12.6"


@dataclass(frozen=True)
class _Model:
    family: str
    parameter_size: str
    tools: bool = True
    thinking: bool = False
    vision: bool = False


# Local models by their full name; a name without a tag means `:latest`, as in Ollama.
MODELS: Final[dict[str, _Model]] = {
    "llama3.2:latest": _Model("llama", "3.2B"),
    "qwen3:8b": _Model("qwen3", "8.2B", thinking=True),
    "llava:latest": _Model("llama", "7B", tools=False, vision=True),
}
_ROLES: Final = ("system", "user", "assistant", "tool")
_THINK_LEVELS: Final = ("low", "medium", "high", "max")
_INT_OPTIONS: Final = frozenset(
    {"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch", "num_gpu"}
)
_FLOAT_OPTIONS: Final = frozenset(
    {"top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty", "frequency_penalty"}
)
_THINKING_TEXT: Final = "Let me think about what the user wrote."
_JSON_UTF8: Final = "application/json; charset=utf-8"


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _go_type(value: object) -> str:
    # The JSON kind as Go's encoding/json names it in "cannot unmarshal X into ..." errors.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _unmarshal_error(value: object, where: str, go_type: str) -> _ApiError:
    return _ApiError(
        400, f"json: cannot unmarshal {_go_type(value)} into Go struct field {where} of type {go_type}"
    )


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def _timestamp() -> str:
    # Go's RFC3339Nano: nanoseconds with trailing zeros dropped.
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def _tool_call_id() -> str:
    return "call_" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


# --------------------------------------------------------------------------------------------------------
# Validation


@dataclass
class _ChatRequest:
    model: str
    stream: bool
    num_predict: int | None
    think: bool
    prompt_words: int
    last_user_text: str


def _check_images(images: object) -> None:
    if not isinstance(images, list):
        raise _unmarshal_error(images, "Message.messages.images", "[]api.ImageData")
    for image in images:
        if not isinstance(image, str):
            raise _unmarshal_error(image, "Message.messages.images", "api.ImageData")
        try:
            base64.b64decode(image, validate=True)
        except binascii.Error:
            position = next(
                (i for i, c in enumerate(image) if c not in string.ascii_letters + string.digits + "+/="),
                len(image),
            )
            raise _ApiError(400, f"illegal base64 data at input byte {position}") from None


def _check_tool_calls(calls: object) -> None:
    if not isinstance(calls, list):
        raise _unmarshal_error(calls, "Message.messages.tool_calls", "[]api.ToolCall")
    for call in calls:
        if not isinstance(call, dict):
            raise _unmarshal_error(call, "Message.messages.tool_calls", "api.ToolCall")
        function = call.get("function")
        if not isinstance(function, dict):
            raise _unmarshal_error(function, "ToolCall.messages.tool_calls.function", "api.ToolCallFunction")
        if not isinstance(function.get("name", ""), str):
            raise _unmarshal_error(
                function["name"], "ToolCallFunction.messages.tool_calls.function.name", "string"
            )
        arguments = function.get("arguments")
        # Real Ollama takes arguments as an object only; the OpenAI-style JSON string is refused.
        if arguments is not None and not isinstance(arguments, dict):
            raise _ApiError(
                400,
                f"json: cannot unmarshal {_go_type(arguments)} into Go value of type map[string]interface {{}}",
            )


def _check_message(at: str, message: object) -> tuple[str, str]:
    """(role, content) of one valid message."""
    if not isinstance(message, dict):
        raise _unmarshal_error(message, "ChatRequest.messages", "api.Message")
    for key in ("role", "content", "thinking", "tool_name", "tool_call_id"):
        if key in message and message[key] is not None and not isinstance(message[key], str):
            raise _unmarshal_error(message[key], f"Message.messages.{key}", "string")
    role = str(message.get("role") or "").lower()
    if role not in _ROLES:
        raise _ApiError(400, f"invalid role {role!r} in {at}: expected one of system, user, assistant, tool")
    if message.get("images") is not None:
        _check_images(message["images"])
    if message.get("tool_calls") is not None:
        _check_tool_calls(message["tool_calls"])
    return role, str(message.get("content") or "")


def _check_messages(messages: object) -> tuple[int, str]:
    """(prompt word count, last user text)."""
    if messages is None:
        return 0, ""
    if not isinstance(messages, list):
        raise _unmarshal_error(messages, "ChatRequest.messages", "[]api.Message")
    words, last_user = 0, ""
    for index, message in enumerate(messages):
        role, content = _check_message(f"messages[{index}]", message)
        words += len(content.split())
        if role == "user":
            last_user = content
    return words, last_user


def _check_tools(tools: object, model: str) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _unmarshal_error(tools, "ChatRequest.tools", "api.Tools")
    for tool in tools:
        if not isinstance(tool, dict):
            raise _unmarshal_error(tool, "ChatRequest.tools", "api.Tool")
        if not isinstance(tool.get("type", ""), str):
            raise _unmarshal_error(tool["type"], "Tool.tools.type", "string")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _unmarshal_error(function, "Tool.tools.function", "api.ToolFunction")
        for key in ("name", "description"):
            if key in function and not isinstance(function[key], str):
                raise _unmarshal_error(function[key], f"ToolFunction.tools.function.{key}", "string")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _unmarshal_error(
                parameters, "ToolFunction.tools.function.parameters", "api.ToolFunctionParameters"
            )
    if tools and not MODELS[model].tools:
        raise _ApiError(400, f"{model} does not support tools")


def _check_options(options: object, warnings: list[str]) -> int | None:
    """Type-check `options` as Ollama's Options.FromMap does; return num_predict."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise _unmarshal_error(options, "ChatRequest.options", "map[string]interface {}")
    for key, value in options.items():
        if value is None:
            continue
        if key in _INT_OPTIONS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _ApiError(500, f'option "{key}" must be of type integer')
        elif key in _FLOAT_OPTIONS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _ApiError(500, f'option "{key}" must be of type float32')
        elif key == "stop":
            if not isinstance(value, list):
                raise _ApiError(500, 'option "stop" must be of type array')
            if not all(isinstance(item, str) for item in value):
                raise _ApiError(500, 'option "stop" must be of an array of strings')
        else:
            # Ollama logs "invalid option provided" and carries on; tests read it from `warnings`.
            warnings.append(f"invalid option provided: {key}")
    num_predict = options.get("num_predict")
    return int(num_predict) if isinstance(num_predict, int | float) and num_predict >= 0 else None


def _check_format(value: object) -> None:
    if value is None or value == "json" or isinstance(value, dict):
        return
    raise _ApiError(
        400, f'invalid format: {json.dumps(value)}; expected "json" or a valid JSON Schema object'
    )


def _check_think(value: object, model: str) -> bool:
    """Whether the model will think: thinking models do unless told not to."""
    if value is None:
        return MODELS[model].thinking
    if isinstance(value, str):
        if value not in _THINK_LEVELS:
            raise _ApiError(
                400,
                f'invalid think value: {value!r} (must be "low", "medium", "high", "max", true, or false)',
            )
        wants = True
    elif isinstance(value, bool):
        wants = value
    else:
        raise _unmarshal_error(value, "ChatRequest.think", "api.ThinkValue")
    if wants and not MODELS[model].thinking:
        raise _ApiError(400, f'"{model}" does not support thinking')
    return wants


def _validate_chat(body: Any, requested_model: str, warnings: list[str]) -> _ChatRequest:
    stream = body.get("stream", True)
    if stream is not None and not isinstance(stream, bool):
        raise _unmarshal_error(stream, "ChatRequest.stream", "bool")
    prompt_words, last_user = _check_messages(body.get("messages"))
    model = _full_name(requested_model)
    if model not in MODELS:
        raise _ApiError(404, f"model '{requested_model}' not found")
    _check_tools(body.get("tools"), model)
    num_predict = _check_options(body.get("options"), warnings)
    _check_format(body.get("format"))
    think = _check_think(body.get("think"), model)
    return _ChatRequest(
        model=requested_model,
        stream=stream is not False,
        num_predict=num_predict,
        think=think,
        prompt_words=prompt_words,
        last_user_text=last_user,
    )


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise _ApiError(400, "missing request body")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        text = raw.decode("utf-8", "replace")
        if error.pos >= len(text):
            raise _ApiError(400, "unexpected EOF") from None
        raise _ApiError(
            400, f"invalid character {text[error.pos]!r} looking for beginning of value"
        ) from None
    except UnicodeDecodeError:
        raise _ApiError(400, "invalid character looking for beginning of value") from None
    if not isinstance(body, dict):
        raise _ApiError(400, f"json: cannot unmarshal {_go_type(body)} into Go value of type api.ChatRequest")
    return body


# --------------------------------------------------------------------------------------------------------
# Reply planning


@dataclass
class _Reply:
    thinking_chunks: list[str]
    content_chunks: list[str]
    tool_calls: list[dict[str, Any]]
    done_reason: str
    prompt_tokens: int

    @property
    def eval_count(self) -> int:
        return len(self.thinking_chunks) + len(self.content_chunks) + len(self.tool_calls)

    @property
    def content(self) -> str:
        return "".join(self.content_chunks)

    @property
    def thinking(self) -> str:
        return "".join(self.thinking_chunks)


def _plan_reply(chat: _ChatRequest, behaviour: Behaviour) -> _Reply:
    calls = [
        {
            "id": _tool_call_id(),
            "function": {"index": index, "name": name, "arguments": json.loads(arguments)},
        }
        for index, (name, arguments) in enumerate(behaviour.tool_calls)
    ]
    text = behaviour.reply_text
    if text is None and not calls:
        text = "You said: " + chat.last_user_text
    chunks = word_chunks(text) if text else []
    thinking = word_chunks(_THINKING_TEXT) if chat.think else []
    # Ollama says "stop" even when the model called tools; only a hit num_predict says "length".
    reason = "stop"
    if chat.num_predict is not None and chat.num_predict < len(thinking) + len(chunks):
        budget = max(chat.num_predict - len(thinking), 0)
        thinking = thinking[: chat.num_predict]
        chunks = chunks[:budget]
        calls = []
        reason = "length"
    return _Reply(thinking, chunks, calls, behaviour.finish_reason or reason, chat.prompt_words)


def _metrics(reply: _Reply, started_ns: int) -> dict[str, Any]:
    # Real time for loading, plausible figures for evaluation (1 ms per prompt token, 10 ms per token).
    load = max(time.monotonic_ns() - started_ns, 1_000)
    prompt_eval = 1_000_000 * max(reply.prompt_tokens, 1)
    evaluation = 10_000_000 * max(reply.eval_count, 1)
    return {
        "total_duration": load + prompt_eval + evaluation,
        "load_duration": load,
        "prompt_eval_count": reply.prompt_tokens,
        "prompt_eval_duration": prompt_eval,
        "eval_count": reply.eval_count,
        "eval_duration": evaluation,
    }


def _message(
    content: str = "", thinking: str = "", tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _unary_body(model: str, reply: _Reply, started_ns: int) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _timestamp(),
        "message": _message(reply.content, reply.thinking, reply.tool_calls),
        "done_reason": reply.done_reason,
        "done": True,
        **_metrics(reply, started_ns),
    }


def _stream_lines(model: str, reply: _Reply, started_ns: int) -> list[dict[str, Any]]:
    """Every NDJSON object of a stream: one per reply chunk, then the done line."""

    def line(message: dict[str, Any]) -> dict[str, Any]:
        return {"model": model, "created_at": _timestamp(), "message": message, "done": False}

    lines = [line(_message(thinking=piece)) for piece in reply.thinking_chunks]
    lines.extend(line(_message(piece)) for piece in reply.content_chunks)
    lines.extend(line(_message(tool_calls=[call])) for call in reply.tool_calls)
    lines.append(
        {
            "model": model,
            "created_at": _timestamp(),
            "message": _message(),
            "done": True,
            "done_reason": reply.done_reason,
            **_metrics(reply, started_ns),
        }
    )
    return lines


def _ndjson(obj: object) -> bytes:
    return (compact_json(obj) + "\n").encode()


def _fault_index(after: int | None, reply_chunks: int) -> int | None:
    """Line index at which a fault "after N reply chunks" acts. Ollama has no opening line and its
    done line is the terminator, so a fault covering the whole reply lands just before it."""
    if after is None:
        return None
    return min(max(after, 0), reply_chunks)


# --------------------------------------------------------------------------------------------------------
# The server


class OllamaSimulator(SimulatorServer):
    """An Ollama upstream on 127.0.0.1 (see SimulatorServer for the observables).

    Ollama itself has no authentication; with `api_key` set the simulator plays an authenticating
    proxy in front of it and wants `Authorization: Bearer KEY`. `warnings` collects what the real
    server would only log (unknown options)."""

    name = "ollama"

    def __init__(self, api_key: str | None = None, host: str = "127.0.0.1", *, port: int = 0) -> None:
        super().__init__(api_key, host, port=port)
        self.warnings: list[str] = []

    def reset(self) -> None:
        super().reset()
        self.warnings.clear()

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        path, method = request.path, request.method
        if path == "/" and method in ("GET", "HEAD"):
            return await self.send_bytes(
                request, exchange, 200, b"Ollama is running", {"Content-Type": "text/plain; charset=utf-8"}
            )
        if path == "/api/chat" and method == "POST":
            return await self._chat(request, exchange, body)
        if path == "/api/embed" and method == "POST":
            return await self._embed(request, exchange, body)
        if path in ("/api/tags", "/api/version") and method == "GET":
            try:
                self._check_auth(request)
            except _ApiError as err:
                return await self._send_error(request, exchange, err)
            if path == "/api/version":
                return await self._send_json(request, exchange, 200, {"version": VERSION})
            return await self._send_json(request, exchange, 200, {"models": [self._tag(n) for n in MODELS]})
        # Gin's default 404 is plain text.
        return await self.send_bytes(
            request, exchange, 404, b"404 page not found", {"Content-Type": "text/plain"}
        )

    def _check_auth(self, request: web.BaseRequest) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("Authorization", "")
        provided = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        if not provided or not secrets.compare_digest(provided.encode(), self.api_key.encode()):
            raise _ApiError(401, "unauthorized")

    @staticmethod
    def _tag(name: str) -> dict[str, Any]:
        model = MODELS[name]
        digest = secrets.token_hex(32)
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": model.family,
                "families": [model.family],
                "parameter_size": model.parameter_size,
                "quantization_level": "Q4_K_M",
            },
        }

    @staticmethod
    def _headers(behaviour: Behaviour | None) -> dict[str, str]:
        if behaviour is not None and behaviour.retry_after is not None:
            return {"Retry-After": behaviour.retry_after}
        return {}

    async def _send_json(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        payload: object,
        behaviour: Behaviour | None = None,
    ) -> web.StreamResponse:
        # Gin writes compact JSON without a trailing newline.
        content_type = (behaviour.content_type if behaviour else None) or _JSON_UTF8
        headers = {**self._headers(behaviour), "Content-Type": content_type}
        return await self.send_bytes(request, exchange, status, compact_json(payload).encode(), headers)

    async def _send_error(
        self, request: web.BaseRequest, exchange: Exchange, err: _ApiError, behaviour: Behaviour | None = None
    ) -> web.StreamResponse:
        return await self._send_json(request, exchange, err.status, {"error": err.message}, behaviour)

    async def _embed(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        """`POST /api/embed` (tests/upstreams/embeddings.py)."""
        behaviour = self.next_behaviour()
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.raw_body is not None:
            headers = {"Content-Type": behaviour.content_type or "application/json; charset=utf-8"}
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            payload = ollama_embed(body)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        except EmbeddingRefusedError as refused:
            return await self._send_error(
                request, exchange, _ApiError(refused.status, refused.message), behaviour
            )
        return await self._send_json(request, exchange, 200, payload, behaviour)

    async def _chat(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        raw = await request.read()  # aiohttp keeps the body it already read
        started_ns = time.monotonic_ns()
        wants_stream = not (isinstance(body, dict) and body.get("stream") is False)
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.stall_after is not None and not wants_stream:
            await forever()
        # Injected failures first: an overloaded upstream answers before looking at the request.
        if behaviour.raw_body is not None:
            headers = {**self._headers(behaviour), "Content-Type": behaviour.content_type or _JSON_UTF8}
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            parsed = _parse_body(raw)
            requested_model = parsed.get("model")
            if not isinstance(requested_model, str) or not requested_model:
                raise _ApiError(400, "model is required")
            chat = _validate_chat(parsed, requested_model, self.warnings)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        reply = _plan_reply(chat, behaviour)
        if not chat.stream:
            return await self._send_json(
                request, exchange, 200, _unary_body(chat.model, reply, started_ns), behaviour
            )
        lines = [_ndjson(line) for line in _stream_lines(chat.model, reply, started_ns)]
        return await self._stream_lines(request, exchange, behaviour, lines, reply.eval_count)

    async def _stream_lines(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        behaviour: Behaviour,
        lines: list[bytes],
        reply_chunks: int,
    ) -> web.StreamResponse:
        """Like SimulatorServer.stream, with fault positions that fit NDJSON (no opening frame, the
        done line as terminator)."""
        headers = {
            **self._headers(behaviour),
            "Content-Type": behaviour.content_type or "application/x-ndjson",
        }
        resp = web.StreamResponse(status=200, headers=headers)
        resp.enable_chunked_encoding()
        exchange.response = resp
        await resp.prepare(request)
        stall_at = _fault_index(behaviour.stall_after, reply_chunks)
        reset_at = _fault_index(behaviour.reset_after, reply_chunks)
        cut_at = _fault_index(behaviour.cut_after, reply_chunks)
        error_at = _fault_index(behaviour.stream_error_after, reply_chunks)
        rng = random.Random()
        for index, line in enumerate(lines):
            if index == stall_at:
                await forever()
            if index == reset_at:
                await self.abort(request, exchange)
                return resp
            if index == error_at:
                await self.write_frame(resp, _ndjson({"error": behaviour.error_message}), behaviour, rng)
                await self.finish(resp)
                return resp
            if index == cut_at:
                await self.finish(resp)
                return resp
            delay = behaviour.ttft if index == 0 else behaviour.inter_token
            if delay > 0:
                await asyncio.sleep(delay)
            await self.write_frame(resp, line, behaviour, rng)
        await self.finish(resp)
        return resp

    async def _send_forced_error(
        self, request: web.BaseRequest, exchange: Exchange, behaviour: Behaviour
    ) -> web.StreamResponse:
        error_body = behaviour.error_body
        if isinstance(error_body, str):
            headers = {**self._headers(behaviour), "Content-Type": behaviour.content_type or _JSON_UTF8}
            return await self.send_bytes(request, exchange, behaviour.status, error_body.encode(), headers)
        payload = error_body or {"error": behaviour.error_message}
        return await self._send_json(request, exchange, behaviour.status, payload, behaviour)


# --------------------------------------------------------------------------------------------------------
# Standalone entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.ollama", description="Run the Ollama native API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--api-key", default="", help="require 'Authorization: Bearer KEY' (default: no auth, like Ollama)"
    )
    args = parser.parse_args(argv)
    return serve_until_signalled(
        OllamaSimulator(api_key=args.api_key or None, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
