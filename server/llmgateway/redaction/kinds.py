"""What redaction finds and reports: the kinds of sensitive value, a finding (kind and offsets,
never the value), a result, and the error of a prompt refused by policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal


class Kind(StrEnum):
    """What a finding is. The value is the name used in configuration and in messages."""

    EMAIL = "email"
    PHONE = "phone"
    CREDIT_CARD = "credit_card"
    IBAN = "iban"
    SSN = "ssn"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    API_KEY = "api_key"
    BEARER_TOKEN = "bearer_token"  # noqa: S105 (a kind name, not a credential)
    JWT = "jwt"
    AWS_ACCESS_KEY_ID = "aws_access_key_id"
    AWS_SECRET_ACCESS_KEY = "aws_secret_access_key"  # noqa: S105

    @property
    def placeholder(self) -> str:
        """The mask-mode replacement, e.g. ``[EMAIL]``."""
        return f"[{self.value.upper()}]"


Mode = Literal["mask", "hash", "drop"]
Action = Literal["redact", "reject"]

MODES: Final = ("mask", "hash", "drop")
HASH_HEX_CHARS: Final = 8


@dataclass(frozen=True, slots=True)
class Finding:
    """A detected value: its kind and its ``[start, end)`` offsets in the original text (never the value)."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The redacted text and what was found (offsets refer to the original text)."""

    text: str
    findings: list[Finding]

    @property
    def kinds(self) -> frozenset[Kind]:
        return frozenset(f.kind for f in self.findings)


class PIIRejectedError(ValueError):
    """A prompt was rejected by policy. Names the kinds found, never the values.

    The gateway maps it to ``INVALID_ARGUMENT``.
    """

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self.kinds: tuple[Kind, ...] = tuple(sorted(set(kinds)))
        super().__init__("the text contains sensitive data: " + ", ".join(k.value for k in self.kinds))
