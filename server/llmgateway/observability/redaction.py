"""PII and secret redaction for prompts, completions and content logs.

A :class:`Redactor` finds sensitive values with a fixed set of detectors (regular expressions plus
validators: Luhn, issuer prefixes, octet ranges, :mod:`ipaddress`, JWT header decoding) and
replaces them by typed placeholders (``[EMAIL]``), keyed hashes (``[EMAIL:3f2a9c1b]``) or nothing.
:class:`StreamRedactor` does the same for streamed text, across chunk boundaries, producing exactly
the output of redacting the whole text at once while holding back only the text that could still
become part of a match. :meth:`Redactor.check` is the prompt policy: redact, or reject naming the
kinds found.

Nothing here ever puts a matched value into a message, a ``repr`` or an exception: :class:`Finding`
carries the kind and offsets only. See ``docs/redaction.md`` for what each detector matches and what
it deliberately does not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "MAX_HOLD",
    "Action",
    "Finding",
    "Kind",
    "Mode",
    "PIIRejectedError",
    "RedactionResult",
    "Redactor",
    "StreamRedactor",
]


class Kind(StrEnum):
    """What a finding is. The value is the name used in configuration and in messages."""

    EMAIL = "email"
    PHONE = "phone"
    CREDIT_CARD = "credit_card"
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

_MODES: Final = ("mask", "hash", "drop")
_HASH_HEX_CHARS: Final = 8


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


# --------------------------------------------------------------------------------------------------
# Validators
# --------------------------------------------------------------------------------------------------


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_issuer_ok(digits: str) -> bool:
    """Known issuer prefix (IIN) with a length that issuer uses."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if 2200 <= p4 <= 2204:  # Mir
        return n == 16
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    return False


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _valid_card(value: str, text: str, start: int) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and _card_issuer_ok(digits) and _luhn(digits)


def _valid_phone(value: str, text: str, start: int) -> bool:
    n = len(_digits(value))
    if value.startswith("+"):
        return 8 <= n <= 15
    if value.startswith(("(", "1")) or value[0] in "23456789":
        return n in (10, 11)  # North American: the regex fixes the shape
    return 9 <= n <= 12  # European national format with a trunk 0


_VERSION_BEFORE: Final = re.compile(r"(?i)(?:\bversion|\bver|\bv|\brelease|\bbuild)[ \t:.]*\Z")


def _valid_ipv4(value: str, text: str, start: int) -> bool:
    for octet in value.split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return False
    # "version 2.4.1.0" is a version number, not an address
    return _VERSION_BEFORE.search(text, max(0, start - 16), start) is None


def _valid_ipv6(value: str, text: str, start: int) -> bool:
    if not any(ch.isdigit() for ch in value):  # "::", "dead::beef" in code: no digit, not reported
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


_NOT_TLDS: Final = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff"})


def _valid_email(value: str, text: str, start: int) -> bool:
    return value.rsplit(".", 1)[1].lower() not in _NOT_TLDS  # icon@2x.png


def _has_digit_and_letter(value: str) -> bool:
    return any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)


_KEY_PREFIX: Final = re.compile(
    r"sk-ant-[a-z]{2,8}\d{0,3}-|sk-(?:proj|svcacct|admin)-|sk-|AIza|gh[pousr]_|github_pat_|hf_|gsk_"
)


def _valid_key_body(value: str, text: str, start: int) -> bool:
    """Random tokens have digits and letters; placeholders (sk-xxxx...) do not."""
    prefix = _KEY_PREFIX.match(value)
    return _has_digit_and_letter(value[prefix.end() if prefix else 0 :])


def _valid_token(value: str, text: str, start: int) -> bool:
    return len(value) >= 16 and _has_digit_and_letter(value)


