"""The gateway's own count of a request's input tokens, for providers without a counting endpoint
(OpenAI, Azure OpenAI, vLLM, Together, Ollama): an estimate, marked as one.

The tokenizer is tiktoken's BPE (o200k_base, or cl100k_base for the GPT-4 and GPT-3.5 generation)
as the `toktok-rs` package ships it, compiled into its wheel: nothing is downloaded at run time.
(tiktoken itself fetches its BPE files from the internet on first use, which a gateway behind a
firewall cannot count on.) For OpenAI's models the text is counted exactly; the framing around it
follows OpenAI's published rule of thumb for chat messages, and an image counts as OpenAI prices
one whose size is unknown. Other vendors' models (Llama, Qwen, … behind vLLM, Together, Ollama) use
other tokenizers, so for them the figure is a fair estimate, not their count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import orjson
import toktok
from google.protobuf import json_format

from llmgateway.v1 import chat_pb2, content_pb2

_O200K = "o200k_base"
_CL100K = "cl100k_base"
# Models before GPT-4o tokenize with cl100k_base; everything newer (and unknown) with o200k_base.
_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "text-embedding-")
_CL100K_NAMES = frozenset({"gpt-4", "gpt-4-32k"})

# OpenAI's chat framing: every message costs 3 tokens around its content (1 more with a name), and
# every reply is primed with 3 (the OpenAI cookbook, "How to count tokens with tiktoken").
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
# A rough allowance for the framing OpenAI puts around tool definitions (it does not publish how it
# renders them into the prompt): this much per tool, and once for the whole list.
_PER_TOOL = 8
_TOOLS_PREAMBLE = 12
# An image of unknown size at `detail: auto`: OpenAI's price of a 1024x1024 image (85 base tokens
# plus 170 for each of the four 512-pixel tiles of its 768x768 scaled form).
_IMAGE_TOKENS = 85 + 4 * 170
# Above this much text the count runs in a worker thread (toktok releases the GIL), so a
# megabyte-sized prompt does not hold up the event loop's other calls.
_THREAD_ABOVE_CHARS = 256 * 1024
# The encodings loaded so far. Loading one takes seconds (toktok builds it on first use) and holds
# the GIL meanwhile, so the gateway loads those its deployments need before it serves (preload); an
# encoding first needed later (after a reload) is loaded in a worker thread, which still stalls the
# event loop for that once.
_loaded: set[str] = set()


def encoding_for(model: str) -> str:
    """The tiktoken encoding of an OpenAI model name; o200k_base for any other model."""
    name = model.rsplit("/", 1)[-1].lower()
    if name in _CL100K_NAMES or name.startswith(_CL100K_PREFIXES):
        return _CL100K
    return _O200K


def counted_by(model: str) -> str:
    """What CountTokensResponse.counted_by says for an estimate for `model`."""
    return f"toktok/{encoding_for(model)}"


def _json(message: object) -> str:
    return orjson.dumps(message).decode()


def _part_texts(part: content_pb2.Part) -> tuple[list[str], int]:
    """The texts a part puts in the prompt, and the tokens it costs beyond them (images)."""
    kind = part.WhichOneof("kind")
    if kind == "text":
        return [part.text], 0
    if kind == "refusal":
        return [part.refusal], 0
    if kind == "reasoning":
        return [part.reasoning.text], 0
    if kind == "media":
        return [], _IMAGE_TOKENS
    if kind == "tool_call":
        return [part.tool_call.name, part.tool_call.arguments_json], 0
    if kind == "tool_result":
        texts: list[str] = []
        extra = 0
        for inner in part.tool_result.content:
            inner_texts, inner_extra = _part_texts(inner)
            texts += inner_texts
            extra += inner_extra
        return texts, extra
    return [], 0


def _prompt(request: chat_pb2.ChatRequest) -> tuple[list[str], int]:
    """Every text of the prompt, and the tokens of its framing and images."""
    texts: list[str] = []
    fixed = _REPLY_PRIMING
    for message in request.messages:
        fixed += _PER_MESSAGE + (_PER_NAME if message.name else 0)
        texts.append(content_pb2.Role.Name(message.role).removeprefix("ROLE_").lower())
        if message.name:
            texts.append(message.name)
        for part in message.parts:
            part_texts, extra = _part_texts(part)
            texts += part_texts
            fixed += extra
    if request.tools:
        fixed += _TOOLS_PREAMBLE
        for tool in request.tools:
            fixed += _PER_TOOL
            texts += [tool.name, tool.description, _json(json_format.MessageToDict(tool.parameters))]
    generation = request.generation_config
    if generation.HasField("response_json_schema"):
        texts.append(_json(json_format.MessageToDict(generation.response_json_schema)))
    return [text for text in texts if text], fixed


def _count(texts: list[str], encoding: str) -> int:
    # One thread: the gateway serves many calls at once; a count must not take every core.
    counts: list[int] = toktok.batch_count(texts, encoding, threads=1)
    return sum(counts)


def preload(models: Iterable[str]) -> None:
    """Load the encodings of these models now, blocking (call before serving)."""
    for encoding in sorted({encoding_for(model) for model in models} - _loaded):
        _count(["warm"], encoding)
        _loaded.add(encoding)


async def estimate(request: chat_pb2.ChatRequest, model: str) -> chat_pb2.CountTokensResponse:
    """The local estimate of `request`'s input tokens for `model` (estimated=True)."""
    texts, fixed = _prompt(request)
    encoding = encoding_for(model)
    if encoding not in _loaded or sum(len(text) for text in texts) > _THREAD_ABOVE_CHARS:
        counted = await asyncio.to_thread(_count, texts, encoding)
        _loaded.add(encoding)
    else:
        counted = _count(texts, encoding)
    return chat_pb2.CountTokensResponse(
        input_tokens=counted + fixed, estimated=True, model=model, counted_by=counted_by(model)
    )
