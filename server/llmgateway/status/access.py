"""Who may open the status page: the secret a browser (HTTP Basic) or a script (Bearer) presents,
checked by one function. The page only ever sees `Authorize`; which credential it checks is
decided in `admin_check`, the one place to connect the admin keys to."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

from llmgateway.auth.keys import KeyStore
from llmgateway.config import ApiKeySettings, GatewayConfig

_log = logging.getLogger(__name__)

# Takes the presented secret (a whole key, `llmgw-<id>-<secret>`); True: it may see the page.
Authorize = Callable[[str], bool]

REALM = "llmgateway status"


def presented_secret(authorization: str | None) -> str | None:
    """The secret in an Authorization header: `Bearer <key>`, or `Basic` with the key as the
    password (any user name: a browser's login box asks for one). None when there is none."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon and password else None
    return None


def keys_check(keys: list[ApiKeySettings]) -> Authorize:
    """Accepts the keys given (id and salted hash, checked as API keys are: auth/keys.py, constant
    time, revoked keys refused)."""
    store = KeyStore(keys)
    return lambda presented: store.authenticate(presented) is not None


def admin_check(config: GatewayConfig) -> Authorize:
    """The admin credential the page asks for. Admin keys do not exist yet in this build, and no
    other credential is meant for administration: until they are connected here
    (`keys_check(<the admin keys>)`), the page refuses everyone (401), whatever is presented."""
    if config.server.status_page.enabled:
        _log.warning("status page: no admin credential exists in this build yet, so it refuses every request")
    return lambda presented: False
