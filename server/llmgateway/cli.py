"""`llmgateway serve | check-config | version | keys create | db upgrade | db current | admin ...`."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from llmgateway.auth.keys import new_key
from llmgateway.config import (
    ApiKeySettings,
    ConfigError,
    GatewayConfig,
    KeyPolicy,
    load_config,
    split_host_port,
)
from llmgateway.config.admin import AdminKeySettings
from llmgateway.config.defaults import load_or_default
from llmgateway.governance import cli as admin_cli
from llmgateway.ledger.places import check_writable
from llmgateway.ledger.schema_error import SchemaError
from llmgateway.observability.logging_setup import configure_logging
from llmgateway.process import event_loop
from llmgateway.process.port_claims import PortUnavailableError, claim_listeners
from llmgateway.process.worker_count import worker_count
from llmgateway.workers import supervise


def _listen_address(value: str) -> str:
    try:
        split_host_port(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _listen_or_off(value: str) -> str:
    return value if value == "" else _listen_address(value)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmgateway", description="A gRPC gateway to LLM providers.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    serve_cmd.add_argument("--config", type=Path, help="YAML config file (default: the built-in config)")
    serve_cmd.add_argument(
        "--listen", type=_listen_address, help="HOST:PORT for gRPC (server.listen; port 0: any free)"
    )
    serve_cmd.add_argument(
        "--http-listen",
        type=_listen_or_off,
        help='HOST:PORT for the HTTP doors and HTTP health (server.http_listen); "" for none',
    )
    serve_cmd.add_argument(
        "--metrics-listen",
        type=_listen_or_off,
        help='HOST:PORT for Prometheus /metrics (server.metrics_listen); "" for none',
    )
    serve_cmd.add_argument(
        "--workers",
        type=_positive,
        help="worker processes sharing the port (SO_REUSEPORT); default server.workers, else one per core "
        "(one with the memory store and limits, budgets or cache: they span workers only with Redis)",
    )
    serve_cmd.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="overrides observability.log_level"
    )
    check = commands.add_parser("check-config", help="validate a config file without serving")
    check.add_argument("file", type=Path)
    commands.add_parser("version", help="print the version")
    keys = commands.add_parser("keys", help="manage gateway API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser(
        "create", help="make a new key: prints it once, and the config entry holding its hash"
    )
    create.add_argument("--tenant", help="the key's tenant (gateway API keys)")
    create.add_argument("--name", default="", help="a description, e.g. the service that uses the key")
    create.add_argument("--models", nargs="*", default=["*"], help="model globs the key may use")
    create.add_argument(
        "--admin", action="store_true", help="an admin key (for admin.keys) rather than a gateway API key"
    )
    database = commands.add_parser("db", help="the spend ledger's database schema").add_subparsers(
        dest="db_command", required=True
    )
    for name, text in (
        ("upgrade", "bring the ledger database's schema to this build's revision (Alembic)"),
        ("current", "print the ledger database's schema revision and this build's"),
    ):
        command = database.add_parser(name, help=text)
        command.add_argument("--config", type=Path, help="YAML config file (default: the built-in config)")
    admin_cli.add_parser(commands)
    return parser


def _create_key(tenant: str | None, name: str, models: list[str], admin: bool) -> int:
    key, key_id, stored = new_key()
    if admin:
        admin_entry = AdminKeySettings(id=key_id, hash=stored, name=name)
        print(f"Admin key (shown once, store it now): {key}")
        print("Add this entry to admin.keys:")
        print(
            yaml.safe_dump(
                [admin_entry.model_dump(mode="json", exclude_defaults=True)], sort_keys=False
            ).rstrip()
        )
        return 0
    if tenant is None:
        print("llmgateway keys create: a gateway API key needs --tenant", file=sys.stderr)
        return 2
    entry = ApiKeySettings(id=key_id, hash=stored, tenant=tenant, name=name, policy=KeyPolicy(models=models))
    print(f"API key (shown once, store it now): {key}")
    print("Add this entry to auth.keys (or to the keys file):")
    print(yaml.safe_dump([entry.model_dump(mode="json", exclude_defaults=True)], sort_keys=False).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `llmgateway` console script."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.command == "admin":
        return admin_cli.run(args, argv)
    if args.command == "version":
        print(version("llmgateway"))
        return 0
    if args.command == "keys":
        return _create_key(args.tenant, args.name, args.models, args.admin)
    if args.command == "db":
        from llmgateway.ledger.schema_command import schema_command  # noqa: PLC0415 (see _serve)

        configure_logging("text", "WARNING")
        try:
            return schema_command(args.db_command, load_or_default(args.config).ledger)
        except ConfigError as error:
            print(f"invalid config {args.config}:\n{error}", file=sys.stderr)
            return 1
    if args.command == "check-config":
        try:
            config = load_config(args.file)
        except ConfigError as error:
            print(f"{args.file}: invalid config:\n{error}", file=sys.stderr)
            return 1
        print(f"{args.file}: OK ({len(config.providers)} providers, {len(config.models)} models)")
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    log = logging.getLogger("llmgateway")
    configure_logging("text", args.log_level or "INFO")
    flags = {
        name: value
        for name, value in (
            ("listen", args.listen),
            ("http_listen", args.http_listen),
            ("metrics_listen", args.metrics_listen),
        )
        if value is not None
    }

    def load() -> GatewayConfig:
        # The flags win over the file on every reload too, so a reload never moves a listener.
        return load_or_default(args.config).with_listeners(**flags)

    try:
        config = load()
    except ConfigError as error:
        log.error("invalid config %s:\n%s", args.config, error)
        return 1
    observability = config.observability
    configure_logging(observability.log_format, args.log_level or observability.log_level)
    level = args.log_level or observability.log_level
    try:
        claims = claim_listeners(config.server)
    except PortUnavailableError as error:
        log.error("%s", error)
        return 1
    try:
        check_writable(config.ledger)
        workers = worker_count(args.workers, config)
        # The server and the database libraries are imported where they are used, not at the top:
        # a supervisor of workers serves no call (it would hold ~70 MiB of modules it never runs,
        # bench/RESULTS.md), and `keys`, `version` and `check-config` start faster without them.
        if workers > 1:
            if config.ledger.active:
                from llmgateway.ledger.recorder import prepare_schema  # noqa: PLC0415

                prepare_schema(config.ledger)
            return supervise(config, args.config, workers, level, flags)
        from llmgateway.app import serve  # noqa: PLC0415

        event_loop.run(serve(config, load=load), config.server.event_loop)
    except (SchemaError, ConfigError) as error:
        log.error("not starting: %s", error)
        return 1
    finally:
        claims.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
