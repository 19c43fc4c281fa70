"""The OpenAI door's embeddings: a `POST /v1/embeddings` body → a v1 EmbedRequest, strictly (every
parameter translated or refused with a 400 naming it), and the v1 answer → OpenAI's `list` of
`embedding` objects.

`encoding_format: base64` (what the official SDKs ask for by default) is served from packed float32
end to end: the core is asked for PACKED_FLOAT32, and its bytes are base64-encoded as they are, with
no float parsed or printed on the way. Token-array inputs are refused: the gateway routes one model
name to providers with different tokenizers, so token ids have no meaning it could pass on.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from llmgateway.frontends.openai.params import (
    a_list,
    a_string,
    an_int,
    invalid_type,
    invalid_value,
    missing,
    not_supported,
    only_known,
    refused,
)
from llmgateway.frontends.openai.request import USER_LABEL
from llmgateway.v1 import embeddings_pb2

_KNOWN = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")  # what v1 accepts as a request_id
_ENCODINGS = {
    "float": embeddings_pb2.EMBEDDING_ENCODING_FLOAT,
    "base64": embeddings_pb2.EMBEDDING_ENCODING_PACKED_FLOAT32,
}
_INPUT_PATH = re.compile(r"^inputs(\[\d+\])?$")
_ID_ARRAYS_REFUSED = (
    "token-array inputs (send the text: one model name may route to models with other tokenizers)"
)


@dataclass
class EmbeddingsCall:
    """A translated embeddings request, and how to name v1 paths in errors."""

    request: embeddings_pb2.EmbedRequest
    base64: bool = True
    names: dict[str, str] = field(default_factory=dict)  # v1 field path → OpenAI parameter

    def wire_param(self, path: str) -> str:
        """The OpenAI parameter a v1 field path (a core validation error's) came from."""
        found = _INPUT_PATH.match(path)
        if found is not None:
            return "input" + (found.group(1) or "")
        return self.names.get(path, path)


def _inputs(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = a_list("input", value)
    if not items:
        raise refused("input", "'input' must not be an empty array.")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in items) or all(
        isinstance(item, list) for item in items
    ):
        raise not_supported("input", _ID_ARRAYS_REFUSED)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise invalid_type(f"input[{index}]", "a string", item)
    return items


def to_v1_embed(body: object, request_id: str) -> EmbeddingsCall:
    """The v1 call an embeddings body asks for; INVALID_REQUEST naming the first bad parameter."""
    if not isinstance(body, dict):
        raise invalid_type("body", "an object", body)
    only_known("", body, _KNOWN)
    if body.get("model") is None:
        raise missing("model")
    if body.get("input") is None:
        raise missing("input")
    request = embeddings_pb2.EmbedRequest(
        model=a_string("model", body["model"]), inputs=_inputs(body["input"])
    )
    if _REQUEST_ID.match(request_id):
        request.request_id = request_id
    call = EmbeddingsCall(request)
    if body.get("dimensions") is not None:
        request.dimensions = an_int("dimensions", body["dimensions"])
    encoding = body.get("encoding_format")
    if encoding is not None:
        encoding = a_string("encoding_format", encoding)
        if encoding not in _ENCODINGS:
            raise invalid_value("encoding_format", encoding, "Supported values are: 'float' and 'base64'.")
    call.base64 = encoding != "float"
    request.encoding = _ENCODINGS["base64" if call.base64 else "float"]
    if body.get("user") is not None:
        request.labels[USER_LABEL] = a_string("user", body["user"])
        call.names[f"labels[{USER_LABEL}]"] = "user"
    return call


def embedding_list(response: embeddings_pb2.EmbedResponse, model: str, *, as_base64: bool) -> dict[str, Any]:
    """OpenAI's answer: `{object: list, data, model, usage}`; `model` is the name the caller used,
    as the chat door answers."""
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": embedding.index,
                "embedding": base64.b64encode(embedding.packed_float32).decode()
                if as_base64
                else list(embedding.values),
            }
            for embedding in response.embeddings
        ],
        "model": model,
        "usage": {"prompt_tokens": response.usage.input_tokens, "total_tokens": response.usage.input_tokens},
    }
