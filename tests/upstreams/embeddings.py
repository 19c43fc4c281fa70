"""The embeddings endpoints of the provider simulators: each protocol's request validated as strictly
as the real API validates it, and answered with deterministic vectors, so tests can check which
vector came back for which input and in what order.

A vector is seeded from a hash of its text (unit length, float32-exact values), and truncating to
`dimensions` takes its first values and renormalises (what Matryoshka models do). Token counts are
whitespace words (at least one per input): deliberately unlike the gateway's 4-characters estimate,
so tests can tell reported usage from estimates.

This module speaks no provider's error shape: a refusal is an `EmbeddingRefusedError` carrying the
status and the provider's own words, which each simulator renders in its error envelope.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class EmbeddingModel:
    """An embedding model a simulator serves."""

    dimensions: int
    # Whether the model takes a shorter output size (OpenAI text-embedding-3, Matryoshka models).
    shortens: bool
    max_input_tokens: int


class EmbeddingRefusedError(Exception):
    """A request the real API refuses: the HTTP status and the provider's own words."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def vector(text: str, dimensions: int) -> list[float]:
    """The vector of `text`: seeded from its hash, unit length, truncated to `dimensions`."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [_float32(v / norm) for v in values]


def tokens(text: str) -> int:
    """The simulated token count of one input."""
    return max(1, len(text.split()))


def as_base64(values: list[float]) -> str:
    """Little-endian float32, base64: OpenAI's `encoding_format: base64`."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _vectors(inputs: list[str], model: EmbeddingModel, dimensions: int | None) -> list[list[float]]:
    return [vector(text, dimensions or model.dimensions) for text in inputs]


# ---- OpenAI /v1/embeddings (also Azure, vLLM, Together) ----------------------------------------

OPENAI_EMBEDDING_MODELS: Final[dict[str, dict[str, EmbeddingModel]]] = {
    "openai": {
        "text-embedding-3-small": EmbeddingModel(1536, True, 8191),
        "text-embedding-3-large": EmbeddingModel(3072, True, 8191),
        "text-embedding-ada-002": EmbeddingModel(1536, False, 8191),
    },
    "vllm": {
        "BAAI/bge-m3": EmbeddingModel(1024, False, 8192),
        "Qwen/Qwen3-Embedding-0.6B": EmbeddingModel(1024, True, 32768),
    },
    "together": {
        "BAAI/bge-base-en-v1.5": EmbeddingModel(768, False, 512),
        "intfloat/multilingual-e5-large-instruct": EmbeddingModel(1024, False, 514),
    },
}
OPENAI_MAX_INPUTS: Final = 2048
_OPENAI_PARAMS: Final = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
_TOGETHER_PARAMS: Final = frozenset({"model", "input"})
_INPUT_INVALID: Final = (
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
)


def _openai_inputs(value: object) -> list[str]:
    """The texts of `input`: a string or an array of strings (token arrays are refused here: the
    gateway never sends them)."""
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or len(value) > OPENAI_MAX_INPUTS
        or not all(isinstance(text, str) and text for text in value)
    ):
        raise EmbeddingRefusedError(400, _INPUT_INVALID)
    return value


def openai_embeddings(
    body: Any, models: Mapping[str, EmbeddingModel], *, dialect: str, model_name: str | None = None
) -> dict[str, Any]:
    """The answer to `POST /v1/embeddings` (`model_name`: Azure's deployment's model, the body's
    `model` being ignored there)."""
    if not isinstance(body, dict):
        raise EmbeddingRefusedError(400, "We could not parse the JSON body of your request.")
    known = _TOGETHER_PARAMS if dialect == "together" else _OPENAI_PARAMS
    if dialect != "vllm":  # vLLM ignores what it does not know
        for key in body:
            if key not in known:
                raise EmbeddingRefusedError(400, f"Unrecognized request argument supplied: {key}")
    name = model_name or body.get("model")
    if not isinstance(name, str) or not name:
        raise EmbeddingRefusedError(400, "you must provide a model parameter", param="model")
    model = models.get(name)
    if model is None:
        raise EmbeddingRefusedError(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if "input" not in body:
        raise EmbeddingRefusedError(400, "Missing required parameter: 'input'.", param="input")
    inputs = _openai_inputs(body["input"])
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise EmbeddingRefusedError(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not model.shortens:
            message = (
                f'Model "{name}" does not support matryoshka representation, changing output '
                "dimensions will lead to poor results."
                if dialect == "vllm"
                else "This model does not support specifying dimensions."
            )
            raise EmbeddingRefusedError(400, message, param="dimensions")
        if (
            not isinstance(dimensions, int)
            or isinstance(dimensions, bool)
            or not 1 <= dimensions <= model.dimensions
        ):
            raise EmbeddingRefusedError(400, f"Invalid 'dimensions': {dimensions!r}.", param="dimensions")
    counts = [tokens(text) for text in inputs]
    for count in counts:
        if count > model.max_input_tokens:
            raise EmbeddingRefusedError(
                400,
                f"This model's maximum context length is {model.max_input_tokens} tokens, however you "
                f"requested {count} tokens (this is {count} in your prompt; 0 for the completion). "
                "Please reduce your prompt; or completion length.",
                code="context_length_exceeded" if dialect == "openai" else None,
            )
    vectors = _vectors(inputs, model, dimensions)
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": as_base64(values) if encoding == "base64" else values,
            }
            for index, values in enumerate(vectors)
        ],
        "model": name,
        "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)},
    }


