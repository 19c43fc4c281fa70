"""A wire-faithful Anthropic Messages API upstream for gateway tests.

A real HTTP/1.1 server on 127.0.0.1 (see tests.upstreams.base) that answers `POST /v1/messages`
unary or as named SSE events, and `GET /v1/models`. It validates requests as strictly as the real
API: required `anthropic-version` and key headers, no unknown fields, `max_tokens` required, roles
user|assistant only (system goes top-level), tool results matched to the preceding tool uses, and
no sampling parameters under API version 2026-10-21.

Standalone use:

    python -m tests.upstreams.anthropic --host 127.0.0.1 --port 0 [--api-key K]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from tests.upstreams import signing
from tests.upstreams.base import (
    Behaviour,
    Exchange,
    RecordedRequest,
    SimulatorServer,
    compact_json,
    forever,
    fragments,
    random_id,
    serve_until_signalled,
    sse_event,
    word_chunks,
)
from tests.upstreams.prompt_cache import CacheUse, Piece, PromptCache

__all__ = ["MODELS", "VERSIONS", "AnthropicSimulator", "Behaviour", "RecordedRequest"]

DEFAULT_KEY: Final = "sk-ant-sim-test"
VERSIONS: Final = ("2023-06-01", "2026-10-21")
_NO_SAMPLING_VERSION: Final = "2026-10-21"
# Requested model (alias or snapshot) → the snapshot the API reports in `model`.
MODELS: Final[dict[str, str]] = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5-20251001",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-opus-4-1-20250805": "claude-opus-4-1-20250805",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-20241022": "claude-3-5-haiku-20241022",
}
_DISPLAY_NAMES: Final = {
    "claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
    "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
    "claude-opus-4-1-20250805": "Claude Opus 4.1",
    "claude-3-5-haiku-20241022": "Claude Haiku 3.5",
}
_TOP_LEVEL: Final = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p",
        "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier", "output_config",
        "output_format", "container", "mcp_servers", "context_management",
    }
)  # fmt: skip
_SAMPLING: Final = ("temperature", "top_p", "top_k")
# What POST /v1/messages/count_tokens takes: the prompt and what adds to it, never max_tokens nor
# anything else that only shapes the output.
_COUNT_FIELDS: Final = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "mcp_servers",
     "context_management"}
)  # fmt: skip
# Snapshots without extended thinking.
_NO_THINKING: Final = frozenset({"claude-3-5-haiku-20241022"})
_THINKING_DOCS: Final = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
# The shortest prefix each model caches (the API's minimum cacheable prompt length); a shorter
# marked prefix is not an error, just not cached.
_CACHE_MINIMUM: Final[dict[str, int]] = {
    "claude-sonnet-4-5-20250929": 1024,
    "claude-opus-4-1-20250805": 1024,
    "claude-haiku-4-5-20251001": 4096,
    "claude-3-5-haiku-20241022": 2048,
}
_MAX_CACHE_CONTROLS: Final = 4
_IMAGE_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
_USER_BLOCKS: Final = ("text", "image", "document", "tool_result")
_ASSISTANT_BLOCKS: Final = ("text", "tool_use", "thinking", "redacted_thinking")
_TOOL_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_DEFAULT_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class _ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or _error_type(status)


def _error_type(status: int) -> str:
    return _DEFAULT_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _envelope(error_type: str, message: str, request_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _invalid(message: str) -> _ApiError:
    return _ApiError(400, message)


# --------------------------------------------------------------------------------------------------------
# Validation


@dataclass
class _Request:
    model: str
    stream: bool
    max_tokens: int
    stop_sequences: list[str]
    prompt_words: int
    last_user_text: str
    cache_pieces: list[Piece]
    thinking_budget: int | None = None  # extended thinking on, with this budget


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _invalid(f"{name}: Input should be a valid number")
    if not low <= value <= high:
        raise _invalid(f"{name}: range: {low:g} <= {name} <= {high:g}")


def _check_text_block(at: str, block: dict[str, Any]) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{at}.text: Field required")
    if not text:
        raise _invalid(f"{at}: text content blocks must be non-empty")
    return text


def _check_source(at: str, block: dict[str, Any], media_types: Sequence[str]) -> None:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _invalid(f"{at}.source: Field required")
    kind = source.get("type")
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _invalid(f"{at}.source.url: Input should be a valid URL")
        return
    if kind != "base64":
        raise _invalid(f"{at}.source.type: Input should be 'base64' or 'url'")
    if source.get("media_type") not in media_types:
        raise _invalid(f"{at}.source.media_type: Input should be " + ", ".join(f"'{m}'" for m in media_types))
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise _invalid(f"{at}.source.data: Field required")
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        raise _invalid(f"{at}.source.data: The image data is not valid base64") from None


def _check_tool_result(at: str, block: dict[str, Any], words: list[str]) -> str:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise _invalid(f"{at}.tool_use_id: Field required")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise _invalid(f"{at}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if isinstance(content, str):
        words.extend(content.split())
    elif isinstance(content, list):
        for j, inner in enumerate(content):
            if not isinstance(inner, dict) or inner.get("type") not in ("text", "image"):
                raise _invalid(f"{at}.content.{j}: Input tag does not match 'text' or 'image'")
            if inner["type"] == "text":
                words.extend(_check_text_block(f"{at}.content.{j}", inner).split())
            else:
                _check_source(f"{at}.content.{j}", inner, _IMAGE_TYPES)
    elif content is not None:
        raise _invalid(f"{at}.content: Input should be a valid string or list")
    return call_id


def _check_block(at: str, role: str, block: object, words: list[str]) -> tuple[str, str]:
    """Validate one content block; return (type, tool id or text)."""
    allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
    if not isinstance(block, dict):
        raise _invalid(f"{at}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind not in allowed:
        raise _invalid(f"{at}.type: Input tag '{kind}' is not one of " + ", ".join(f"'{a}'" for a in allowed))
    if kind == "text":
        text = _check_text_block(at, block)
        words.extend(text.split())
        return kind, text
    if kind == "image":
        _check_source(at, block, _IMAGE_TYPES)
    elif kind == "document":
        _check_source(at, block, ("application/pdf",))
    elif kind == "tool_result":
        return kind, _check_tool_result(at, block, words)
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise _invalid(f"{at}: tool_use blocks need a string id and name")
        if not isinstance(block.get("input"), dict):
            raise _invalid(f"{at}.input: Input should be a valid dictionary")
        return kind, block["id"]
    elif kind == "thinking":
        if not isinstance(block.get("thinking"), str):
            raise _invalid(f"{at}.thinking: Field required")
        if not isinstance(block.get("signature"), str) or not block["signature"]:
            raise _invalid(f"{at}.signature: Field required")
        if not signing.verifies("anthropic", block["thinking"], block["signature"]):
            raise _invalid(f"{at}: Invalid `signature` in `thinking` block")
    elif kind == "redacted_thinking":
        if not isinstance(block.get("data"), str):
            raise _invalid(f"{at}.data: Field required")
        if not signing.redacted_verifies("anthropic", block["data"]):
            raise _invalid(f"{at}: Invalid `data` in `redacted_thinking` block")
    return str(kind), ""


def _check_cache_control(at: str, block: dict[str, Any]) -> str | None:
    """The lifetime a block's cache_control asks for ("5m" when it names none), or None."""
    control = block.get("cache_control")
    if control is None:
        return None
    if block.get("type") in ("thinking", "redacted_thinking"):
        raise _invalid(f"{at}.cache_control: Extra inputs are not permitted")
    if not isinstance(control, dict):
        raise _invalid(f"{at}.cache_control: Input should be a valid dictionary")
    if control.get("type") != "ephemeral":
        raise _invalid(f"{at}.cache_control.type: Input should be 'ephemeral'")
    extra = set(control) - {"type", "ttl"}
    if extra:
        raise _invalid(f"{at}.cache_control.{sorted(extra)[0]}: Extra inputs are not permitted")
    ttl = control.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise _invalid(f"{at}.cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def _block_tokens(block: dict[str, Any]) -> int:
    if block.get("type") == "text":
        return len(str(block.get("text", "")).split())
    content = block.get("content") if block.get("type") == "tool_result" else None
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(
            len(str(inner.get("text", "")).split()) for inner in content if inner.get("type") == "text"
        )
    return 0


def _canonical(role: str, block: dict[str, Any]) -> str:
    unmarked = {key: value for key, value in block.items() if key != "cache_control"}
    if isinstance(unmarked.get("content"), list):
        unmarked["content"] = [
            {key: value for key, value in inner.items() if key != "cache_control"}
            for inner in unmarked["content"]
        ]
    return role + ":" + json.dumps(unmarked, sort_keys=True)


def _cache_pieces(body: dict[str, Any]) -> list[Piece]:
    """The prompt in the order the API caches it (tools, system, messages), each block with the
    lifetime of its cache_control; refuses more than four, or a 1-hour one after a 5-minute one."""
    pieces: list[Piece] = []
    for j, tool in enumerate(body.get("tools") or []):
        pieces.append(Piece(_canonical("tool", tool), 0, _check_cache_control(f"tools.{j}", tool)))
    system = body.get("system")
    for j, block in enumerate(system if isinstance(system, list) else []):
        ttl = _check_cache_control(f"system.{j}", block)
        pieces.append(Piece(_canonical("system", block), _block_tokens(block), ttl))
    if isinstance(system, str):
        pieces.append(Piece("system:" + system, len(system.split())))
    for t, (role, blocks) in enumerate(_merged_turns(body["messages"])):
        for j, block in enumerate(blocks):
            at = f"messages.{t}.content.{j}"
            ttl = _check_cache_control(at, block)
            inner = block.get("content") if block.get("type") == "tool_result" else None
            for k, item in enumerate(inner if isinstance(inner, list) else []):
                # A mark inside a tool result ends the prefix at the end of that result.
                ttl = _check_cache_control(f"{at}.content.{k}", item) or ttl
            pieces.append(Piece(_canonical(role, block), _block_tokens(block), ttl))
    marks = [piece.ttl for piece in pieces if piece.ttl is not None]
    if len(marks) > _MAX_CACHE_CONTROLS:
        raise _invalid(
            f"A maximum of {_MAX_CACHE_CONTROLS} blocks with cache_control may be provided. Found {len(marks)}."
        )
    for earlier, mark in enumerate(marks):
        if mark == "1h" and "5m" in marks[:earlier]:
            raise _invalid(
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note "
                "that blocks are processed in the following order: `tools`, `system`, `messages`."
            )
    return pieces


def _merged_turns(messages: list[Any]) -> list[tuple[str, list[Any]]]:
    """The API joins consecutive turns of the same role into one turn before anything else."""
    turns: list[tuple[str, list[Any]]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            raise _invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        extra = set(message) - {"role", "content"}
        if extra:
            raise _invalid(f"messages.{i}.{sorted(extra)[0]}: Extra inputs are not permitted")
        content = message.get("content")
        if isinstance(content, str):
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            if not content and not (role == "assistant" and i == len(messages) - 1):
                raise _invalid(f"messages.{i}: all messages must have non-empty content")
            blocks = list(content)
        else:
            raise _invalid(f"messages.{i}.content: Field required")
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return turns


def _validate_messages(messages: object) -> tuple[int, str]:
    """Validate `messages`; return (prompt word count, text of the last user turn)."""
    if not isinstance(messages, list):
        raise _invalid("messages: Field required")
    if not messages:
        raise _invalid("messages: at least one message is required")
    turns = _merged_turns(messages)
    if turns[0][0] != "user":
        raise _invalid('messages: first message must use the "user" role')
    words: list[str] = []
    last_user = ""
    pending_tool_uses: list[str] = []  # ids of the previous assistant turn's tool_use blocks
    for t, (role, blocks) in enumerate(turns):
        checked = [_check_block(f"messages.{t}.content.{j}", role, b, words) for j, b in enumerate(blocks)]
        if role == "assistant":
            if pending_tool_uses:
                raise _invalid(
                    f"messages.{t}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(pending_tool_uses)}. Each `tool_use` block must have a "
                    "corresponding `tool_result` block in the next message."
                )
            pending_tool_uses = [value for kind, value in checked if kind == "tool_use"]
            continue
        results = [value for kind, value in checked if kind == "tool_result"]
        unexpected = [r for r in results if r not in pending_tool_uses]
        if unexpected:
            raise _invalid(
                f"messages.{t}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{unexpected[0]}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
        missing = [p for p in pending_tool_uses if p not in results]
        if missing:
            raise _invalid(
                f"messages.{t - 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
        kinds = [kind for kind, _ in checked]
        first_other = next((j for j, kind in enumerate(kinds) if kind != "tool_result"), len(kinds))
        if "tool_result" in kinds[first_other:]:
            raise _invalid(f"messages.{t}.content: tool_result blocks must come first in the content array")
        pending_tool_uses = []
        last_user = "\n".join(value for kind, value in checked if kind == "text")
    return len(words), last_user


def _check_thinking_turn(messages: list[Any]) -> None:
    """With thinking on, a tool loop's assistant turn (the last one, answered by tool results) must
    start with its thinking, as the model produced it."""
    turns = _merged_turns(messages)
    if len(turns) < 2 or turns[-1][0] != "user" or turns[-2][0] != "assistant":
        return
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in turns[-1][1]):
        return
    first = turns[-2][1][0] if turns[-2][1] else {}
    kind = first.get("type") if isinstance(first, dict) else None
    if kind not in ("thinking", "redacted_thinking"):
        raise _invalid(
            f"messages.{len(turns) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{kind}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
            "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
            "include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "
            f"Please consult our documentation at {_THINKING_DOCS}"
        )


def _validate_thinking(body: dict[str, Any], model: str, max_tokens: int) -> int | None:
    """The thinking budget when extended thinking is on, after the API's checks."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        raise _invalid("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'")
    if thinking["type"] == "disabled":
        if set(thinking) != {"type"}:
            raise _invalid(
                f"thinking.disabled.{sorted(set(thinking) - {'type'})[0]}: Extra inputs are not permitted"
            )
        return None
    if set(thinking) - {"type", "budget_tokens"}:
        raise _invalid(
            f"thinking.enabled.{sorted(set(thinking) - {'type', 'budget_tokens'})[0]}: Extra inputs are not permitted"
        )
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise _invalid("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise _invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens <= budget:
        raise _invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            f"{_THINKING_DOCS}#max-tokens-and-context-window-size"
        )
    if MODELS.get(model) in _NO_THINKING:
        raise _invalid(f"'{model}' does not support thinking.")
    if body.get("temperature") not in (None, 1):
        raise _invalid(
            f"`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at {_THINKING_DOCS}"
        )
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        raise _invalid(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. "
            f"Please consult our documentation at {_THINKING_DOCS}"
        )
    if body.get("top_k") is not None:
        raise _invalid(
            f"`top_k` must be unset when thinking is enabled. Please consult our documentation at {_THINKING_DOCS}"
        )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise _invalid("Thinking may not be enabled when tool_choice forces tool use.")
    _check_thinking_turn(body["messages"])
    return budget


def _validate_system(system: object) -> int:
    if system is None:
        return 0
    if isinstance(system, str):
        return len(system.split())
    if not isinstance(system, list):
        raise _invalid("system: Input should be a valid string or list")
    words = 0
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _invalid(f"system.{j}.type: Input should be 'text'")
        words += len(_check_text_block(f"system.{j}", block).split())
    return words


def _validate_tools(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    names: list[str] = []
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _invalid(f"tools.{j}: Input should be a valid dictionary")
        extra = set(tool) - {"name", "description", "input_schema", "cache_control", "type", "strict"}
        if extra:
            raise _invalid(f"tools.{j}.{sorted(extra)[0]}: Extra inputs are not permitted")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _invalid(f"tools.{j}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise _invalid(f"tools.{j}.input_schema: Field required")
        if schema.get("type") != "object":
            raise _invalid(f"tools.{j}.input_schema.type: Input should be 'object'")
        if name in names:
            raise _invalid("tools: Tool names must be unique.")
        names.append(name)
    return names


def _validate_tool_choice(choice: object, tool_names: list[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise _invalid("tool_choice: Input should be a valid dictionary")
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise _invalid("tool_choice.type: Input tag does not match 'auto', 'any', 'tool', 'none'")
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise _invalid("tool_choice.tool.name: Field required")
        if choice["name"] not in tool_names:
            raise _invalid(f"tool_choice: Tool '{choice['name']}' not found in tools")
    if kind in ("any", "tool") and not tool_names:
        raise _invalid("tool_choice: tool_choice may only be specified while providing tools.")
    extra = set(choice) - {"type", "name", "disable_parallel_tool_use"}
    if extra:
        raise _invalid(f"tool_choice.{sorted(extra)[0]}: Extra inputs are not permitted")


def _validate_output_config(config: object) -> None:
    if config is None:
        return
    if not isinstance(config, dict) or set(config) - {"format", "effort"}:
        raise _invalid("output_config: Extra inputs are not permitted")
    fmt = config.get("format")
    if fmt is not None and (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise _invalid("output_config.format: expected {type: 'json_schema', schema: {...}}")


def _validate(body: object, version: str) -> _Request:
    if not isinstance(body, dict):
        raise _invalid("There was an error parsing the body of your request: expected a JSON object")
    for key in body:
        if key not in _TOP_LEVEL or (version == _NO_SAMPLING_VERSION and key in _SAMPLING):
            raise _invalid(f"{key}: Extra inputs are not permitted")
    for key in ("model", "messages", "max_tokens"):
        if key not in body:
            raise _invalid(f"{key}: Field required")
    model = body["model"]
    if not isinstance(model, str):
        raise _invalid("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    _check_number(body, "temperature", 0, 1)
    _check_number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0):
        raise _invalid("top_k: Input should be a valid integer greater than or equal to 0")
    stop = body.get("stop_sequences", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s.strip() for s in stop):
        raise _invalid("stop_sequences: each stop sequence must be a non-whitespace string")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _invalid("stream: Input should be a valid boolean")
    system_words = _validate_system(body.get("system"))
    words, last_user = _validate_messages(body["messages"])
    _validate_tool_choice(body.get("tool_choice"), _validate_tools(body))
    _validate_output_config(body.get("output_config"))
    if model not in MODELS:
        raise _ApiError(404, f"model: {model}")
    return _Request(
        model=model,
        stream=body.get("stream") is True,
        max_tokens=max_tokens,
        stop_sequences=stop,
        prompt_words=words + system_words,
        last_user_text=last_user,
        thinking_budget=_validate_thinking(body, model, max_tokens),
        cache_pieces=_cache_pieces(body),
    )


def _validate_count(body: object) -> tuple[str, int]:
    """Check a count_tokens body; return (model, input tokens as /v1/messages would report them)."""
    if not isinstance(body, dict):
        raise _invalid("There was an error parsing the body of your request: expected a JSON object")
    for key in body:
        if key not in _COUNT_FIELDS:
            raise _invalid(f"{key}: Extra inputs are not permitted")
    for key in ("model", "messages"):
        if key not in body:
            raise _invalid(f"{key}: Field required")
    model = body["model"]
    if not isinstance(model, str):
        raise _invalid("model: Input should be a valid string")
    system_words = _validate_system(body.get("system"))
    words, _ = _validate_messages(body["messages"])
    _validate_tool_choice(body.get("tool_choice"), _validate_tools(body))
    _validate_output_config(body.get("output_config"))
    if model not in MODELS:
        raise _ApiError(404, f"model: {model}")
    return model, words + system_words


# --------------------------------------------------------------------------------------------------------
# Reply planning


@dataclass
class _ToolUse:
    id: str
    name: str
    arguments: str

    def fragments(self) -> list[str]:
        return fragments(self.arguments)


@dataclass
class _Reply:
    chunks: list[str]
    tool_uses: list[_ToolUse]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int  # all of the prompt, cached or not
    cache: CacheUse
    # Extended thinking: its text (in stream chunks), or redacted data when the model's safety
    # systems withheld it.
    thinking: list[str] = field(default_factory=list)
    redacted: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def thinking_block(self) -> dict[str, Any] | None:
        if self.redacted is not None:
            return {"type": "redacted_thinking", "data": self.redacted}
        if not self.thinking:
            return None
        text = "".join(self.thinking)
        return {"type": "thinking", "thinking": text, "signature": signing.sign("anthropic", text)}

    @property
    def output_tokens(self) -> int:
        # One "token" per stream chunk that carries part of the answer (thinking included).
        thinking = len(self.thinking) + (1 if self.redacted is not None else 0)
        return thinking + len(self.chunks) + sum(1 + len(t.fragments()) for t in self.tool_uses)

    def delta_usage(self) -> dict[str, Any]:
        """message_delta's usage: the cumulative counts, without the breakdowns."""
        full = self.usage()
        keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        return {key: full[key] for key in keys}

    def usage(self, output_tokens: int | None = None) -> dict[str, Any]:
        # The API's input_tokens leaves out what was read from or written to the cache.
        return {
            "input_tokens": self.input_tokens - self.cache.read - self.cache.written,
            "cache_creation_input_tokens": self.cache.written,
            "cache_read_input_tokens": self.cache.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache.written_5m,
                "ephemeral_1h_input_tokens": self.cache.written_1h,
            },
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
        }


def _plan_reply(req: _Request, behaviour: Behaviour, cache: CacheUse) -> _Reply:
    if behaviour.refusal is not None:
        # The classifiers stop the answer: what was said so far, no tool use, stop_reason refusal.
        return _Reply(word_chunks(behaviour.refusal), [], "refusal", None, req.prompt_words, cache)
    uses = [_ToolUse(random_id("toolu_01", 22), name, args) for name, args in behaviour.tool_calls]
    text = behaviour.reply_text
    if text is None and not uses:
        text = "You said: " + req.last_user_text
    text = text or ""
    stop_reason, stop_sequence = ("tool_use" if uses else "end_turn"), None
    hits = [(text.find(s), s) for s in req.stop_sequences if s in text]
    if hits:
        at, stop_sequence = min(hits)
        text, uses, stop_reason = text[:at], [], "stop_sequence"
    chunks = word_chunks(text)
    if req.max_tokens < len(chunks):
        chunks, uses, stop_reason, stop_sequence = chunks[: req.max_tokens], [], "max_tokens", None
    reply = _Reply(
        chunks=chunks,
        tool_uses=uses,
        stop_reason=behaviour.finish_reason or stop_reason,
        stop_sequence=stop_sequence,
        input_tokens=req.prompt_words,
        cache=cache,
    )
    if req.thinking_budget is not None:
        thought = signing.thinking_about(req.last_user_text)
        if signing.REDACTED_TRIGGER in req.last_user_text:
            reply.redacted = signing.redacted("anthropic", thought)
        else:
            reply.thinking = word_chunks(thought)
    return reply


def _unary_body(message_id: str, model: str, reply: _Reply) -> dict[str, Any]:
    thinking = reply.thinking_block()
    content: list[dict[str, Any]] = [thinking] if thinking is not None else []
    if reply.chunks or not reply.tool_uses:
        content.append({"type": "text", "text": reply.text})
    content.extend(
        {"type": "tool_use", "id": t.id, "name": t.name, "input": _json_object(t.arguments)}
        for t in reply.tool_uses
    )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage(),
    }


def _json_object(text: str) -> Any:
    return json.loads(text)


class _Frames:
    """SSE frames, each one or more events; a reply chunk is always exactly one frame."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.frames: list[bytes] = []
        self._pending = b""

    def event(self, name: str, payload: dict[str, Any]) -> None:
        self._pending += sse_event(
            compact_json({"type": name, **payload}), self.behaviour, len(self.frames), name
        )

    def flush(self) -> None:
        self.frames.append(self._pending)
        self._pending = b""


def _thinking_frames(out: _Frames, reply: _Reply) -> int:
    """The thinking block's events (thinking_delta chunks, then its signature_delta in two pieces,
    as signatures may come split); the index of the next block."""
    block = reply.thinking_block()
    if block is None:
        return 0
    if block["type"] == "redacted_thinking":
        out.event("content_block_start", {"index": 0, "content_block": block})
        out.event("content_block_stop", {"index": 0})
        out.flush()
        return 1
    out.event(
        "content_block_start",
        {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    )
    out.flush()
    for chunk in reply.thinking:
        out.event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": chunk}})
        out.flush()
    signature = block["signature"]
    half = len(signature) // 2
    for piece in (signature[:half], signature[half:]):
        out.event(
            "content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": piece}}
        )
    out.event("content_block_stop", {"index": 0})
    return 1


def _stream_frames(message_id: str, model: str, reply: _Reply, behaviour: Behaviour) -> list[bytes]:
    """message_start, blocks (start, deltas, stop), message_delta, message_stop, grouped so that the
    opening frame precedes the reply chunks and the finish frame follows them."""
    out = _Frames(behaviour)
    start: dict[str, Any] = {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": reply.usage(output_tokens=1)}  # fmt: skip
    out.event("message_start", {"message": start})
    index = _thinking_frames(out, reply)
    if reply.chunks or not reply.tool_uses:
        out.event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        out.event("ping", {})
        out.flush()
        for chunk in reply.chunks:
            out.event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": chunk}})
            out.flush()
        out.event("content_block_stop", {"index": index})
        index += 1
    else:
        out.event("ping", {})
        out.flush()
    for use in reply.tool_uses:
        block = {"type": "tool_use", "id": use.id, "name": use.name, "input": {}}
        out.event("content_block_start", {"index": index, "content_block": block})
        out.event(
            "content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}
        )
        out.flush()
        for piece in use.fragments():
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.event("content_block_delta", {"index": index, "delta": delta})
            out.flush()
        out.event("content_block_stop", {"index": index})
        index += 1
    out.event(
        "message_delta",
        {"delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
         "usage": reply.delta_usage()},
    )  # fmt: skip
    out.flush()
    out.event("message_stop", {})
    out.flush()
    return out.frames


# --------------------------------------------------------------------------------------------------------
# The server


class AnthropicSimulator(SimulatorServer):
    """An Anthropic Messages API upstream on 127.0.0.1 (see SimulatorServer for the observables)."""

    name = "anthropic"

    def __init__(self, api_key: str | None = DEFAULT_KEY, host: str = "127.0.0.1", *, port: int = 0) -> None:
        super().__init__(api_key, host, port=port)
        # The account's prompt cache: what cache_control marked, per model.
        self.prompt_cache = PromptCache()

    def reset(self) -> None:
        super().reset()
        self.prompt_cache.clear()

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        path, method = request.path, request.method
        if path == "/v1/messages" and method == "POST":
            return await self._messages(request, exchange, body)
        if path == "/v1/messages/count_tokens" and method == "POST":
            return await self._count_tokens(request, exchange, body)
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            try:
                self._check_headers(request)
            except _ApiError as err:
                return await self._send_error(request, exchange, err)
            return await self._models(request, exchange, path.removeprefix("/v1/models").lstrip("/"))
        return await self._send_error(request, exchange, _ApiError(404, "Not Found"))

    def _check_headers(self, request: web.BaseRequest) -> str:
        """Validate the version and key headers; return the API version."""
        version = request.headers.get("anthropic-version")
        if version is None:
            raise _invalid("anthropic-version: header is required")
        if version not in VERSIONS:
            raise _invalid(f"anthropic-version: invalid version '{version}'")
        if self.api_key is None:
            return version
        key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        if key is None and authorization.startswith("Bearer "):
            key = authorization[len("Bearer ") :]
        if not key:
            raise _ApiError(401, "x-api-key header is required")
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            raise _ApiError(401, "invalid x-api-key")
        return version

    def _headers(self, exchange: Exchange, status: int, behaviour: Behaviour | None) -> dict[str, str]:
        headers = {
            "request-id": exchange.request_id,
            "anthropic-organization-id": "00000000-0000-4000-8000-000000000000",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "0" if status == 429 else "3999",
        }
        if behaviour is not None and behaviour.retry_after is not None:
            headers["retry-after"] = behaviour.retry_after
        if status >= 500 or status in (408, 409, 429):
            headers["x-should-retry"] = "true"
        return headers

    async def _send_json(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        payload: object,
        behaviour: Behaviour | None = None,
    ) -> web.StreamResponse:
        headers = self._headers(exchange, status, behaviour)
        content_type = behaviour.content_type if behaviour is not None else None
        return await self.send_json(request, exchange, status, payload, headers, content_type)

    async def _send_error(
        self, request: web.BaseRequest, exchange: Exchange, err: _ApiError, behaviour: Behaviour | None = None
    ) -> web.StreamResponse:
        payload = _envelope(err.type, err.message, exchange.request_id)
        return await self._send_json(request, exchange, err.status, payload, behaviour)

    async def _models(
        self, request: web.BaseRequest, exchange: Exchange, model_id: str
    ) -> web.StreamResponse:
        snapshots = sorted(set(MODELS.values()))

        def entry(name: str) -> dict[str, Any]:
            return {"type": "model", "id": name, "display_name": _DISPLAY_NAMES[name],
                    "created_at": "2025-01-01T00:00:00Z"}  # fmt: skip

        if model_id:
            if model_id not in MODELS:
                return await self._send_error(request, exchange, _ApiError(404, f"model: {model_id}"))
            return await self._send_json(request, exchange, 200, entry(MODELS[model_id]))
        limit = int(request.query.get("limit", "20"))
        after = request.query.get("after_id")
        start = snapshots.index(after) + 1 if after in snapshots else 0
        page = snapshots[start : start + limit]
        payload = {
            "data": [entry(m) for m in page],
            "has_more": start + limit < len(snapshots),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
        return await self._send_json(request, exchange, 200, payload)

    async def _messages(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        wants_stream = isinstance(body, dict) and body.get("stream") is True
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.stall_after is not None and not wants_stream:
            await forever()
        # Injected failures first: an overloaded upstream answers before it reads the request.
        if behaviour.raw_body is not None:
            headers = self._headers(exchange, behaviour.status, behaviour)
            headers["Content-Type"] = behaviour.content_type or "application/json"
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            version = self._check_headers(request)
            req = _validate(body, version)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        model = MODELS[req.model]
        cache = self.prompt_cache.on_request(model, req.cache_pieces, _CACHE_MINIMUM[model])
        reply = _plan_reply(req, behaviour, cache)
        message_id = random_id("msg_01", 22)
        if not req.stream:
            return await self._send_json(
                request, exchange, 200, _unary_body(message_id, model, reply), behaviour
            )
        headers = self._headers(exchange, 200, behaviour)
        headers["Content-Type"] = behaviour.content_type or "text/event-stream; charset=utf-8"
        headers["Cache-Control"] = "no-cache"
        error = _envelope(behaviour.error_type or "overloaded_error", behaviour.error_message, None)
        return await self.stream(
            request,
            exchange,
            behaviour,
            _stream_frames(message_id, model, reply, behaviour),
            reply_chunks=reply.output_tokens,
            headers=headers,
            error_frame=sse_event(compact_json(error), behaviour, 0, "error"),
        )

    async def _count_tokens(
        self, request: web.BaseRequest, exchange: Exchange, body: Any
    ) -> web.StreamResponse:
        """The count the messages endpoint would report as usage.input_tokens for the same prompt."""
        behaviour = self.next_behaviour()
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_headers(request)
            _, tokens = _validate_count(body)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        return await self._send_json(request, exchange, 200, {"input_tokens": tokens}, behaviour)

    async def _send_forced_error(
        self, request: web.BaseRequest, exchange: Exchange, behaviour: Behaviour
    ) -> web.StreamResponse:
        # Anthropic's envelope has no `code`: `error_type` is its whole error vocabulary.
        error_body = behaviour.error_body
        if isinstance(error_body, str):
            headers = self._headers(exchange, behaviour.status, behaviour)
            headers["Content-Type"] = behaviour.content_type or "application/json"
            return await self.send_bytes(request, exchange, behaviour.status, error_body.encode(), headers)
        payload = error_body or _envelope(
            behaviour.error_type or _error_type(behaviour.status),
            behaviour.error_message,
            exchange.request_id,
        )
        return await self._send_json(request, exchange, behaviour.status, payload, behaviour)


# --------------------------------------------------------------------------------------------------------
# Standalone entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.anthropic", description="Run the Anthropic Messages API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--api-key",
        default=DEFAULT_KEY,
        help="key required as 'x-api-key' or 'Authorization: Bearer' (default: %(default)s; '' disables auth)",
    )
    args = parser.parse_args(argv)
    return serve_until_signalled(
        AnthropicSimulator(api_key=args.api_key or None, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
