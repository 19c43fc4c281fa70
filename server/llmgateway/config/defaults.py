"""The built-in config used when no file is given: the `echo` model (no network), plus a provider
for each service whose usual environment variables are set, with a few of its models."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmgateway.config import GatewayConfig, ProviderType, load_config, parse_config
from llmgateway.config.ledger import STATE_DIR_VARIABLE
from llmgateway.config.loading import with_ledger_beside

Env = Mapping[str, str]


def _listed(env: Env, variable: str, default: str) -> list[str]:
    return [name.strip() for name in env.get(variable, default).split(",") if name.strip()]


@dataclass(frozen=True)
class EnvProvider:
    """A provider the default config adds when `present(env)` holds."""

    name: str
    type: ProviderType
    present: Callable[[Env], bool]
    settings: Callable[[Env], dict[str, Any]]
    models: Callable[[Env], list[str]]


def _optional(env: Env, **keys: str) -> dict[str, Any]:
    """Settings from the variables that are set (key = setting name, value = variable)."""
    return {setting: env[variable] for setting, variable in keys.items() if env.get(variable)}


# Secrets are referenced as ${VAR}, not copied, so the parsed config holds them only as SecretStr.
ENV_PROVIDERS: tuple[EnvProvider, ...] = (
    EnvProvider(
        "openai",
        "openai",
        lambda env: bool(env.get("OPENAI_API_KEY")),
        lambda env: {"api_key": "${OPENAI_API_KEY}", **_optional(env, base_url="OPENAI_BASE_URL")},
        lambda env: ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"],
    ),
    EnvProvider(
        "azure-openai",
        "azure_openai",
        lambda env: bool(env.get("AZURE_OPENAI_API_KEY") and env.get("AZURE_OPENAI_ENDPOINT")),
        lambda env: {
            "api_key": "${AZURE_OPENAI_API_KEY}",
            "base_url": env["AZURE_OPENAI_ENDPOINT"],
            **_optional(env, api_version="OPENAI_API_VERSION"),
        },
        lambda env: _listed(env, "AZURE_OPENAI_DEPLOYMENTS", "gpt-4o-mini"),
    ),
    EnvProvider(
        "anthropic",
        "anthropic",
        lambda env: bool(env.get("ANTHROPIC_API_KEY")),
        lambda env: {"api_key": "${ANTHROPIC_API_KEY}", **_optional(env, base_url="ANTHROPIC_BASE_URL")},
        lambda env: ["claude-sonnet-4-5", "claude-haiku-4-5"],
    ),
    EnvProvider(
        "gemini",
        "gemini",
        lambda env: bool(env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")),
        lambda env: {"api_key": "${GEMINI_API_KEY}" if env.get("GEMINI_API_KEY") else "${GOOGLE_API_KEY}"},
        lambda env: ["gemini-2.5-flash", "gemini-2.5-pro"],
    ),
    EnvProvider(
        "bedrock",
        "bedrock",
        # Credentials stay with botocore's chain (environment, profile, role); only the region is set.
        lambda env: bool(env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE")),
        lambda env: (
            {"region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"}
            | _optional(env, aws_profile="AWS_PROFILE")
        ),
        lambda env: _listed(
            env, "BEDROCK_MODELS", "anthropic.claude-3-5-haiku-20241022-v1:0,amazon.nova-lite-v1:0"
        ),
    ),
    EnvProvider(
        "together",
        "together",
        lambda env: bool(env.get("TOGETHER_API_KEY")),
        lambda env: {"api_key": "${TOGETHER_API_KEY}"},
        lambda env: ["meta-llama/Llama-3.3-70B-Instruct-Turbo"],
    ),
    EnvProvider(
        "ollama",
        "ollama",
        lambda env: bool(env.get("OLLAMA_HOST")),
        lambda env: {"base_url": _http_url(env["OLLAMA_HOST"])},
        lambda env: _listed(env, "OLLAMA_MODELS", "llama3.2"),
    ),
    EnvProvider(
        "vllm",
        "vllm",
        lambda env: bool(env.get("VLLM_BASE_URL")),
        lambda env: (
            {"base_url": env["VLLM_BASE_URL"]}
            | ({"api_key": "${VLLM_API_KEY}"} if env.get("VLLM_API_KEY") else {})
        ),
        lambda env: _listed(env, "VLLM_MODELS", ""),
    ),
)


def _http_url(host: str) -> str:
    # OLLAMA_HOST is often given as host:port without a scheme, as the ollama CLI accepts it.
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


def default_config(env: Env | None = None) -> GatewayConfig:
    """The built-in config. A model offered by several detected providers gets one deployment on
    each, so calls spread across them and fail over between them."""
    env = os.environ if env is None else env
    providers: list[dict[str, Any]] = [{"name": "echo", "type": "echo"}]
    deployments: dict[str, list[dict[str, str]]] = {"echo": [{"provider": "echo", "model": "echo"}]}
    for candidate in ENV_PROVIDERS:
        if not candidate.present(env):
            continue
        providers.append({"name": candidate.name, "type": candidate.type, **candidate.settings(env)})
        for model in candidate.models(env):
            deployments.setdefault(model, []).append({"provider": candidate.name, "model": model})
    models = [{"name": name, "deployments": entries} for name, entries in deployments.items()]
    # Local use: no keys to hand out yet, so authentication is off (the gateway warns at start).
    data = {"providers": providers, "models": models, "auth": {"enabled": False}}
    return parse_config(with_ledger_beside(data, state_dir(env)), env)


def state_dir(env: Env) -> Path:
    """Where the built-in config keeps the ledger's SQLite file and spool: $LLMGW_STATE_DIR, else the
    XDG state folder (`~/.local/state/llmgateway`), so `make run` needs no config and writes
    nothing into the tree."""
    if state := env.get(STATE_DIR_VARIABLE):
        return Path(state)
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "llmgateway"


def load_or_default(path: Path | None) -> GatewayConfig:
    """The config file's settings, or the built-in default config without one (`serve` and each
    worker process read the config through this, so neither imports the other)."""
    return default_config() if path is None else load_config(path)
