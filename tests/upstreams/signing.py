"""Signed reasoning for the simulators that sign theirs (Anthropic, Bedrock, Gemini).

Each real API signs its thinking so that it can tell, when a later turn sends it back, whether it is
the model's own and unchanged. The simulators do the same with an HMAC over the thinking text under
a per-protocol key, so a signature from another simulator, or one over altered text, fails to
verify — as it would at the real API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Final

# Anthropic's documented test string: a request containing it gets redacted thinking back.
REDACTED_TRIGGER: Final = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"
)


def _key(protocol: str) -> bytes:
    return f"simulator-reasoning-key:{protocol}".encode()


def sign(protocol: str, text: str) -> str:
    """The signature of `text` by the protocol's simulator (base64, as the real ones look)."""
    digest = hmac.new(_key(protocol), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"sig1" + digest).decode("ascii")


def verifies(protocol: str, text: str, signature: object) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(sign(protocol, text), signature)


def redacted(protocol: str, text: str) -> str:
    """Encrypted-looking redacted thinking: the text with its signature, base64."""
    payload = json.dumps({"t": text, "s": sign(protocol, text)}).encode()
    return base64.b64encode(payload).decode("ascii")


def redacted_verifies(protocol: str, data: object) -> bool:
    if not isinstance(data, str):
        return False
    try:
        payload = json.loads(base64.b64decode(data, validate=True))
    except (ValueError, TypeError):
        return False
    return isinstance(payload, dict) and verifies(protocol, str(payload.get("t")), payload.get("s"))


def thinking_about(question: str) -> str:
    """The simulated model's thinking on a question: deterministic, several words long."""
    return f"The user asks: {question.strip()[:200] or 'nothing'}. I consider it step by step."
