"""Azure OpenAI: the OpenAI Chat Completions wire behind a per-deployment URL.

`POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=VER`, authenticated
by an `api-key` header or an Entra ID bearer token. The deployment named in the URL picks the
model, so the body carries no `model`. Bodies, streams and error envelopes are OpenAI's, plus
content-filter annotations the shared reader ignores (a filtered answer still maps through
`finish_reason: content_filter`, a filtered prompt through the 400 error code `content_filter`).
"""

from __future__ import annotations

from llmgateway.config import ProviderSettings
from llmgateway.providers.base import Provider, ProviderContext
from llmgateway.providers.openai_compat import OpenAICompatProvider, OpenAIWire, dialect_for
from llmgateway.providers.openai_request import OpenAIDialect

# The newest GA data-plane inference version when this adapter was written.
DEFAULT_API_VERSION = "2024-10-21"
# api-versions are dates (with an optional "-preview" suffix), so the date prefix orders them.
_MAX_COMPLETION_TOKENS_SINCE = "2024-09-01"  # also when `stream_options` arrived
_DEVELOPER_ROLE_SINCE = "2024-12-01"


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


def _auth_headers(settings: ProviderSettings) -> dict[str, str]:
    if settings.bearer_token is not None and settings.bearer_token.get_secret_value():
        return {"authorization": f"Bearer {settings.bearer_token.get_secret_value()}"}
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return {"api-key": settings.api_key.get_secret_value()}
    raise ValueError(f"provider {settings.name!r} (azure_openai) needs api_key or bearer_token")


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An Azure OpenAI provider; deployments' `model` is the Azure deployment name.

    Raises ValueError when the resource endpoint (`base_url`, e.g. https://NAME.openai.azure.com)
    or the credentials are missing: there is no default endpoint to fall back to.
    """
    if not settings.base_url:
        raise ValueError(
            f"provider {settings.name!r} (azure_openai) needs base_url: the resource endpoint, "
            "e.g. https://NAME.openai.azure.com"
        )
    api_version = settings.api_version or DEFAULT_API_VERSION
    wire = OpenAIWire(
        base_url=settings.base_url,
        dialect=dialect_for(settings, azure_dialect(api_version)),
        auth_headers=_auth_headers(settings),
        chat_path="/openai/deployments/{model}/chat/completions",
        query={"api-version": api_version},
        # The resource's model list names base models, not the deployments callers route to.
        models_path=None,
    )
    return OpenAICompatProvider(settings, wire)
