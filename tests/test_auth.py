"""Authentication: keys stored as hashes, every bypass attempt refused with a clear status, model
policy, labels, revocation by hot reload, and no key ever in a log or an error."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from llmgateway.app import Gateway
from llmgateway.auth import keys as keys_module
from llmgateway.auth.keys import KeyStore, hash_secret, new_key
from llmgateway.config import ApiKeySettings, GatewayConfig, load_config
from llmgateway.v1 import models_pb2
from tests.conftest import Client, StartGateway, chat_request, gateway_config, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.test_lifecycle import SERVING, health_status

KEY_A, ID_A, HASH_A = new_key()
KEY_B, ID_B, HASH_B = new_key()
KEY_REVOKED, ID_REVOKED, HASH_REVOKED = new_key()


def keys(*, revoke_b: bool = False) -> list[dict[str, Any]]:
    return [
        {"id": ID_A, "hash": HASH_A, "tenant": "alpha", "policy": {"models": ["echo", "parrot*"]}},
        {
            "id": ID_B,
            "hash": HASH_B,
            "tenant": "beta",
            "revoked": revoke_b,
            "policy": {"models": ["*"], "labels": {"team": "search"}},
        },
        {"id": ID_REVOKED, "hash": HASH_REVOKED, "tenant": "alpha", "revoked": True},
    ]


def auth_config(**auth: Any) -> dict[str, Any]:
    return {
        "auth": {"enabled": True, "keys": keys(), **auth},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [
            {"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]},
            {"name": "other", "deployments": [{"provider": "echo", "model": "other"}]},
        ],
        "routing": {
            "rules": [
                {
                    "name": "no-search",
                    "match": {"labels": {"team": "search"}},
                    "action": {"reject": "search is paused"},
                }
            ]
        },
    }


def test_keys_are_stored_as_salted_hashes() -> None:
    key, key_id, stored = new_key()
    assert key.startswith(f"llmgw-{key_id}-")
    secret = key.split("-", 2)[2]
    assert secret not in stored and stored.startswith("sha256$")
    assert stored != hash_secret(secret), "a fresh salt each time"
    store = KeyStore([ApiKeySettings(id=key_id, hash=stored, tenant="t")])
    principal = store.authenticate(key)
    assert principal is not None and (principal.key_id, principal.tenant) == (key_id, "t")
    for wrong in [
        key[:-1] + ("A" if key[-1] != "A" else "B"),
        f"llmgw-{'0' * 8}-{secret}",
        "",
        "llmgw--x",
        key + "x" * 500,
    ]:
        assert store.authenticate(wrong) is None


def test_a_verified_key_is_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    key, key_id, stored = new_key()
    revoked, revoked_id, revoked_stored = new_key()
    store = KeyStore(
        [
            ApiKeySettings(id=key_id, hash=stored, tenant="t"),
            ApiKeySettings(id=revoked_id, hash=revoked_stored, tenant="t", revoked=True),
        ]
    )
    hashed: list[str] = []
    digest = keys_module._digest

    def counting(salt: str, secret: str) -> str:
        hashed.append(secret)
        return digest(salt, secret)

    monkeypatch.setattr(keys_module, "_digest", counting)
    first = store.authenticate(key)
    assert first is not None and store.authenticate(key) is first
    assert len(hashed) == 1
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    for _ in range(2):  # refusals are never remembered: each is hashed again
        assert store.authenticate(wrong) is None
        assert store.authenticate(revoked) is None
    assert len(hashed) == 5


async def fails(call: Any) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return rich_status(failure.value)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_API_KEY"),
        ((("authorization", "Bearer llmgw-00000000-notarealkeynotarealkey"),), "INVALID_API_KEY"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "INVALID_API_KEY"),
        ((("authorization", "Bearer"),), "INVALID_API_KEY"),
        ((("authorization", f"Bearer {KEY_A[:-3]}"),), "INVALID_API_KEY"),
        ((("authorization", f"Bearer {KEY_REVOKED}"),), "INVALID_API_KEY"),
        ((("authorization", "Bearer " + "x" * 8000),), "INVALID_API_KEY"),
        ((("x-api-key", "not a key at all!"),), "INVALID_API_KEY"),
        ((("x-api-key", KEY_A.upper()),), "INVALID_API_KEY"),
    ],
)
async def test_bypass_attempts_are_refused(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    metadata: tuple[tuple[str, str], ...],
    reason: str,
) -> None:
    client = connect(await start_gateway(auth_config()))
    for call in (
        client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=metadata),
        client.models.ListModels(models_pb2.ListModelsRequest(), timeout=5, metadata=metadata),
    ):
        status = await fails(call)
        assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
        assert KEY_A not in status.message
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in client.chat.ChatStream(
            stream_request("echo", user("hi")), timeout=5, metadata=metadata
        ):
            pass
    assert rich_status(streamed.value).reason == reason


@pytest.mark.parametrize(
    "metadata",
    [
        (("authorization", f"Bearer {KEY_A}"),),
        (("authorization", f"bearer {KEY_A}"),),
        (("authorization", f"BEARER   {KEY_A}  "),),
        (("x-api-key", KEY_A),),
        (("x-api-key", f" {KEY_A} "),),
    ],
)
async def test_valid_keys_in_every_accepted_form(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], metadata: tuple[tuple[str, str], ...]
) -> None:
    client = connect(await start_gateway(auth_config()))
    response = await client.chat.Chat(chat_request("echo", user("hello")), timeout=5, metadata=metadata)
    assert response.message.parts[0].text == "hello"


async def test_health_and_reflection_need_no_key(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(auth_config()))
    assert await health_status(client.channel, "llmgateway.v1.ChatService") == SERVING


async def test_model_policy_and_labels(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(auth_config()))
    alpha = (("authorization", f"Bearer {KEY_A}"),)
    status = await fails(client.chat.Chat(chat_request("other", user("hi")), timeout=5, metadata=alpha))
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "MODEL_NOT_ALLOWED")
    assert status.error_info.metadata == {"model": "other", "key_id": ID_A}
    # Key B's policy adds team=search to its calls, which a routing rule rejects: the labels were applied.
    beta = (("authorization", f"Bearer {KEY_B}"),)
    status = await fails(
        client.chat.Chat(chat_request("other", user("hi"), labels={"team": "ads"}), timeout=5, metadata=beta)
    )
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROUTE_REJECTED")


async def test_hot_reload_revokes_a_key(tmp_path: Path, connect: Callable[[Gateway], Client]) -> None:
    path = tmp_path / "gateway.yaml"
    keys_path = tmp_path / "keys.yaml"
    data = auth_config(keys_file="keys.yaml")
    data["auth"]["keys"] = []
    data["routing"] = {}
    data["server"] = {"listen": "127.0.0.1:0", "http_listen": None, "metrics_listen": None, "drain_s": 0}
    path.write_text(yaml.safe_dump(data))
    keys_path.write_text(yaml.safe_dump({"keys": keys()}))

    def load() -> GatewayConfig:
        return load_config(path, env={})

    gateway = Gateway(load(), load=load)
    await gateway.start()
    try:
        client = connect(gateway)
        beta = (("authorization", f"Bearer {KEY_B}"),)
        await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=beta)
        keys_path.write_text(yaml.safe_dump({"keys": keys(revoke_b=True)}))
        assert await gateway.reload()
        status = await fails(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=beta))
        assert status.reason == "INVALID_API_KEY"
    finally:
        await gateway.shutdown()


async def test_no_key_in_logs_or_errors(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        client = connect(await start_gateway(auth_config()))
        for metadata in [(("authorization", f"Bearer {KEY_A}"),), (("authorization", f"Bearer {KEY_A}x"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await client.chat.Chat(chat_request("other", user("hi")), timeout=5, metadata=metadata)
            assert KEY_A not in str(failure.value.details()) + str(failure.value.trailing_metadata())
    secret_a = KEY_A.split("-", 2)[2]
    assert secret_a not in caplog.text and KEY_A not in caplog.text


def test_keys_create_command_prints_a_working_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmgateway", "keys", "create", "--tenant", "acme", "--models", "gpt-*"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    key = result.stdout.split("store it now): ", 1)[1].split()[0]
    entry = yaml.safe_load(result.stdout.split("(or to the keys file):\n", 1)[1])[0]
    assert key.split("-", 2)[2] not in result.stdout.split("\n", 1)[1], "the secret is only on the first line"
    config = gateway_config({"auth": {"enabled": True, "keys": [entry]}})
    store = KeyStore(config.auth.keys)
    principal = store.authenticate(key)
    assert principal is not None and principal.tenant == "acme" and principal.policy.models == ["gpt-*"]


async def test_routing_rules_see_the_callers_tenant_and_key(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = auth_config()
    config["routing"] = {
        "rules": [
            {"name": "alpha-pinned", "match": {"tenant": "alpha"}, "action": {"model": "other"}},
            {"name": "key-b-blocked", "match": {"key": ID_B}, "action": {"reject": "key B is paused"}},
        ]
    }
    config["auth"]["keys"][0]["policy"]["models"] = ["*"]
    client = connect(await start_gateway(config))
    call = client.chat.Chat(
        chat_request("echo", user("hi")), timeout=5, metadata=(("authorization", f"Bearer {KEY_A}"),)
    )
    await call
    assert dict(await call.trailing_metadata() or ())["x-llmgateway-deployment"] == "echo/other"
    status = await fails(
        client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=(("x-api-key", KEY_B),))
    )
    assert (status.reason, status.error_info.metadata["rule"]) == ("ROUTE_REJECTED", "key-b-blocked")


async def test_metadata_up_to_the_limit_always_reaches_the_gateway(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    """grpc core's default soft/hard metadata limits refuse requests between 8 and 16 KiB at random;
    the gateway sets one bound, so a 12 KiB credential is always judged by auth, and more than
    16 KiB is always refused by gRPC."""
    client = connect(await start_gateway(auth_config()))
    big = (("authorization", "Bearer " + "x" * 12_000),)
    for _ in range(30):
        status = await fails(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=big))
        assert status.reason == "INVALID_API_KEY"
    huge = (("authorization", "Bearer " + "x" * 20_000),)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=huge)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
