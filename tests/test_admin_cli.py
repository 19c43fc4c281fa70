"""`llmgateway admin keys|tenants|audit` against a real gateway over gRPC: what it prints, what it
changes (checked through the API), and how it reports a refusal; `keys create --admin` makes an
admin key entry the gateway accepts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from llmgateway.admin.v1 import admin_pb2
from llmgateway.app import Gateway
from llmgateway.cli import main
from llmgateway.config.ledger import sqlite_url
from tests.admin_support import ADMIN, ADMIN_KEY, CONFIG_KEY, Stubs, admin_config, bearer
from tests.conftest import StartGateway, chat_request, user

pytest_plugins = ["tests.admin_fixtures"]


async def _cli(
    capsys: pytest.CaptureFixture[str], gateway: Gateway, *argv: str, key: str = ADMIN_KEY
) -> tuple[int, str, str]:
    code = await asyncio.to_thread(
        main, ["admin", "--address", f"127.0.0.1:{gateway.port}", "--admin-key", key, *argv]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_keys_and_tenants_from_the_command_line(
    start_gateway: StartGateway,
    tmp_path: Path,
    stubs: Callable[[Gateway], Stubs],
    capsys: pytest.CaptureFixture[str],
) -> None:
    gateway = await start_gateway(admin_config({"url": sqlite_url(tmp_path / "gw.db")}))
    client = stubs(gateway)
    code, out, _ = await _cli(
        capsys,
        gateway,
        "tenants",
        "create",
        "acme",
        "--rpm",
        "60",
        "--budget-usd",
        "25",
        "--budget-period",
        "month",
    )
    assert code == 0 and "rpm=60 budget=$25/month" in out
    code, out, _ = await _cli(
        capsys,
        gateway,
        "keys",
        "create",
        "--tenant",
        "acme",
        "--name",
        "search",
        "--models",
        "echo",
        "--tag",
        "cost_centre=cc-7",
    )
    assert code == 0
    secret = re.search(r"shown once, store it now\): (llmgw-\S+)", out)
    assert secret is not None
    key_id = secret.group(1).split("-")[1]
    await client.chat.Chat(chat_request("echo", user("hi")), metadata=bearer(secret.group(1)), timeout=5)

    code, out, _ = await _cli(capsys, gateway, "keys", "update", key_id, "--rpm", "5")
    assert code == 0
    stored = (await client.admin.GetKey(admin_pb2.GetKeyRequest(id=key_id), metadata=ADMIN)).key
    assert (stored.policy.rpm, list(stored.policy.models), dict(stored.tags)) == (
        5,
        ["echo"],
        {"cost_centre": "cc-7"},
    )
    code, out, _ = await _cli(capsys, gateway, "keys", "update", key_id, "--rpm", "none")
    stored = (await client.admin.GetKey(admin_pb2.GetKeyRequest(id=key_id), metadata=ADMIN)).key
    assert code == 0 and not stored.policy.HasField("rpm")

    code, out, _ = await _cli(capsys, gateway, "keys", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "TENANT", "NAME"]
    assert any(line.split()[:4] == [key_id, "acme", "search", "api"] for line in lines)
    assert any(" config " in f" {line} " for line in lines)

    code, out, _ = await _cli(capsys, gateway, "keys", "revoke", key_id)
    assert code == 0 and "revoked" in out
    with pytest.raises(grpc.aio.AioRpcError):
        await client.chat.Chat(chat_request("echo", user("hi")), metadata=bearer(secret.group(1)), timeout=5)

    code, out, _ = await _cli(capsys, gateway, "audit")
    assert code == 0
    assert [line.split()[3] for line in out.splitlines()[1:]] == [
        "RevokeKey",
        "UpdateKey",
        "UpdateKey",
        "CreateKey",
        "CreateTenant",
    ]
    assert secret.group(1) not in out

    code, out, err = await _cli(capsys, gateway, "tenants", "create", "bad name!")
    assert code == 1 and "INVALID_ARGUMENT" in err and "tenant.name" in err
    code, out, err = await _cli(capsys, gateway, "keys", "list", key=CONFIG_KEY)
    assert code == 1 and err.startswith("PERMISSION_DENIED")


async def test_an_admin_key_made_by_the_cli_is_accepted(
    start_gateway: StartGateway,
    tmp_path: Path,
    stubs: Callable[[Gateway], Stubs],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "create", "--admin", "--name", "ops"]) == 0
    out = capsys.readouterr().out
    secret = re.search(r"shown once, store it now\): (llmgw-\S+)", out)
    assert secret is not None
    entries: list[dict[str, Any]] = yaml.safe_load(out.split("admin.keys:", 1)[1])
    config = admin_config({"url": sqlite_url(tmp_path / "gw.db")})
    config["admin"]["keys"] = entries
    client = stubs(await start_gateway(config))
    answer = await client.admin.ListTenants(admin_pb2.ListTenantsRequest(), metadata=bearer(secret.group(1)))
    assert [t.name for t in answer.tenants] == ["gitops"]