def _valid_aws_secret(value: str, text: str, start: int) -> bool:
    return any(ch.isdigit() or ch in "/+" for ch in value) and any(ch.isalpha() for ch in value)


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _valid_jwt(value: str, text: str, start: int) -> bool:
    header_segment, payload_segment, _ = value.split(".")
    try:
        header = json.loads(_b64url_decode(header_segment))
        _b64url_decode(payload_segment)
    except (binascii.Error, ValueError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


# --------------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------------

_Validator = Callable[[str, str, int], bool]


def _needs(pattern: str) -> re.Pattern[str]:
    """A prefilter: a cheap pattern that every match of the detector contains."""
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: Kind
    pattern: re.Pattern[str]  # group "v" (when present) is the span to redact
    validate: _Validator | None = None
    # A cheap necessary condition searched before the detector's own, slower pattern.
    prefilter: re.Pattern[str] | None = None


# Every quantifier is bounded so that a match never exceeds _MAX_MATCH characters: the stream
# redactor relies on it to bound its hold-back.
_LABEL_SEP: Final = r"""["']?[ \t]{0,8}[:=][ \t]{0,8}["']?"""

# Order is priority: when candidates overlap, the earlier detector wins (a JWT after "Bearer" is a
# JWT, an sk- key labelled api_key is a provider key, digits inside a card are not a phone).
_DETECTORS: Final[tuple[_Detector, ...]] = (
    _Detector(
        Kind.JWT,
        re.compile(
            r"(?<![\w.-])(?P<v>e[wy][A-Za-z0-9_-]{8,510}\.[A-Za-z0-9_-]{2,3000}\.[A-Za-z0-9_-]{0,700})"
            r"(?![\w-]|\.[\w-])"
        ),
        _valid_jwt,
        _needs("e[wy]"),
    ),
    _Detector(
        Kind.AWS_SECRET_ACCESS_KEY,
        re.compile(
            r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)"
            + _LABEL_SEP
            + r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        _valid_aws_secret,
        _needs("(?i)secret"),
    ),
    _Detector(
        Kind.API_KEY,
        re.compile(
            r"(?<![\w-])(?P<v>"
            r"sk-ant-[A-Za-z0-9_-]{20,250}"
            r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,250}"
            r"|sk-[A-Za-z0-9]{20,100}"
            r"|AIza[0-9A-Za-z_-]{35}"
            r"|gh[pousr]_[A-Za-z0-9]{36,251}"
            r"|github_pat_[A-Za-z0-9_]{50,255}"
            r"|hf_[A-Za-z0-9]{30,40}"
            r"|gsk_[A-Za-z0-9]{48,56}"
            r")(?![\w-])"
        ),
        _valid_key_body,
        _needs("sk-|AIza|gh[pousr]_|github_pat_|hf_|gsk_"),
    ),
    _Detector(
        Kind.AWS_ACCESS_KEY_ID,
        re.compile(r"(?<![A-Za-z0-9])(?P<v>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"),
        prefilter=_needs("AKIA|ASIA"),
    ),
    _Detector(
        Kind.API_KEY,
        re.compile(
            r"(?i:(?<![A-Za-z0-9])(?:[a-z0-9]{1,32}[_-]){0,4}"
            r"(?:api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret))"
            + _LABEL_SEP
            + r"(?P<v>[A-Za-z0-9_\-./+]{19,511}[A-Za-z0-9_\-/+])(?![A-Za-z0-9_\-/+=]|\.[A-Za-z0-9_\-/+])"
        ),
        _valid_token,
        _needs("(?i)key|token|secret"),
    ),
    _Detector(
        Kind.BEARER_TOKEN,
        re.compile(
            r"(?i:(?<![A-Za-z0-9])bearer)[ \t]{1,8}"
            r"(?P<v>[A-Za-z0-9\-._~+/]{0,2047}[A-Za-z0-9\-_~+/]={0,2})"
            r"(?![A-Za-z0-9\-_~+/=]|\.[A-Za-z0-9\-_~+/])"
        ),
        _valid_token,
        _needs("(?i)bearer"),
    ),
    _Detector(
        Kind.CREDIT_CARD,
        re.compile(
            r"(?<![\w.-])(?<!\d[ -])(?P<v>"
            r"\d{4}(?P<s>[ -])\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,3})?"
            r"|\d{4}(?P<t>[ -])\d{6}(?P=t)\d{4,5}"
            r"|\d{13,19}"
            r")(?![\w-]|[ -]\d|\.\d)"
        ),
        _valid_card,
        _needs(r"\d"),
    ),
    _Detector(
        Kind.SSN,
        re.compile(r"(?<![\w.-])(?P<v>(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\w-]|\.\d)"),
        prefilter=_needs(r"\d-\d"),
    ),
    _Detector(
        Kind.EMAIL,
        re.compile(
            r"(?<![\w.%+-])(?P<v>[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"
            r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24})"
            r"(?![\w-]|\.[A-Za-z0-9])"
        ),
        _valid_email,
        _needs("@"),
    ),
    _Detector(
        Kind.IPV6,
        re.compile(
            r"(?<![\w:.])(?P<v>(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"
            r"[0-9A-Fa-f:]{2,39}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)"
            r"(?![\w:]|\.\d)"
        ),
        _valid_ipv6,
        _needs(":[0-9A-Fa-f]{0,4}:"),
    ),
    _Detector(
        Kind.IPV4,
        re.compile(r"(?<![\w.:-])(?P<v>(?:\d{1,3}\.){3}\d{1,3})(?![\w-]|\.\d)"),
        _valid_ipv4,
        _needs(r"\d\.\d{1,3}\.\d{1,3}\.\d"),
    ),
    # International (E.164 with "+", separators allowed)
    _Detector(
        Kind.PHONE,
        re.compile(
            r"(?<![\w+])(?P<v>\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,6}){1,6})(?![\w]|[.-]\d)"
        ),
        _valid_phone,
        _needs(r"\d"),
    ),
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199 (separators required)
    _Detector(
        Kind.PHONE,
        re.compile(
            r"(?<![\w+().-])(?P<v>(?:1[ .-]?)?(?:\([2-9]\d{2}\)[ ]?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4})"
            r"(?![\w-]|\.\d)"
        ),
        _valid_phone,
        _needs(r"\d"),
    ),
    # European national with trunk 0: 020 7946 0958, 0171 1234567, 01 42 68 53 00, 06.12.34.56.78
    _Detector(
        Kind.PHONE,
        re.compile(r"(?<![\w+().,/-])(?P<v>0[1-9]\d{0,3}(?:[ ./-]\d{2,8}){1,5})(?![\w]|[./-]\d)"),
        _valid_phone,
        _needs(r"\d"),
    ),
)

