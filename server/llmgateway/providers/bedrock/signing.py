"""AWS credentials and SigV4 signing for Bedrock, both by botocore. Credentials come from the
provider's settings, else from botocore's standard chain (environment, shared files, SSO, container
and instance roles); refreshable ones are re-read for every request."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError

from llmgateway.config import ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.reasons import Reason

_SERVICE = "bedrock"


def _static_credentials(settings: ProviderSettings) -> Credentials | None:
    if settings.aws_access_key_id is None or settings.aws_secret_access_key is None:
        return None
    token = settings.aws_session_token.get_secret_value() if settings.aws_session_token else None
    return Credentials(
        settings.aws_access_key_id.get_secret_value(),
        settings.aws_secret_access_key.get_secret_value(),
        token,
    )


class Signer:
    """Signs a provider's requests with its current credentials, and keeps the provider's list of
    secrets (redacted from upstream text) up to date as they rotate."""

    def __init__(self, settings: ProviderSettings, errors: UpstreamErrors) -> None:
        self._settings = settings
        self._errors = errors
        self._session = botocore.session.Session(profile=settings.aws_profile)
        # botocore itself only reads AWS_DEFAULT_REGION and the profile; the other AWS SDKs read
        # AWS_REGION first, and so does the gateway.
        region = (
            settings.region or os.environ.get("AWS_REGION") or self._session.get_config_variable("region")
        )
        if not region:
            raise ValueError(
                f"provider {settings.name!r}: set `region` (or AWS_REGION / AWS_DEFAULT_REGION) for bedrock"
            )
        self.region: str = region
        self._credentials: Credentials | None = _static_credentials(settings)
        self._credentials_lock = asyncio.Lock()

    def _no_credentials(self, cause: str = "") -> GatewayError:
        detail = f" ({cause})" if cause else ""
        provider = self._settings.name
        return GatewayError(
            Reason.UPSTREAM_AUTH_FAILED,
            f"provider {provider!r} has no usable AWS credentials from its settings or the standard chain{detail}",
            metadata={"provider": provider},
        )

    async def _frozen_credentials(self) -> Credentials:
        """A fixed snapshot for one signature: refreshable credentials may rotate between calls."""
        try:
            credentials = self._credentials
            if credentials is None:
                async with self._credentials_lock:
                    if self._credentials is None:
                        # The chain may call the instance metadata service: keep it off the loop.
                        self._credentials = await asyncio.to_thread(self._session.get_credentials)
                    credentials = self._credentials
            if credentials is None:
                raise self._no_credentials()
            if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
                frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
            else:
                frozen = credentials.get_frozen_credentials()
        except BotoCoreError as error:
            # The text can name files, roles or SSO sessions; the type says enough.
            raise self._no_credentials(type(error).__name__) from error
        if not frozen.access_key or not frozen.secret_key:
            raise self._no_credentials()
        # Credentials from the chain are secrets too, and they rotate.
        self._errors.secrets = [
            *self._settings.secrets(),
            frozen.secret_key,
            *([frozen.token] if frozen.token else []),
        ]
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    async def headers(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` with the SigV4 signature of a POST of `body` to `url` (its path already
        percent-encoded as it will be sent: the signature covers that same encoded path)."""
        frozen = await self._frozen_credentials()
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        SigV4Auth(frozen, _SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())
