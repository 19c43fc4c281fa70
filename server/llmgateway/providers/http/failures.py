"""The words for a transport's failures. Each transport decides which of these its own library's
exceptions are (failures of sending, of connecting, of a connection that broke); the GatewayError is
made here, once, so both transports report a failure alike.

The library's exception text is never passed on: it can hold upstream URLs, which for some providers
carry credentials. Its type name is, as a hint for whoever reads the message.
"""

from __future__ import annotations

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import unavailable
from llmgateway.reasons import Reason


def timed_out(provider: str, error: BaseException) -> GatewayError:
    """Connecting, waiting for a pooled connection, or reading took longer than its limit."""
    return unavailable(
        provider, Reason.UPSTREAM_TIMEOUT, f"provider {provider!r} timed out ({type(error).__name__})"
    )


def connect_failed(provider: str, error: BaseException) -> GatewayError:
    """No connection could be made (refused, unresolvable, TLS not trusted)."""
    return unavailable(provider, Reason.UPSTREAM_CONNECT_FAILED, f"cannot connect to provider {provider!r}")


def connection_lost(provider: str, error: BaseException) -> GatewayError:
    """The connection broke, or what came back is not HTTP."""
    return unavailable(
        provider,
        Reason.UPSTREAM_CONNECTION_LOST,
        f"the connection to provider {provider!r} broke ({type(error).__name__})",
    )


def call_failed(provider: str, cause: str) -> GatewayError:
    """Any other failure of the exchange (an unusable URL, a body that does not decode)."""
    return unavailable(provider, Reason.UPSTREAM_ERROR, f"the call to provider {provider!r} failed ({cause})")
