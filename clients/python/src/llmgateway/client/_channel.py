"""Channel settings shared by the sync and asyncio clients: credentials, API key, retry policy."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import grpc

# Up to 3 attempts with exponential backoff for UNAVAILABLE only: the gateway has already retried
# and failed over upstream, and RESOURCE_EXHAUSTED carries a RetryInfo delay for the caller instead.
RETRY_SERVICE_CONFIG: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("service_config.json").read_text()
)


def credentials(
    *,
    api_key: str | None = None,
    tls: bool | grpc.ChannelCredentials = True,
) -> grpc.ChannelCredentials | None:
    """Channel credentials: TLS (system roots, or the credentials given) plus the API key, or None
    for plaintext. A key over plaintext is sent by the `authorization` metadata of each call instead."""
    if tls is False:
        return None
    channel_creds = grpc.ssl_channel_credentials() if tls is True else tls
    if api_key is None:
        return channel_creds
    return grpc.composite_channel_credentials(channel_creds, grpc.access_token_call_credentials(api_key))


def channel_options(service_config: dict[str, Any] | None = RETRY_SERVICE_CONFIG) -> list[tuple[str, Any]]:
    """gRPC channel options with the retry service config (None: no service config)."""
    options: list[tuple[str, Any]] = [("grpc.keepalive_time_ms", 30_000)]
    if service_config is not None:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(service_config))]
    return options
