"""Typed gateway configuration: one YAML file, `${ENV}` interpolation, validated at load.

Unknown keys are errors (a typo must not silently fall back to a default), and every error names
the field by its path, e.g. `providers[0].type`. The schema is split by section (server, providers,
models, routing, access, gateway) and loading is its own module; this package is their one public
face, so the rest of the server imports settings from `llmgateway.config`. The built-in config for
a start without a file is config/defaults.py.
"""

from llmgateway.config.access import (
    ApiKeySettings,
    AuthSettings,
    BudgetSettings,
    KeyPolicy,
    PiiPolicy,
    RateLimits,
    TenantSettings,
)
from llmgateway.config.admin import AdminKeySettings, AdminSettings
from llmgateway.config.budgets import BudgetsSettings
from llmgateway.config.common import ConfigError, Seconds, split_host_port
from llmgateway.config.gateway import (
    CacheSettings,
    GatewayConfig,
    LimitsSettings,
    MediaSettings,
    ObservabilitySettings,
    StoreSettings,
    TracingSettings,
)
from llmgateway.config.ledger import LedgerSettings
from llmgateway.config.loading import load_config, parse_config
from llmgateway.config.models import (
    DEFAULT_FALLBACK_ON,
    CapabilitySettings,
    DeploymentLimits,
    DeploymentSettings,
    ErrorClass,
    ModelKind,
    ModelSettings,
    Strategy,
)
from llmgateway.config.providers import (
    ADAPTER_MODULES,
    SDK_BASE_URL_SUFFIXES,
    HealthCheckSettings,
    ProviderSettings,
    ProviderTimeouts,
    ProviderType,
    adapter_available,
)
from llmgateway.config.routing import (
    WEEKDAYS,
    BreakerSettings,
    RetrySettings,
    RoutingSettings,
    RuleAction,
    RuleMatch,
    RuleSettings,
    TimeWindow,
    Weekday,
)
from llmgateway.config.server import KeepaliveSettings, ServerSettings, StatusPageSettings, TLSSettings

__all__ = [
    "ADAPTER_MODULES",
    "DEFAULT_FALLBACK_ON",
    "SDK_BASE_URL_SUFFIXES",
    "WEEKDAYS",
    "AdminKeySettings",
    "AdminSettings",
    "ApiKeySettings",
    "AuthSettings",
    "BreakerSettings",
    "BudgetSettings",
    "BudgetsSettings",
    "CacheSettings",
    "CapabilitySettings",
    "ConfigError",
    "DeploymentLimits",
    "DeploymentSettings",
    "ErrorClass",
    "GatewayConfig",
    "HealthCheckSettings",
    "KeepaliveSettings",
    "KeyPolicy",
    "LedgerSettings",
    "LimitsSettings",
    "MediaSettings",
    "ModelKind",
    "ModelSettings",
    "ObservabilitySettings",
    "PiiPolicy",
    "ProviderSettings",
    "ProviderTimeouts",
    "ProviderType",
    "RateLimits",
    "RetrySettings",
    "RoutingSettings",
    "RuleAction",
    "RuleMatch",
    "RuleSettings",
    "Seconds",
    "ServerSettings",
    "StatusPageSettings",
    "StoreSettings",
    "Strategy",
    "TLSSettings",
    "TenantSettings",
    "TimeWindow",
    "TracingSettings",
    "Weekday",
    "adapter_available",
    "load_config",
    "parse_config",
    "split_host_port",
]
