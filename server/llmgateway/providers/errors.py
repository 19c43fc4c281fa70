"""How upstream failures become GatewayErrors: the words every adapter shares (an HTTP error status,
a malformed or oversized answer, a cut or stalled stream), and `UpstreamErrors`, one provider's view
of them (its name, the secrets redacted from anything it says, its mid-stream errors). Each
protocol's errors module maps its own error bodies with these."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from llmgateway.errors import GatewayError
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import loads_object
from llmgateway.reasons import Reason

# Statuses that say "try again" rather than "this request is wrong".
_UNAVAILABLE_STATUSES = frozenset({408, 409, 500, 502, 503, 504, 520, 522, 524, 529})


def unavailable(
    provider: str, reason: Reason, message: str, *, retry_after: float | None = None, **metadata: str
) -> GatewayError:
    """A failure of the provider's, not the caller's (every reason given here is UNAVAILABLE in the
    reason table, so the router may try another deployment); `provider` names it in the error's
    metadata, with `metadata` besides."""
    return GatewayError(reason, message, metadata={"provider": provider, **metadata}, retry_after=retry_after)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret from provider text. Only whole secrets: providers that quote a key
    mask it themselves, and a key's prefix (`sk-proj-`) is shared by every key, so replacing it
    would only mangle the message."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "[REDACTED]")
    return text


def error_from_status(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    message: str,
    provider_code: str = "",
) -> GatewayError:
    """An upstream HTTP error status as a GatewayError (with the reason table's gRPC code for its
    reason); `message` must already be redacted."""
    retry_after = parse_retry_after(headers)
    metadata = {"provider": provider, "upstream_status": str(status)}
    if provider_code:
        metadata["upstream_code"] = provider_code

    def error(reason: Reason, text: str, wait: float | None = None) -> GatewayError:
        return GatewayError(reason, text, metadata=metadata, retry_after=wait)

    if status in (401, 403):
        # The gateway's own credentials were refused: not the caller's fault, and the provider's
        # message may quote part of the key, so it is not passed on.
        return error(
            Reason.UPSTREAM_AUTH_FAILED,
            f"provider {provider!r} refused the gateway's credentials (HTTP {status})",
        )
    if status == 429:
        if provider_code == "insufficient_quota":
            return error(
                Reason.UPSTREAM_QUOTA_EXHAUSTED,
                f"provider {provider!r} account quota is exhausted: {message}",
            )
        return error(
            Reason.UPSTREAM_RATE_LIMITED,
            f"provider {provider!r} is rate limiting: {message}",
            retry_after if retry_after is not None else 1.0,
        )
    if status == 404:
        return error(
            Reason.UPSTREAM_NOT_FOUND,
            f"provider {provider!r} does not know the requested model or path: {message}",
        )
    if status == 413:
        return error(
            Reason.REQUEST_TOO_LARGE, f"provider {provider!r} refused the request as too large: {message}"
        )
    if status in _UNAVAILABLE_STATUSES or status >= 500:
        return error(
            Reason.UPSTREAM_UNAVAILABLE,
            f"provider {provider!r} failed (HTTP {status}): {message}",
            retry_after,
        )
    if provider_code == "context_length_exceeded":
        return error(
            Reason.CONTEXT_LENGTH_EXCEEDED, f"the request does not fit the model's context window: {message}"
        )
    if provider_code == "content_filter":
        return error(Reason.CONTENT_FILTERED, f"provider {provider!r} filtered the prompt: {message}")
    return error(
        Reason.UPSTREAM_REJECTED_REQUEST,
        f"provider {provider!r} rejected the request (HTTP {status}): {message}",
    )


def malformed_response(provider: str, what: str) -> GatewayError:
    """The provider answered something that does not follow its protocol."""
    return unavailable(
        provider,
        Reason.UPSTREAM_MALFORMED_RESPONSE,
        f"provider {provider!r} sent a malformed response: {what}",
    )


def json_object_body(provider: str, body: bytes) -> dict[str, Any]:
    """A provider's answer as the JSON object its protocol promises, or UPSTREAM_MALFORMED_RESPONSE
    saying what is wrong with it (not UTF-8, not JSON, not an object) rather than what is missing."""
    payload = loads_object(body)
    if payload is not None:
        return payload
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise malformed_response(provider, f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed_response(provider, "the body is not JSON") from None
    raise malformed_response(provider, f"the body is a JSON {type(value).__name__}, not an object")


def response_too_large(provider: str, what: str, limit: int, setting: str) -> GatewayError:
    """The provider sent more than the gateway holds for one body or stream event (`setting`).
    A well-behaved provider never does, so it is this deployment misbehaving (or a base_url that
    points at something else): UNAVAILABLE, for the router to try another deployment."""
    return unavailable(
        provider,
        Reason.UPSTREAM_RESPONSE_TOO_LARGE,
        f"provider {provider!r} sent {what} over the {limit}-byte limit ({setting})",
        limit_bytes=str(limit),
    )


def stream_cut(provider: str, what: str) -> GatewayError:
    """The provider's stream ended before its terminator."""
    return unavailable(
        provider, Reason.UPSTREAM_STREAM_CUT, f"provider {provider!r} stream ended early: {what}"
    )


def stalled(provider: str, what: str, seconds: float) -> GatewayError:
    """The provider sent nothing for longer than the configured timeout."""
    return unavailable(
        provider, Reason.UPSTREAM_STALL, f"provider {provider!r} sent no {what} for {seconds:g}s"
    )


class UpstreamErrors:
    """One provider's failures: its name on each, its secrets redacted from anything it says, its
    mid-stream errors in one wording. A protocol's errors module adds `from_answer`, the mapping of
    its error answers."""

    def __init__(self, provider: str, secrets: list[str]) -> None:
        self.provider = provider
        # Replaced when credentials rotate (Bedrock's credential chain).
        self.secrets = secrets

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def from_status(
        self, status: int, headers: Mapping[str, str], message: str, code: str = ""
    ) -> GatewayError:
        """An HTTP error status with the provider's own message (redacted here) and error code."""
        return error_from_status(self.provider, status, headers, self.redact(message), code)

    def malformed(self, what: str) -> GatewayError:
        return malformed_response(self.provider, what)

    def stream_error(
        self,
        message: str,
        *,
        kind: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> GatewayError:
        """An error the provider reported inside a stream (or in place of an answer); `kind`, its
        own name for it, is shown when the protocol has one."""
        shown = f" ({kind})" if kind is not None else ""
        return unavailable(
            self.provider,
            Reason.UPSTREAM_STREAM_ERROR,
            f"provider {self.provider!r} reported an error mid-stream{shown}: {self.redact(message)}",
            retry_after=retry_after,
            **(metadata or {}),
        )

    def from_answer(self, answer: Answer) -> GatewayError:
        """An error answer (a status other than 200) by the protocol's error body: overridden by
        each protocol; this reads only the status and the start of the body."""
        return self.from_status(answer.status, answer.headers, answer.text[:300])