# ---- Gemini :embedContent and :batchEmbedContents ---------------------------------------------

GEMINI_EMBEDDING_MODELS: Final[dict[str, EmbeddingModel]] = {
    "gemini-embedding-001": EmbeddingModel(3072, True, 2048),
    "text-embedding-004": EmbeddingModel(768, True, 2048),
}
GEMINI_MAX_BATCH: Final = 100
GEMINI_TASK_TYPES: Final = frozenset(
    {
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)
_GEMINI_REQUEST_FIELDS: Final = frozenset({"model", "content", "taskType", "title", "outputDimensionality"})


def _gemini_text(content: object, where: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
        raise EmbeddingRefusedError(400, f"* {where}.content: contents must not be empty")
    texts = []
    for part in content["parts"]:
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise EmbeddingRefusedError(400, f"* {where}.content.parts: only text parts can be embedded")
        texts.append(part["text"])
    text = "".join(texts)
    if not text.strip():
        raise EmbeddingRefusedError(400, f"* {where}.content: text content is empty.")
    return text


def _gemini_one(request: object, model_name: str, where: str) -> list[float]:
    """One EmbedContentRequest's vector (`where`: its path in error messages)."""
    if not isinstance(request, dict):
        raise EmbeddingRefusedError(400, f"Invalid JSON payload received. {where} is not an object.")
    for key in request:
        if key not in _GEMINI_REQUEST_FIELDS:
            raise EmbeddingRefusedError(
                400, f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
            )
    if "model" in request and request["model"] != f"models/{model_name}":
        raise EmbeddingRefusedError(
            400,
            f"Model names should be the same: {request['model']} and models/{model_name}.",
        )
    model = GEMINI_EMBEDDING_MODELS[model_name]
    text = _gemini_text(request.get("content"), where)
    task = request.get("taskType")
    if task is not None and task not in GEMINI_TASK_TYPES:
        raise EmbeddingRefusedError(
            400,
            f"Invalid value at '{where}.task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), \"{task}\"",
        )
    dimensions = request.get("outputDimensionality")
    if dimensions is not None and (
        not isinstance(dimensions, int) or not 1 <= dimensions <= model.dimensions
    ):
        raise EmbeddingRefusedError(
            400, f"* {where}.output_dimensionality: must be between 1 and {model.dimensions}"
        )
    if tokens(text) > model.max_input_tokens:
        raise EmbeddingRefusedError(
            400,
            f"The input token count ({tokens(text)}) exceeds the maximum number of tokens allowed ({model.max_input_tokens}).",
        )
    return vector(text, dimensions or model.dimensions)


def _gemini_model(model_name: str) -> None:
    if model_name not in GEMINI_EMBEDDING_MODELS:
        raise EmbeddingRefusedError(
            404,
            f"models/{model_name} is not found for API version v1beta, or is not supported for embedContent.",
        )


def gemini_embed_content(body: Any, model_name: str) -> dict[str, Any]:
    """The answer to `models/{model}:embedContent`."""
    _gemini_model(model_name)
    return {"embedding": {"values": _gemini_one(body, model_name, "embed_content_request")}}


def gemini_batch_embed(body: Any, model_name: str) -> dict[str, Any]:
    """The answer to `models/{model}:batchEmbedContents` (at most 100 requests)."""
    _gemini_model(model_name)
    if not isinstance(body, dict) or set(body) - {"requests"}:
        raise EmbeddingRefusedError(400, "Invalid JSON payload received. Only `requests` is accepted.")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise EmbeddingRefusedError(400, "* BatchEmbedContentsRequest.requests: contents must not be empty")
    if len(requests) > GEMINI_MAX_BATCH:
        raise EmbeddingRefusedError(
            400,
            f"* BatchEmbedContentsRequest.requests: at most {GEMINI_MAX_BATCH} requests can be in one batch",
        )
    for index, request in enumerate(requests):
        if not isinstance(request, dict) or "model" not in request:
            raise EmbeddingRefusedError(
                400, f"* BatchEmbedContentsRequest.requests[{index}].model: unexpected model name format"
            )
    return {
        "embeddings": [
            {"values": _gemini_one(request, model_name, f"requests[{index}]")}
            for index, request in enumerate(requests)
        ]
    }


# ---- Bedrock InvokeModel: Titan text embeddings and Cohere embed ------------------------------

TITAN_MODELS: Final[dict[str, EmbeddingModel]] = {
    "amazon.titan-embed-text-v2:0": EmbeddingModel(1024, True, 8192),
    "amazon.titan-embed-text-v1": EmbeddingModel(1536, False, 8192),
}
TITAN_V2_DIMENSIONS: Final = (256, 512, 1024)
COHERE_MODELS: Final[dict[str, EmbeddingModel]] = {
    "cohere.embed-english-v3": EmbeddingModel(1024, False, 512),
    "cohere.embed-multilingual-v3": EmbeddingModel(1024, False, 512),
}
COHERE_MAX_TEXTS: Final = 96
COHERE_INPUT_TYPES: Final = frozenset({"search_document", "search_query", "classification", "clustering"})
_COHERE_FIELDS: Final = frozenset({"texts", "input_type", "truncate", "embedding_types", "images"})


def titan_embed(body: Any, model_id: str) -> dict[str, Any]:
    """The answer to InvokeModel on a Titan text embeddings model: one input per request."""
    model = TITAN_MODELS[model_id]
    v2 = model.shortens
    allowed = {"inputText", "dimensions", "normalize", "embeddingTypes"} if v2 else {"inputText"}
    if not isinstance(body, dict):
        raise EmbeddingRefusedError(400, "Malformed input request, please reformat your input and try again.")
    extra = sorted(set(body) - allowed)
    if extra:
        raise EmbeddingRefusedError(
            400,
            f"Malformed input request: #: extraneous key [{extra[0]}] is not permitted, please reformat your input and try again.",
        )
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise EmbeddingRefusedError(
            400,
            "Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat your input and try again.",
        )
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions not in TITAN_V2_DIMENSIONS:
        raise EmbeddingRefusedError(
            400,
            f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value, please reformat your input and try again.",
        )
    count = tokens(text)
    if count > model.max_input_tokens:
        raise EmbeddingRefusedError(400, "400 Bad Request: Too many input tokens. Max input tokens: 8192")
    values = vector(text, dimensions or model.dimensions)
    return {"embedding": values, "embeddingsByType": {"float": values}, "inputTextTokenCount": count}


def cohere_embed(body: Any, model_id: str) -> dict[str, Any]:
    """The answer to InvokeModel on a Cohere embed v3 model: at most 96 texts, `input_type`
    required."""
    model = COHERE_MODELS[model_id]
    if not isinstance(body, dict):
        raise EmbeddingRefusedError(400, "Malformed input request, please reformat your input and try again.")
    extra = sorted(set(body) - _COHERE_FIELDS)
    if extra:
        raise EmbeddingRefusedError(
            400,
            f"Malformed input request: #: extraneous key [{extra[0]}] is not permitted, please reformat your input and try again.",
        )
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise EmbeddingRefusedError(
            400, "Malformed input request: #/texts: expected a non-empty array of non-empty strings"
        )
    if len(texts) > COHERE_MAX_TEXTS:
        raise EmbeddingRefusedError(
            400,
            f"Malformed input request: #/texts: expected maximum item count: {COHERE_MAX_TEXTS}, found: {len(texts)}",
        )
    input_type = body.get("input_type")
    if input_type not in COHERE_INPUT_TYPES:
        raise EmbeddingRefusedError(
            400, f"Malformed input request: #/input_type: {input_type} is not a valid enum value"
        )
    for text in texts:
        if tokens(text) > model.max_input_tokens and body.get("truncate", "END") == "NONE":
            raise EmbeddingRefusedError(400, "too many tokens in a text and truncate is NONE")
    return {
        "id": hashlib.md5(repr(texts).encode()).hexdigest(),
        "texts": texts,
        "embeddings": _vectors(texts, model, None),
        "response_type": "embeddings_floats",
    }


# ---- Ollama /api/embed --------------------------------------------------------------------------

OLLAMA_EMBEDDING_MODELS: Final[dict[str, EmbeddingModel]] = {
    "nomic-embed-text": EmbeddingModel(768, False, 8192),
    "all-minilm": EmbeddingModel(384, False, 256),
}
_OLLAMA_FIELDS: Final = frozenset({"model", "input", "truncate", "options", "keep_alive", "dimensions"})


def ollama_embed(body: Any) -> dict[str, Any]:
    """The answer to `POST /api/embed`."""
    if not isinstance(body, dict):
        raise EmbeddingRefusedError(400, "invalid request")
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise EmbeddingRefusedError(400, "model is required")
    model = OLLAMA_EMBEDDING_MODELS.get(name.removesuffix(":latest"))
    if model is None:
        raise EmbeddingRefusedError(404, f'model "{name}" not found, try pulling it first')
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
        raise EmbeddingRefusedError(400, "invalid input type")
    if not inputs:
        return {"model": name, "embeddings": []}
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or not 1 <= dimensions <= model.dimensions
    ):
        raise EmbeddingRefusedError(400, f"invalid dimensions: {dimensions}")
    counts = [tokens(text) for text in inputs]
    if body.get("truncate") is False and max(counts) > model.max_input_tokens:
        raise EmbeddingRefusedError(400, "input length exceeds maximum context length")
    return {
        "model": name,
        "embeddings": _vectors(inputs, model, dimensions),
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": sum(counts),
    }
