"""Who may open the status page: the secret a browser (HTTP Basic) or a script (Bearer) presents,
checked by one function. The page only ever sees `Authorize`; which credential it checks is
decided in `admin_check`, the one place to connect the admin keys to."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

from llmgateway.config import GatewayConfig
from llmgateway.governance.credentials import admin_key_id

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


def admin_check(config: Callable[[], GatewayConfig]) -> Authorize:
    """The admin credential the page asks for: an admin key (`admin.keys`, as the AdminService
    takes them), read from the config at each request so a reload adds or removes one at once.
    Without admin keys the page refuses everyone (401), whatever is presented."""
    if config().server.status_page.enabled and not config().admin.keys:
        _log.warning("status page: no admin.keys configured, so it refuses every request")
    return lambda presented: admin_key_id(config().admin, presented) is not None