ALL_KINDS: Final[frozenset[Kind]] = frozenset(Kind)

# Upper bound of a detector's match (label included) plus its look-ahead; the longest is a JWT
# (512 + 1 + 3000 + 1 + 700). A word longer than _LONG_TAIL is released down to its last
# _MAX_MATCH characters (backing off to the start of any match the cut would split), so the stream
# redactor never holds back more than MAX_HOLD characters.
_MAX_MATCH: Final = 4300
_LONG_TAIL: Final = 6400
MAX_HOLD: Final = 2 * _MAX_MATCH
# Already-emitted text kept as left context for look-behinds and labels ("Bearer ", "api_key=",
# "aws_secret_access_key = ", at most 45 characters before the value); scanning starts _RESCAN
# characters before the first unemitted one.
_CONTEXT: Final = 128
_RESCAN: Final = 64


@dataclass(frozen=True, slots=True)
class _Candidate:
    priority: int
    start: int
    end: int
    kind: Kind


def _normalise(kind: Kind, value: str) -> str:
    """The form that is hashed, so that spellings of one value share a token."""
    if kind is Kind.EMAIL:
        return value.lower()
    if kind in (Kind.CREDIT_CARD, Kind.SSN):
        return _digits(value)
    if kind is Kind.PHONE:
        return ("+" if value.startswith("+") else "") + _digits(value)
    if kind is Kind.IPV6:
        return ipaddress.IPv6Address(value).compressed
    return value


# --------------------------------------------------------------------------------------------------
# Redactor
# --------------------------------------------------------------------------------------------------


