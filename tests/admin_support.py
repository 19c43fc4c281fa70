"""What the AdminService tests share: an admin key, a gateway key and a tenant from the config,
the config of a gateway with a database, the generated stubs on one channel, and waiting for a
change to show (the fixtures are in tests/admin_fixtures.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from llmgateway.admin.v1 import admin_pb2_grpc
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2_grpc

ADMIN_KEY, ADMIN_ID, ADMIN_HASH = new_key()
CONFIG_KEY, CONFIG_KEY_ID, CONFIG_KEY_HASH = new_key()
ADMIN = (("authorization", f"Bearer {ADMIN_KEY}"),)
CONFIG_AUTH = (("authorization", f"Bearer {CONFIG_KEY}"),)


def bearer(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def admin_config(ledger: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "auth": {
            "enabled": True,
            "keys": [
                {"id": CONFIG_KEY_ID, "hash": CONFIG_KEY_HASH, "tenant": "gitops", "name": "from the file"}
            ],
        },
        "tenants": [{"name": "gitops", "rpm": 1000}],
        "admin": {"keys": [{"id": ADMIN_ID, "hash": ADMIN_HASH, "name": "ops"}], "poll_interval_s": 0.2},
        "ledger": {**ledger, "flush_interval_s": 0.05},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [
            {"name": "echo", "deployments": [{"provider": "echo", "model": "echo-1"}]},
            {"name": "other", "deployments": [{"provider": "echo", "model": "echo-2"}]},
        ],
        **extra,
    }


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.chat = chat_pb2_grpc.ChatServiceStub(channel)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, step_s: float = 0.05
) -> float:
    """Seconds until `check` held; fails after timeout_s."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s}s")
        await asyncio.sleep(step_s)
    return time.monotonic() - start
