"""Reading the configuration: YAML, `${ENV}` interpolation on parsed values, validation errors that
name the field by its path (e.g. `providers[0].type`), and YAML errors that never echo a secret."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmgateway.config.common import ConfigError, validation_message
from llmgateway.config.gateway import GatewayConfig
from llmgateway.config.ledger import DEFAULT_DATABASE_FILE, DEFAULT_SPOOL_DIR, STATE_DIR_VARIABLE, sqlite_url

_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str], path: str) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; `$$` is a literal `$`.

    Done on parsed values, not on the raw text, so a secret containing YAML syntax stays a string.
    """
    if isinstance(value, dict):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _ENV_REFERENCE.sub(replace, value)


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate already-parsed YAML data; raises ConfigError naming the bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config: the top level must be a mapping")
    interpolated = _interpolate(data, os.environ if env is None else env, "")
    try:
        return GatewayConfig.model_validate(interpolated)
    except ValidationError as error:
        raise ConfigError(validation_message(error)) from None


# A line of YAML with a key that names a secret (api_key, secret_access_key, pii_hash_salt,
# Authorization, password, ...), block or flow style alike.
_SECRET_LINE = re.compile(
    r"(?i)[\w.-]*(key|secret|password|token|hash|salt|credential|authorization)[\w.-]*\s*:"
)


def _yaml_error(path: Path, error: yaml.YAMLError, text: str) -> str:
    """PyYAML's complaint, with the offending line quoted as PyYAML would, except a line that holds
    a secret field: PyYAML's own snippet would print most of an `api_key:` value into the log and
    `check-config`'s output."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"{path}: not valid YAML: {error}"
    lines = text.splitlines()
    parts = []
    for what, mark in ((error.context, error.context_mark), (error.problem, error.problem_mark)):
        if what is None or mark is None:
            continue
        line = lines[mark.line] if mark.line < len(lines) else ""
        shown = "(a secret field: line not shown)" if _SECRET_LINE.search(line) else line.strip()
        parts.append(f"{what} at line {mark.line + 1}, column {mark.column + 1}: {shown}")
    return f"{path}: not valid YAML: " + "; ".join(parts)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_error(path, error, text)) from None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, interpolate and validate a YAML config file (and its auth.keys_file, relative to it).
    An empty file is an error, not the defaults: it is far more often a file caught half-written
    or emptied by a failed render than a wish for a gateway with nothing configured."""
    data = _read_yaml(path)
    if data is None or data == {}:
        raise ConfigError(f"{path}: the file is empty")
    auth = data.get("auth") if isinstance(data, dict) else None
    keys_file = auth.get("keys_file") if isinstance(auth, dict) else None
    if isinstance(auth, dict) and isinstance(keys_file, str):
        keys_path = path.parent / keys_file
        extra = _read_yaml(keys_path)
        if isinstance(extra, dict):
            extra = extra.get("keys")
        if not isinstance(extra, list):
            raise ConfigError(f"auth.keys_file: {keys_path} must hold a list of keys (or {{keys: [...]}})")
        auth["keys"] = [*(auth.get("keys") or []), *extra]
        auth["keys_file"] = str(keys_path)
    return parse_config(with_ledger_beside(data, ledger_folder(path.parent, env)), env)


def ledger_folder(config_folder: Path, env: Mapping[str, str] | None) -> Path:
    """Where the ledger's database and spool go by default: $LLMGW_STATE_DIR when set (a container
    whose config is a read-only mount), else beside the config."""
    state = (os.environ if env is None else env).get(STATE_DIR_VARIABLE)
    return Path(state) if state else config_folder


def with_ledger_beside(data: Any, folder: Path) -> Any:
    """`data` with the ledger's database and spool folder defaulting to files in `folder` (the
    config's own folder, so `serve --config` needs nothing else); a relative spool_dir is taken
    relative to it too."""
    if not isinstance(data, dict):
        return data  # parse_config names the error
    ledger = data.get("ledger")
    if ledger is None:
        ledger = data["ledger"] = {}
    if not isinstance(ledger, dict):
        return data  # validation names the error
    # `$$`: the path is a literal, not a ${VAR} reference (interpolation runs after this).
    ledger.setdefault("url", sqlite_url(folder / DEFAULT_DATABASE_FILE).replace("$", "$$"))
    spool = ledger.setdefault("spool_dir", DEFAULT_SPOOL_DIR)
    if isinstance(spool, str) and not Path(spool).is_absolute() and "$" not in spool:
        ledger["spool_dir"] = str(folder / spool)
    return data