class Redactor:
    """Finds and redacts sensitive values.

    ``kinds``: which kinds to detect (default all). ``mode``: ``mask`` → ``[EMAIL]``, ``hash`` →
    ``[EMAIL:3f2a9c1b]`` (HMAC-SHA256 of the normalised value keyed by ``salt``, stable within a
    deployment), ``drop`` → removed. ``salt`` is required for ``hash`` mode and never shown.
    """

    __slots__ = ("_detectors", "_key", "kinds", "mode")

    def __init__(
        self,
        kinds: Iterable[Kind | str] | None = None,
        mode: Mode = "mask",
        salt: str | bytes | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"unknown redaction mode {mode!r}; expected one of {', '.join(_MODES)}")
        if kinds is None:
            selected = ALL_KINDS
        else:
            selected_list: list[Kind] = []
            for k in kinds:
                try:
                    selected_list.append(Kind(k))
                except ValueError:
                    valid = ", ".join(sorted(x.value for x in Kind))
                    raise ValueError(f"unknown redaction kind {k!r}; expected one of {valid}") from None
            selected = frozenset(selected_list)
        if mode == "hash" and not salt:
            raise ValueError("hash mode needs a salt")
        self.kinds: frozenset[Kind] = selected
        self.mode: Mode = mode
        self._key: bytes | None = salt.encode() if isinstance(salt, str) else salt
        self._detectors: tuple[tuple[int, _Detector], ...] = tuple(
            (i, d) for i, d in enumerate(_DETECTORS) if d.kind in selected
        )

    def __repr__(self) -> str:
        kinds = ",".join(sorted(k.value for k in self.kinds))
        salt = ", salt=<set>" if self._key else ""
        return f"Redactor(kinds={kinds}, mode={self.mode}{salt})"

    # ---- detection ----

    def _candidates(self, text: str, pos: int = 0) -> list[_Candidate]:
        """Every validated detector match starting at ``pos`` or later, overlapping ones included.

        Look-behinds still see the text before ``pos``.
        """
        out: list[_Candidate] = []
        for priority, det in self._detectors:
            if det.prefilter is not None and det.prefilter.search(text, pos) is None:
                continue
            has_group = "v" in det.pattern.groupindex
            for m in det.pattern.finditer(text, pos):
                start, end = m.span("v") if has_group else m.span()
                if start == end:
                    continue
                if det.validate is not None and not det.validate(text[start:end], text, start):
                    continue
                out.append(_Candidate(priority, start, end, det.kind))
        return out

    @staticmethod
    def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
        """Non-overlapping selection: higher priority first, then leftmost, then longest."""
        chosen: list[_Candidate] = []
        for c in sorted(candidates, key=lambda c: (c.priority, c.start, -c.end)):
            if all(c.end <= o.start or o.end <= c.start for o in chosen):
                chosen.append(c)
        chosen.sort(key=lambda c: c.start)
        return chosen

    def findings(self, text: str) -> list[Finding]:
        """What :meth:`redact` would replace, in text order."""
        return [Finding(c.kind, c.start, c.end) for c in self._resolve(self._candidates(text))]

    # ---- replacement ----

    def _replacement(self, kind: Kind, value: str) -> str:
        if self.mode == "mask":
            return kind.placeholder
        if self.mode == "drop":
            return ""
        assert self._key is not None
        digest = hmac.new(self._key, f"{kind.value}:{_normalise(kind, value)}".encode(), hashlib.sha256)
        return f"[{kind.value.upper()}:{digest.hexdigest()[:_HASH_HEX_CHARS]}]"

    def _apply(self, text: str, findings: Iterable[Finding], lo: int, hi: int) -> str:
        """Redacted ``text[lo:hi]``; every finding lies within it."""
        parts: list[str] = []
        pos = lo
        for f in findings:
            parts.append(text[pos : f.start])
            parts.append(self._replacement(f.kind, text[f.start : f.end]))
            pos = f.end
        parts.append(text[pos:hi])
        return "".join(parts)

    def redact(self, text: str) -> RedactionResult:
        found = self.findings(text)
        return RedactionResult(self._apply(text, found, 0, len(text)), found)

    # ---- policy ----

    def check(self, text: str, action: Action = "redact") -> str:
        """The prompt policy: the redacted text, or :class:`PIIRejectedError` naming the kinds found.

        ``reject`` passes text without findings through unchanged.
        """
        result = self.redact(text)
        if action == "reject":
            if result.findings:
                raise PIIRejectedError(result.kinds)
            return text
        if action == "redact":
            return result.text
        raise ValueError(f"unknown policy action {action!r}; expected redact or reject")

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


