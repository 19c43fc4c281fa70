"""`llmgateway admin ...`: the AdminService from a shell. A thin client of the gRPC API (the same
calls any generated client makes): the gateway's address and an admin key from flags or the
environment (LLMGW_ADMIN_ADDRESS, LLMGW_ADMIN_KEY); what it prints is cli_output's."""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from llmgateway.admin.v1 import admin_pb2, admin_pb2_grpc
from llmgateway.governance.cli_output import failure, printed

ADDRESS_ENV = "LLMGW_ADMIN_ADDRESS"
KEY_ENV = "LLMGW_ADMIN_KEY"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIMEOUT_S = 30.0


# --- arguments ----------------------------------------------------------------------------------


def _seconds(text: str) -> int:
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30m, 12h, 7d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _moment(text: str) -> datetime.datetime:
    """`7d` (that long ago), or an ISO date or time (UTC unless it says otherwise)."""
    if _DURATION.match(text):
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=_seconds(text))
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (7d) nor an ISO date (2026-12-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _pair(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def _limit(text: str) -> int | None:
    """A limit, or `none` to remove it."""
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (or `none`)") from None


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpm", type=_limit, help="calls per minute (`none`: no limit)")
    parser.add_argument("--tpm", type=_limit, help="tokens per minute (`none`: no limit)")
    parser.add_argument("--max-concurrent", type=_limit, help="calls at once (`none`: no limit)")
    parser.add_argument("--budget-usd", type=float, help="spend allowed per period (0: no budget)")
    parser.add_argument("--budget-period", choices=["day", "month"], default=None)


def _add_policy(parser: argparse.ArgumentParser) -> None:
    _add_limits(parser)
    parser.add_argument("--models", nargs="+", help="model globs the key may use")
    parser.add_argument(
        "--label", type=_pair, action="append", help="NAME=VALUE added to every call (repeat)"
    )
    parser.add_argument("--tag", type=_pair, action="append", help="NAME=VALUE cost-centre tag (repeat)")
    parser.add_argument("--cache", choices=["on", "off"], help="may the key's calls use the response cache")


def add_parser(commands: Any) -> None:
    """The `admin` command and its subcommands, on the main parser's subparsers."""
    admin = commands.add_parser("admin", help="keys, tenants, audit and usage through the AdminService")
    admin.add_argument(
        "--address", default=os.environ.get(ADDRESS_ENV, "127.0.0.1:50051"), help=f"${ADDRESS_ENV}"
    )
    admin.add_argument("--admin-key", default=os.environ.get(KEY_ENV), help=f"an admin key (${KEY_ENV})")
    admin.add_argument("--tls-ca", type=Path, help="CA certificate of a TLS gateway (TLS when given)")
    admin.add_argument(
        "--tls-cert", type=Path, help="client certificate (admin.client_identities), with --tls-key"
    )
    admin.add_argument("--tls-key", type=Path, help="the client certificate's private key")
    admin.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    groups = admin.add_subparsers(dest="admin_command", required=True)

    keys = groups.add_parser("keys", help="gateway API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="make a key: its secret is printed once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="")
    _add_policy(create)
    listing = keys.add_parser("list", help="list keys (config keys too)")
    listing.add_argument("--tenant", default="")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    for name, text in (("get", "show a key"), ("revoke", "revoke a key now")):
        keys.add_parser(name, help=text).add_argument("id")
    update = keys.add_parser("update", help="change a key: only the options given")
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--tenant")
    _add_policy(update)
    rotate = keys.add_parser("rotate", help="new secret, same policy; the old key revoked (after --grace)")
    rotate.add_argument("id")
    rotate.add_argument(
        "--grace", type=_seconds, default=0, help="how long the old key keeps working, e.g. 1h"
    )

    tenants = groups.add_parser("tenants", help="tenants: limits shared by their keys").add_subparsers(
        dest="action", required=True
    )
    for name, text in (("create", "make a tenant"), ("update", "change a tenant: only the options given")):
        command = tenants.add_parser(name, help=text)
        command.add_argument("name")
        _add_limits(command)
        command.add_argument("--disabled", choices=["yes", "no"], help="refuse the tenant's keys")
    tenants.add_parser("list", help="list tenants (config tenants too)")
    for name, text in (("get", "show a tenant"), ("delete", "delete a tenant without unrevoked keys")):
        tenants.add_parser(name, help=text).add_argument("name")

    usage = groups.add_parser("usage", help="usage and cost from the ledger")
    usage.add_argument("--since", type=_moment, default="7d", help="7d, 24h, or an ISO date (default 7d)")
    usage.add_argument("--until", type=_moment, help="default: now")
    usage.add_argument("--tenant", default="")
    usage.add_argument("--key", default="", help="a key id")
    usage.add_argument("--model", default="")
    usage.add_argument(
        "--group-by", default="", help="comma-separated: tenant, key, tag, model, provider, day, hour"
    )
    usage.add_argument("--tag", default="", help="the tag `--group-by tag` groups by")
    usage.add_argument("--time-zone", default="", help="IANA zone of days and hours (default UTC)")
    usage.add_argument("--csv", action="store_true", help="CSV on standard output")

    audit = groups.add_parser("audit", help="the record of admin changes, newest first")
    audit.add_argument("--target", default="", help="a key id or tenant name")
    audit.add_argument("--limit", type=int, default=50)


# --- requests -----------------------------------------------------------------------------------


def _budget(target: Any, args: argparse.Namespace, mask: list[str], prefix: str) -> None:
    if args.budget_usd is not None or args.budget_period is not None:
        mask.append(f"{prefix}budget")
        if args.budget_usd:
            target.budget.usd = args.budget_usd
            target.budget.period = admin_pb2.BudgetPeriod.Value(
                f"BUDGET_PERIOD_{(args.budget_period or 'day').upper()}"
            )


def _limits(target: Any, args: argparse.Namespace, prefix: str = "") -> list[str]:
    """Sets the limits given on `target`; the field paths they change."""
    mask: list[str] = []
    for name in ("rpm", "tpm", "max_concurrent"):
        if name in args.explicit:
            mask.append(f"{prefix}{name}")
            value = getattr(args, name)
            if value is not None:
                setattr(target, name, value)
    _budget(target, args, mask, prefix)
    return mask


def _policy(policy: admin_pb2.KeyPolicy, args: argparse.Namespace) -> list[str]:
    mask = _limits(policy, args, "policy.")
    if args.models:
        policy.models[:] = args.models
        mask.append("policy.models")
    if args.label:
        policy.labels.update(dict(args.label))
        mask.append("policy.labels")
    if args.cache:
        policy.cache = args.cache == "on"
        mask.append("policy.cache")
    return mask


def _tenant(args: argparse.Namespace) -> tuple[admin_pb2.Tenant, list[str]]:
    tenant = admin_pb2.Tenant(name=args.name)
    mask = _limits(tenant, args)
    if args.disabled:
        tenant.disabled = args.disabled == "yes"
        mask.append("disabled")
    return tenant, mask


def _stamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _call(stub: admin_pb2_grpc.AdminServiceStub, args: argparse.Namespace) -> Message:
    """The request the arguments ask for, sent; its answer."""
    command, action = args.admin_command, getattr(args, "action", "")
    if command == "keys":
        if action == "create":
            request = admin_pb2.CreateKeyRequest(
                tenant=args.tenant, name=args.name, tags=dict(args.tag or ())
            )
            _policy(request.policy, args)
            return stub.CreateKey(request, **args.call)
        if action == "list":
            return stub.ListKeys(
                admin_pb2.ListKeysRequest(tenant=args.tenant, show_revoked=args.all, page_size=1000),
                **args.call,
            )
        if action == "get":
            return stub.GetKey(admin_pb2.GetKeyRequest(id=args.id), **args.call)
        if action == "revoke":
            return stub.RevokeKey(admin_pb2.RevokeKeyRequest(id=args.id), **args.call)
        if action == "rotate":
            grace = duration_pb2.Duration(seconds=args.grace)
            return stub.RotateKey(admin_pb2.RotateKeyRequest(id=args.id, grace=grace), **args.call)
        key = admin_pb2.Key(
            id=args.id, name=args.name or "", tenant=args.tenant or "", tags=dict(args.tag or ())
        )
        mask = _policy(key.policy, args)
        mask += [name for name in ("name", "tenant") if getattr(args, name) is not None]
        mask += ["tags"] if args.tag else []
        if not mask:
            raise SystemExit("keys update: name at least one thing to change (see --help)")
        update = admin_pb2.UpdateKeyRequest(key=key, update_mask=field_mask_pb2.FieldMask(paths=mask))
        return stub.UpdateKey(update, **args.call)
    if command == "tenants":
        if action == "create":
            return stub.CreateTenant(admin_pb2.CreateTenantRequest(tenant=_tenant(args)[0]), **args.call)
        if action == "update":
            tenant, mask = _tenant(args)
            if not mask:
                raise SystemExit("tenants update: name at least one thing to change (see --help)")
            tenant_update = admin_pb2.UpdateTenantRequest(
                tenant=tenant, update_mask=field_mask_pb2.FieldMask(paths=mask)
            )
            return stub.UpdateTenant(tenant_update, **args.call)
        if action == "list":
            return stub.ListTenants(admin_pb2.ListTenantsRequest(page_size=1000), **args.call)
        if action == "get":
            return stub.GetTenant(admin_pb2.GetTenantRequest(name=args.name), **args.call)
        return stub.DeleteTenant(admin_pb2.DeleteTenantRequest(name=args.name), **args.call)
    if command == "usage":
        names = [name for name in args.group_by.split(",") if name.strip()]
        try:
            group_by = [admin_pb2.UsageDimension.Value(f"USAGE_DIMENSION_{n.strip().upper()}") for n in names]
        except ValueError:
            raise SystemExit(
                f"--group-by: choose from tenant, key, tag, model, provider, day, hour (not {args.group_by!r})"
            ) from None
        usage_request = admin_pb2.GetUsageRequest(
            start_time=_stamp(args.since),
            end_time=_stamp(args.until) if args.until else None,
            group_by=group_by,
            tag=args.tag,
            tenant=args.tenant,
            key_id=args.key,
            model=args.model,
            time_zone=args.time_zone,
        )
        return stub.GetUsage(usage_request, **args.call)
    return stub.ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(target=args.target, page_size=args.limit), **args.call
    )


def run(
    args: argparse.Namespace,
    argv: Sequence[str],
    connect: Callable[[argparse.Namespace], grpc.Channel] | None = None,
) -> int:
    """Run an `admin` command; its exit status."""
    args.explicit = {
        name
        for name in ("rpm", "tpm", "max_concurrent")
        if any(a.startswith(f"--{name.replace('_', '-')}") for a in argv)
    }
    if not args.admin_key and args.tls_cert is None:
        print(
            f"llmgateway admin: needs an admin key (--admin-key or ${KEY_ENV}) or --tls-cert", file=sys.stderr
        )
        return 2
    if (args.tls_cert is None) != (args.tls_key is None) or (
        args.tls_cert is not None and args.tls_ca is None
    ):
        print("llmgateway admin: --tls-cert and --tls-key go together, with --tls-ca", file=sys.stderr)
        return 2
    metadata = (("authorization", f"Bearer {args.admin_key}"),) if args.admin_key else ()
    args.call = {"metadata": metadata, "timeout": _TIMEOUT_S}
    channel = (connect or _channel)(args)
    try:
        answer = _call(admin_pb2_grpc.AdminServiceStub(channel), args)
    except grpc.RpcError as error:
        print(failure(error), file=sys.stderr)
        return 1
    finally:
        channel.close()
    print(printed(answer, as_json=args.json, as_csv=getattr(args, "csv", False)))
    return 0


def _channel(args: argparse.Namespace) -> grpc.Channel:
    if args.tls_ca is None:
        return grpc.insecure_channel(args.address)
    credentials = grpc.ssl_channel_credentials(
        args.tls_ca.read_bytes(),
        private_key=args.tls_key.read_bytes() if args.tls_key else None,
        certificate_chain=args.tls_cert.read_bytes() if args.tls_cert else None,
    )
    return grpc.secure_channel(args.address, credentials)
