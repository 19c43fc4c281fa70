"""What the budget tests share: a gateway config whose calls cost exactly $1, a calendar the tests
move (the gateway's wall clock seam), and gateways started and stopped on it."""

from __future__ import annotations

import datetime
import random
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import chat_request, gateway_config, user
from tests.rich_status import rich_status

KEY, KEY_ID, KEY_HASH = new_key()
OTHER_KEY, OTHER_KEY_ID, OTHER_KEY_HASH = new_key()
# Models on the echo provider, which answers "hi" with "hi": 1 input and 1 output token, at
# $500,000 per million tokens each on PAID ($1 a call), nothing on FREE.
PAID, FREE = "paid", "free"


def at(iso: str) -> float:
    """Epoch seconds of an ISO 8601 instant with its offset."""
    return datetime.datetime.fromisoformat(iso).timestamp()


class Calendar:
    """The gateways' wall clock: moves only when a test sets it."""

    def __init__(self, iso: str) -> None:
        self.now = at(iso)

    def set(self, iso: str) -> None:
        self.now = at(iso)

    def wall(self) -> float:
        return self.now


def budget_config(
    ledger: dict[str, Any] | None,
    *,
    key_budget: dict[str, Any] | None = None,
    other_key_budget: dict[str, Any] | None = None,
    tenant_budget: dict[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """Two keys of tenant acme, a paid model (each call $1) and a free one; the ledger section as
    given (None: no ledger), flushed often so tests wait little for their rows."""

    def policy(budget: dict[str, Any] | None) -> dict[str, Any]:
        return {"budget": budget} if budget else {}

    def echo(name: str, price: float) -> dict[str, Any]:
        deployment = {
            "provider": "echo",
            "model": "echo",
            "input_price_per_mtok": price,
            "output_price_per_mtok": price,
        }
        return {"name": name, "deployments": [{"name": name, **deployment}]}

    data: dict[str, Any] = {
        "auth": {
            "enabled": True,
            "keys": [
                {"id": KEY_ID, "hash": KEY_HASH, "tenant": "acme", "policy": policy(key_budget)},
                {
                    "id": OTHER_KEY_ID,
                    "hash": OTHER_KEY_HASH,
                    "tenant": "acme",
                    "policy": policy(other_key_budget),
                },
            ],
        },
        "tenants": [{"name": "acme", **({"budget": tenant_budget} if tenant_budget else {})}],
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [echo(PAID, 500_000), echo(FREE, 0)],
        **sections,
    }
    if ledger is not None:
        data["ledger"] = {"flush_interval_s": 0.02, **ledger}
    return data


class Gateways:
    """Gateways on one calendar (their wall clock), shut down after the test unless stopped before."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._running: list[Gateway] = []

    async def start(self, data: dict[str, Any], reload_to: dict[str, Any] | None = None) -> Gateway:
        """A gateway on `data`; `reload_to`: the config its reload reads."""
        load = (lambda: gateway_config(reload_to)) if reload_to is not None else None
        gateway = Gateway(gateway_config(data), load=load, wall=self.calendar.wall, rng=random.Random(7))
        await gateway.start()
        self._running.append(gateway)
        return gateway

    async def stop(self, gateway: Gateway) -> None:
        """A graceful shutdown, as on SIGTERM: the ledger's queue is flushed to the database."""
        self._running.remove(gateway)
        await gateway.shutdown()

    async def stop_all(self) -> None:
        for gateway in list(self._running):
            await self.stop(gateway)


async def outcome(gateway: Gateway, model: str = PAID, key: str = KEY) -> str:
    """OK, or the reason a call with `key` to `model` was refused."""
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        try:
            await stub.Chat(
                chat_request(model, user("hi")), timeout=10, metadata=(("authorization", f"Bearer {key}"),)
            )
        except grpc.aio.AioRpcError as error:
            return rich_status(error).reason
    return "OK"


async def refusal(gateway: Gateway, model: str = PAID, key: str = KEY) -> grpc.aio.AioRpcError:
    """The error of a call that must be refused."""
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.Chat(
                chat_request(model, user("hi")), timeout=10, metadata=(("authorization", f"Bearer {key}"),)
            )
    return failure.value