# --------------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------------

# The held-back tail is the last (possibly incomplete) word, extended backwards over the digit
# groups (digits and "()+.-", with a digit) joined by single spaces that phone and card numbers are
# made of ("+1 415 555 2671", "4111 1111 1111 1111"). No detector's span contains any other
# whitespace, so no match can cross from the text before the tail into it: that text is final.
_ASCII_SPACE: Final = " \t\n\r\f\v"
_GROUP_SUFFIX: Final = re.compile(r"[()+.\-]{0,3}\d[0-9()+.\-]{0,31}\Z")


def _last_space(text: str, lo: int, hi: int) -> int:
    """Index of the last ASCII whitespace in ``text[lo:hi]``, or ``lo - 1``.

    Other whitespace (NBSP) only makes a word longer, which holds back more: still correct.
    """
    return max(lo - 1, *(text.rfind(c, lo, hi) for c in _ASCII_SPACE))


def _tail_start(text: str, lo: int) -> int:
    start = _last_space(text, lo, len(text)) + 1
    while start - 1 > lo and text[start - 1] == " ":
        word_start = _last_space(text, lo, start - 1) + 1
        group = _GROUP_SUFFIX.search(text, word_start, start - 1)
        if group is None:
            break
        start = group.start()
        if start != word_start:
            break
    return start


@dataclass(slots=True)
class StreamRedactor:
    """Redacts a stream chunk by chunk with the same result as redacting the whole text.

    :meth:`feed` returns the text that is safe to emit now; the rest (at most :data:`MAX_HOLD`
    characters, normally just the last word) waits for more input or :meth:`flush`.
    ``findings`` accumulates what was redacted, with offsets in the whole stream.
    """

    redactor: Redactor
    findings: list[Finding] = field(default_factory=list, init=False)
    _context: str = field(default="", init=False)  # raw, already emitted: look-behinds and labels
    _buffer: str = field(default="", init=False)  # raw, not yet emitted
    _offset: int = field(default=0, init=False)  # stream offset of _buffer[0]
    _closed: bool = field(default=False, init=False)

    def __repr__(self) -> str:
        return f"StreamRedactor({self.redactor!r}, held={len(self._buffer)}, emitted={self._offset})"

    @property
    def held(self) -> int:
        """Characters received but not yet emitted."""
        return len(self._buffer)

    def feed(self, chunk: str) -> str:
        if self._closed:
            raise RuntimeError("feed after flush")
        if not chunk:
            return ""
        self._buffer += chunk
        buf = self._buffer
        lo = max(0, len(buf) - _LONG_TAIL)
        cut = _tail_start(buf, lo)
        if lo > 0 and cut <= lo:  # a word longer than any match: release all but its end
            cut = len(buf) - _MAX_MATCH
        if cut <= 0:
            return ""
        return self._emit(cut, final=False)

    def flush(self) -> str:
        """Everything still held, redacted. The stream is finished afterwards."""
        if self._closed:
            return ""
        out = self._emit(len(self._buffer), final=True) if self._buffer else ""
        self._closed = True
        return out

    def _emit(self, cut: int, *, final: bool) -> str:
        window = self._context + self._buffer
        base = len(self._context)
        candidates = self.redactor._candidates(window, max(0, base - _RESCAN))
        if not final:
            # Never cut through a candidate: move the cut back to its start until none crosses.
            moved = True
            while moved:
                moved = False
                for c in candidates:
                    if c.start < base + cut < c.end:
                        cut = c.start - base
                        moved = True
            if cut <= 0:
                return ""
        limit = base + cut
        chosen = [
            Finding(c.kind, c.start, c.end)
            for c in self.redactor._resolve(candidates)
            if c.start >= base and c.end <= limit
        ]
        out = self.redactor._apply(window, chosen, base, limit)
        shift = self._offset - base
        self.findings.extend(Finding(f.kind, f.start + shift, f.end + shift) for f in chosen)
        emitted = self._buffer[:cut]
        self._buffer = self._buffer[cut:]
        self._offset += cut
        self._context = (self._context + emitted)[-_CONTEXT:]
        return out
