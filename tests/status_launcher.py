"""`llmgateway` with the status page's admin credential pointed at one key, given by id and hash in
STATUS_ADMIN_ID and STATUS_ADMIN_HASH: what connecting the admin keys to `admin_check` will do,
for a test of the page that a supervisor serves (a subprocess, so no constructor to pass it to)."""

from __future__ import annotations

import os
import sys

from llmgateway.config import ApiKeySettings, GatewayConfig
from llmgateway.status import access


def _admin_check(config: GatewayConfig) -> access.Authorize:
    del config
    admin = ApiKeySettings(
        id=os.environ["STATUS_ADMIN_ID"], hash=os.environ["STATUS_ADMIN_HASH"], tenant="ops"
    )
    return access.keys_check([admin])


# Before the CLI (and the app, and status.mount, which import `admin_check` by name) is imported.
access.admin_check = _admin_check

from llmgateway.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
