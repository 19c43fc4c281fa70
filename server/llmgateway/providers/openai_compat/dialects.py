"""What differs between the servers that speak OpenAI Chat Completions: where each lives, how it is
authenticated, and which fields it accepts (its dialect).

Azure OpenAI: `POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=VER`,
authenticated by an `api-key` header or an Entra ID bearer token. The deployment named in the URL
picks the model, so the body carries no `model`. Bodies, streams and error envelopes are OpenAI's,
plus content-filter annotations the shared reader ignores (a filtered answer still maps through
`finish_reason: content_filter`, a filtered prompt through the 400 error code `content_filter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from llmgateway.config import ProviderSettings

_DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com",
    "vllm": "http://localhost:8000",
    "together": "https://api.together.xyz",
}
# The newest GA Azure data-plane inference version when this adapter was written.
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# Azure api-versions are dates (with an optional "-preview" suffix), so the date prefix orders them.
_MAX_COMPLETION_TOKENS_SINCE = "2024-09-01"  # also when `stream_options` arrived
_DEVELOPER_ROLE_SINCE = "2024-12-01"


@dataclass(frozen=True)
class OpenAIDialect:
    """The small differences between OpenAI-compatible servers."""

    max_tokens_field: str = "max_completion_tokens"
    supports_top_k: bool = False
    supports_developer_role: bool = True
    # Older Azure api-versions reject `stream_options`; their streams then carry no usage.
    stream_usage: bool = True
    # Azure picks the model by the deployment in the URL and ignores `model` in the body.
    sends_model: bool = True
    # Embeddings: whether the server takes `encoding_format: base64` and `dimensions`.
    embeddings_base64: bool = True
    embeddings_dimensions: bool = True
    # vLLM switches a hybrid model's thinking through its chat template (`enable_thinking`).
    thinking_template_switch: bool = False
    # OpenAI takes `prompt_cache_key` (routing among its prompt caches); Azure's dated api-versions,
    # vLLM and Together do not know it (Together and Azure refuse unknown fields), and cache
    # automatically without it.
    prompt_cache_key: bool = False


_DIALECTS = {
    "openai": OpenAIDialect(prompt_cache_key=True),
    "vllm": OpenAIDialect(
        max_tokens_field="max_tokens",
        supports_top_k=True,
        supports_developer_role=False,
        thinking_template_switch=True,
    ),
    # Together's embeddings endpoint documents `model` and `input` only.
    "together": OpenAIDialect(
        max_tokens_field="max_tokens",
        supports_top_k=True,
        supports_developer_role=False,
        embeddings_base64=False,
        embeddings_dimensions=False,
    ),
}


@dataclass(frozen=True)
class OpenAIWire:
    """Where one OpenAI-compatible server lives and how it is spoken to."""

    base_url: str
    dialect: OpenAIDialect
    auth_headers: Mapping[str, str] = field(default_factory=dict)
    # `{model}` is replaced by the URL-quoted upstream model (Azure: the deployment name).
    chat_path: str = "/v1/chat/completions"
    embeddings_path: str = "/v1/embeddings"
    # Sent with every request (Azure: api-version).
    query: Mapping[str, str] = field(default_factory=dict)
    # None where the server cannot list what it serves in a way callers can use.
    models_path: str | None = "/v1/models"


def azure_dialect(api_version: str) -> OpenAIDialect:
    """What the chosen api-version accepts: older versions reject the newer fields outright."""
    since = api_version[:10]
    modern = since >= _MAX_COMPLETION_TOKENS_SINCE
    return OpenAIDialect(
        max_tokens_field="max_completion_tokens" if modern else "max_tokens",
        supports_top_k=False,
        supports_developer_role=since >= _DEVELOPER_ROLE_SINCE,
        stream_usage=modern,
        sends_model=False,
    )


def _configured(settings: ProviderSettings, dialect: OpenAIDialect) -> OpenAIDialect:
    """The dialect with the configured output-token field, when the config names one."""
    if settings.max_tokens_field:
        return replace(dialect, max_tokens_field=settings.max_tokens_field)
    return dialect


def _azure_auth_headers(settings: ProviderSettings) -> dict[str, str]:
    if settings.bearer_token is not None and settings.bearer_token.get_secret_value():
        return {"authorization": f"Bearer {settings.bearer_token.get_secret_value()}"}
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return {"api-key": settings.api_key.get_secret_value()}
    raise ValueError(f"provider {settings.name!r} (azure_openai) needs api_key or bearer_token")


def _azure_wire(settings: ProviderSettings) -> OpenAIWire:
    if not settings.base_url:
        raise ValueError(
            f"provider {settings.name!r} (azure_openai) needs base_url: the resource endpoint, "
            "e.g. https://NAME.openai.azure.com"
        )
    api_version = settings.api_version or DEFAULT_AZURE_API_VERSION
    return OpenAIWire(
        base_url=settings.base_url,
        dialect=_configured(settings, azure_dialect(api_version)),
        auth_headers=_azure_auth_headers(settings),
        chat_path="/openai/deployments/{model}/chat/completions",
        embeddings_path="/openai/deployments/{model}/embeddings",
        query={"api-version": api_version},
        # The resource's model list names base models, not the deployments callers route to.
        models_path=None,
    )


def wire_for(settings: ProviderSettings) -> OpenAIWire:
    """The server a provider of type openai, vllm, together or azure_openai configures. Raises
    ValueError for an Azure provider without its resource endpoint (`base_url`, there is no default
    to fall back to) or credentials."""
    if settings.type == "azure_openai":
        return _azure_wire(settings)
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    return OpenAIWire(
        base_url=settings.base_url or _DEFAULT_BASE_URLS[settings.type],
        dialect=_configured(settings, _DIALECTS[settings.type]),
        # vLLM runs without a key unless started with --api-key.
        auth_headers={"authorization": f"Bearer {key}"} if key else {},
    )
