"""/status (HTML) and /status.json as a WSGI application, mounted beside /metrics on the metrics
listener (observability/metrics.py). Every request must present the admin credential: HTTP Basic
(what a browser's login box sends) or a Bearer token; otherwise 401 with WWW-Authenticate, so a
browser asks for it. The presented secret is never logged (the metrics server logs no requests)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

from llmgateway.status.access import REALM, Authorize, presented_secret
from llmgateway.status.as_json import status_json
from llmgateway.status.gather import FigureSource
from llmgateway.status.page import status_page

_log = logging.getLogger(__name__)

PAGE_PATH = "/status"
JSON_PATH = "/status.json"
PATHS = (PAGE_PATH, JSON_PATH)

# Nothing may be fetched or run: the page is self-contained (inline CSS and SVG, no script).
_SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


class StatusPage:
    """The WSGI application of both paths."""

    def __init__(self, figures: FigureSource, authorize: Authorize, *, refresh_s: int = 30) -> None:
        self._figures = figures
        self._authorize = authorize
        self._refresh_s = refresh_s

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "GET only\n", [("Allow", "GET, HEAD")])
        secret = presented_secret(environ.get("HTTP_AUTHORIZATION"))
        if secret is None or not self._authorize(secret):
            challenge = f'Basic realm="{REALM}", charset="UTF-8"'
            return _plain(
                start_response,
                "401 Unauthorized",
                "the status page needs the admin credential (HTTP Basic: any user name, the key as "
                "password; or Authorization: Bearer <key>)\n",
                [("WWW-Authenticate", challenge)],
            )
        try:
            figures = self._figures.read()
        except Exception:
            # A bug, not an outage (the ledger's failures are shown on the page): say so, and keep
            # the traceback in the log, not in the answer.
            _log.exception("status page: the figures could not be read")
            return _plain(
                start_response, "500 Internal Server Error", "the status figures could not be read\n"
            )
        if path == JSON_PATH:
            body, content_type = status_json(figures), "application/json"
        else:
            body, content_type = status_page(figures, self._refresh_s), "text/html; charset=utf-8"
        start_response(
            "200 OK",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *_SECURITY_HEADERS],
        )
        return [b"" if method == "HEAD" else body]


def _plain(
    start_response: StartResponse, status: str, text: str, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *_SECURITY_HEADERS,
            *(headers or []),
        ],
    )
    return [body]
