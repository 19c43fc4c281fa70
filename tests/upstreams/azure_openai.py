"""A wire-faithful Azure OpenAI Chat Completions upstream for gateway tests.

Azure serves OpenAI's Chat Completions behind a per-deployment URL:
`POST /openai/deployments/{deployment}/chat/completions?api-version=VER`, authenticated by an
`api-key` header or an Entra ID `Authorization: Bearer` token. The deployment picks the model (a
`model` in the body is ignored). Gateway-level failures use Azure's short envelope
`{"error": {"code", "message"}}`; model-level validation errors keep OpenAI's. Bodies and chunks
carry content-filter annotations, and a stream opens with a chunk whose `choices` is empty.

Validation, replies and the stream machinery are the OpenAI simulator's (tests/upstreams/openai.py).

Standalone use:

    python -m tests.upstreams.azure_openai --host 127.0.0.1 --port 0 [--api-key K]
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from tests.upstreams.base import Behaviour, Exchange, compact_json, serve_until_signalled
from tests.upstreams.openai import (
    MODELS,
    ChatRules,
    OpenAISimulator,
    _ApiError,
    _ChatRequest,
    _Reply,
    _stream_payloads,
    _unary_body,
    _validate_chat,
)

__all__ = ["DEFAULT_DEPLOYMENTS", "SUPPORTED_API_VERSIONS", "AzureOpenAISimulator", "Behaviour"]

DEFAULT_DEPLOYMENTS: Final[dict[str, str]] = {
    "gpt-4o-mini-prod": "gpt-4o-mini",
    "embed-small-prod": "text-embedding-3-small",
}
SUPPORTED_API_VERSIONS: Final = frozenset(
    {
        "2023-05-15",
        "2024-02-01",
        "2024-06-01",
        "2024-10-21",
        "2024-08-01-preview",
        "2024-09-01-preview",
        "2024-10-01-preview",
        "2024-12-01-preview",
        "2025-01-01-preview",
        "2025-03-01-preview",
        "2025-04-01-preview",
    }
)
_CHAT_PATH: Final = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_EMBEDDINGS_PATH: Final = re.compile(r"^/openai/deployments/([^/]+)/embeddings$")
# The body fields of the 2024-10-21 GA version; older versions lack the 2024-09 additions, newer
# previews add the o-series fields and the developer role.
_GA_PARAMS: Final = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "stream",
        "stream_options",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "logprobs",
        "top_logprobs",
        "n",
        "parallel_tool_calls",
        "response_format",
        "seed",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "data_sources",
    }
)
_SINCE_2024_09: Final = frozenset({"max_completion_tokens", "stream_options"})
_SINCE_2024_12: Final = frozenset(
    {"store", "metadata", "reasoning_effort", "prediction", "modalities", "audio"}
)
_ROLES: Final = ("system", "user", "assistant", "tool")
_FILTER_CATEGORIES: Final = ("hate", "self_harm", "sexual", "violence")

_RESOURCE_NOT_FOUND: Final = "Resource not found"
_ACCESS_DENIED: Final = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
_TOKEN_REJECTED: Final = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
_DEPLOYMENT_NOT_FOUND: Final = (
    "The API deployment for this resource does not exist. If you created the deployment within the last "
    "5 minutes, please wait a moment and try again."
)
_PROMPT_FILTERED: Final = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)


def _gateway_error(status: int, code: str, message: str) -> _ApiError:
    """An error raised by Azure's front door (routing, auth, deployments), not by the model."""
    return _ApiError(status, message, type_=None, code=code)


def filter_results(flagged: str | None = None) -> dict[str, Any]:
    """Per-category content-filter verdicts; `flagged` names the one category that was filtered."""
    return {
        category: {"filtered": category == flagged, "severity": "high" if category == flagged else "safe"}
        for category in _FILTER_CATEGORIES
    }


def _prompt_filter_results() -> list[dict[str, Any]]:
    results = {**filter_results(), "jailbreak": {"filtered": False, "detected": False}}
    return [{"prompt_index": 0, "content_filter_results": results}]


def _matches(provided: str | None, expected: str | None) -> bool:
    if provided is None or expected is None:
        return False
    return secrets.compare_digest(provided.encode(), expected.encode())


def _rules_for(api_version: str) -> ChatRules:
    since = api_version[:10]
    params = _GA_PARAMS
    roles: tuple[str, ...] = _ROLES
    if since < "2024-09-01":
        params = params - _SINCE_2024_09
    if since >= "2024-12-01":
        params = params | _SINCE_2024_12
        roles = (*_ROLES, "developer")
    return ChatRules(params=params, roles=roles, models=None)


class AzureOpenAISimulator(OpenAISimulator):
    """An Azure OpenAI resource on 127.0.0.1 serving `deployments` (deployment name → model).

    Auth: the `api-key` header must equal `api_key`, or `Authorization: Bearer` must equal
    `bearer_token` (when set); with both None no credentials are asked for. Behaviour knobs mean
    what they mean for OpenAI; `finish_reason="content_filter"` also flags the answer's filter
    verdict, and `status=400, error_code="content_filter"` sends Azure's blocked-prompt error.
    """

    name = "azure_openai"

    def __init__(
        self,
        api_key: str | None = "azure-sim-key",
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        deployments: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
    ) -> None:
        super().__init__(api_key, host, port=port, dialect="openai")
        self.deployments = dict(deployments if deployments is not None else DEFAULT_DEPLOYMENTS)
        self.bearer_token = bearer_token

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        embeddings = _EMBEDDINGS_PATH.match(request.rel_url.raw_path)
        if embeddings is not None and request.method == "POST":
            return await self._azure_embeddings(request, exchange, body, unquote(embeddings.group(1)))
        match = _CHAT_PATH.match(request.rel_url.raw_path)
        version = request.query.get("api-version")
        # Without a (known) api-version Azure cannot route the call at all.
        if match is None or request.method != "POST" or not version:
            return await self._send_error(request, exchange, _gateway_error(404, "404", _RESOURCE_NOT_FOUND))
        if version not in SUPPORTED_API_VERSIONS:
            err = _gateway_error(400, "BadRequest", "API version not supported")
            return await self._send_error(request, exchange, err)
        return await self._chat(request, exchange, body)

    async def _azure_embeddings(
        self, request: web.BaseRequest, exchange: Exchange, body: Any, deployment: str
    ) -> web.StreamResponse:
        """`POST /openai/deployments/{deployment}/embeddings?api-version=`: the deployment picks
        the model; the body's `model`, if any, is ignored."""
        version = request.query.get("api-version")
        if not version:
            return await self._send_error(request, exchange, _gateway_error(404, "404", _RESOURCE_NOT_FOUND))
        if version not in SUPPORTED_API_VERSIONS:
            err = _gateway_error(400, "BadRequest", "API version not supported")
            return await self._send_error(request, exchange, err)
        model = self.deployments.get(deployment)
        if model is None or model not in self.embedding_models:
            try:
                self._check_auth(request)
            except _ApiError as err:
                return await self._send_error(request, exchange, err)
            return await self._send_error(
                request, exchange, _gateway_error(404, "DeploymentNotFound", _DEPLOYMENT_NOT_FOUND)
            )
        if isinstance(body, dict):
            body = {key: value for key, value in body.items() if key != "model"}
        return await self._embeddings(request, exchange, body, model)

    def _check_auth(self, request: web.BaseRequest) -> None:
        if self.api_key is None and self.bearer_token is None:
            return
        key = request.headers.get("api-key")
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if _matches(key, self.api_key) or _matches(token, self.bearer_token):
            return
        if token is not None and key is None:
            raise _gateway_error(401, "401", _TOKEN_REJECTED)
        raise _gateway_error(401, "401", _ACCESS_DENIED)

    def _validate(self, request: web.BaseRequest, body: Any) -> _ChatRequest:
        match = _CHAT_PATH.match(request.rel_url.raw_path)
        assert match is not None  # dispatch routed only matching paths here
        model = self.deployments.get(unquote(match.group(1)))
        if model is None:
            raise _gateway_error(404, "DeploymentNotFound", _DEPLOYMENT_NOT_FOUND)
        snapshot = MODELS.get(model, model)
        # The deployment's model decides what the body may ask (an o-series deployment takes
        # `reasoning_effort`, others refuse it), as at OpenAI.
        rules = replace(_rules_for(request.query["api-version"]), served_snapshot=snapshot)
        chat = _validate_chat(body, rules)
        chat.model = snapshot
        return chat

    def _error_payload(self, err: _ApiError) -> dict[str, Any]:
        if err.type is None:
            return {"error": {"code": err.code, "message": err.message}}
        return err.body()

    def _headers(self, exchange: Exchange, status: int, behaviour: Behaviour | None) -> dict[str, str]:
        headers = {
            "apim-request-id": str(uuid.uuid4()),
            "x-request-id": exchange.request_id,
            "x-ms-region": "Sweden Central",
            "x-ms-rai-invoked": "true",
            "x-ms-client-request-id": "Not-Set",
            "azureml-model-session": "d001-20241001",
            "x-ratelimit-remaining-requests": "0" if status == 429 else "99",
            "x-ratelimit-remaining-tokens": "0" if status == 429 else "99000",
            "x-envoy-upstream-service-time": str(int((time.monotonic() - exchange.started) * 1000)),
        }
        retry_after = behaviour.retry_after if behaviour is not None else None
        if retry_after is not None:
            headers["retry-after"] = retry_after
            if retry_after.replace(".", "", 1).isdigit():
                headers["retry-after-ms"] = str(int(float(retry_after) * 1000))
        return headers

    def _unary_payload(self, completion_id: str, created: int, model: str, reply: _Reply) -> dict[str, Any]:
        body = _unary_body(completion_id, created, model, reply)
        body["prompt_filter_results"] = _prompt_filter_results()
        body["choices"][0]["content_filter_results"] = self._answer_verdict(reply)
        return body

    def _answer_verdict(self, reply: _Reply) -> dict[str, Any]:
        return filter_results("violence" if reply.finish_reason == "content_filter" else None)

    def _stream_frames(
        self, completion_id: str, created: int, model: str, reply: _Reply, include_usage: bool
    ) -> tuple[list[str], int]:
        payloads = _stream_payloads(completion_id, created, model, reply, include_usage)
        for index, payload in enumerate(payloads):
            for choice in payload["choices"]:
                # The role chunk is annotated with an empty verdict, content with a full one.
                choice["content_filter_results"] = self._answer_verdict(reply) if index else {}
        opening = {"choices": [], "created": 0, "id": "", "model": "", "object": ""}
        opening["prompt_filter_results"] = _prompt_filter_results()
        # Two frames (the prompt verdict and the role chunk) precede the first reply chunk.
        return [compact_json(opening), *(compact_json(p) for p in payloads), "[DONE]"], 2

    def _forced_error_payload(self, behaviour: Behaviour) -> object:
        if behaviour.error_body is not None:
            return behaviour.error_body
        if behaviour.error_code == "content_filter":
            message = behaviour.error_message
            return {
                "error": {
                    "message": _PROMPT_FILTERED if message == Behaviour.error_message else message,
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": behaviour.status,
                    "innererror": {
                        "code": "ResponsibleAIPolicyViolation",
                        "content_filter_result": filter_results("violence"),
                    },
                }
            }
        error: dict[str, Any] = {
            "code": behaviour.error_code or str(behaviour.status),
            "message": behaviour.error_message,
        }
        if behaviour.error_type is not None:
            error["type"] = behaviour.error_type
        return {"error": error}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.azure_openai", description="Run the Azure OpenAI simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--api-key",
        default="azure-sim-key",
        help="key required in the api-key header (default: %(default)s; pass '' to disable auth)",
    )
    args = parser.parse_args(argv)

    return serve_until_signalled(
        AzureOpenAISimulator(api_key=args.api_key or None, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
