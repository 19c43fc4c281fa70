"""The detectors: a regular expression per kind of sensitive value, each with a validator (Luhn and
IBAN checks from python-stdnum, issuer prefixes, octet ranges, ipaddress, JWT header decoding) or,
for phone numbers, a judge of the candidate (phonenumbers, redaction/phones.py) that turns a
look-alike away. Their
order is their priority; every quantifier is bounded so a match has a known longest length
(redaction/redactor.py MAX_MATCH). docs/redaction.md says what each matches and what it does not."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from stdnum import iban, luhn
from stdnum.exceptions import ValidationError

from llmgateway.redaction.kinds import Kind
from llmgateway.redaction.phones import RUN, phone_spans


def _card_issuer_ok(digits: str) -> bool:
    """Known issuer prefix (IIN) with a length that issuer uses.

    Hand-written: no well-kept Python library carries the networks' IIN table (python-stdnum has
    Luhn, not issuers). The ranges are the networks' published ones, including the older JCB
    15-digit prefixes 1800/2131 and Maestro's 50/56-58 ranges with 12-digit numbers.
    """
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard (the 2-series since 2017)
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if 2200 <= p4 <= 2204:  # Mir
        return n == 16
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if p2 == 35:  # JCB: 3528-3589 are issued; the rest of 35 is JCB's too
        return 16 <= n <= 19
    if p4 in (1800, 2131):  # JCB, 15-digit numbers
        return n == 15
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p2 == 50 or 56 <= p2 <= 58 or p4 in (6304, 6390, 6759, 6761, 6762, 6763) or p4 == 604:
        return 12 <= n <= 19  # Maestro (0604: Faker's and some BIN lists' Maestro prefix)
    return False


def only_digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _valid_card(value: str, text: str, start: int) -> bool:
    digits = only_digits(value)
    return 12 <= len(digits) <= 19 and _card_issuer_ok(digits) and luhn.is_valid(digits)


def _valid_iban(value: str, text: str, start: int) -> bool:
    # ISO 13616: the country's length and format, and the ISO 7064 mod 97 check digits. The
    # national account checks (check_country) are left out: a real IBAN passes them anyway, and
    # they are stricter than what a bank's own IBAN must satisfy for some countries.
    try:
        iban.validate(value, check_country=False)
    except ValidationError:
        return False
    return True


# Hand-written: an address and a four-part version number are the same text ("firmware
# 11.17.43.224"); only the word before tells them apart, and no library judges that.
_VERSION_BEFORE: Final = re.compile(
    r"(?i)(?:\bversion|\bver|\bv|\brelease|\bbuild|\bfirmware|\bfw|\bkernel|\brev(?:ision)?)[ \t:.]*\Z"
)


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
    # Hand-written (email-validator and the like check deliverability and RFC syntax, not "is this
    # an address in running text"): icon@2x.png is an image, not an address.
    return value.rsplit(".", 1)[1].lower() not in _NOT_TLDS


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
# (text, start, end of the pattern's value, phone regions) -> the spans to report inside it
_Spans = Callable[[str, int, int, tuple[str, ...]], Iterable[tuple[int, int]]]


def _needs(pattern: str) -> re.Pattern[str]:
    """A prefilter: a cheap pattern that every match of the detector contains. Flags only scoped
    (``(?i:…)``): the stream redactor joins them all into one pattern (redaction/stream.py)."""
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class Detector:
    kind: Kind
    pattern: re.Pattern[str]  # group "v" (when present) is the span to redact
    validate: _Validator | None = None
    # A cheap necessary condition searched before the detector's own, slower pattern.
    prefilter: re.Pattern[str] | None = None
    # When set, the pattern proposes a candidate and this reports what inside it is a value
    # (phone numbers: judged by phonenumbers for the key's regions); `validate` is then unused.
    spans: _Spans | None = None


# Every quantifier is bounded so that a match never exceeds MAX_MATCH characters: the stream
# redactor relies on it to bound its hold-back.
_LABEL_SEP: Final = r"""["']?[ \t]{0,8}[:=][ \t]{0,8}["']?"""

# Order is priority: when candidates overlap, the earlier detector wins (a JWT after "Bearer" is a
# JWT, an sk- key labelled api_key is a provider key, digits inside a card are not a phone).
DETECTORS: Final[tuple[Detector, ...]] = (
    Detector(
        Kind.JWT,
        re.compile(
            r"(?<![\w.-])(?P<v>e[wy][A-Za-z0-9_-]{8,510}\.[A-Za-z0-9_-]{2,3000}\.[A-Za-z0-9_-]{0,700})"
            r"(?![\w-]|\.[\w-])"
        ),
        _valid_jwt,
        _needs(r"e[wy][A-Za-z0-9_-]{8,510}\."),
    ),
    Detector(
        Kind.AWS_SECRET_ACCESS_KEY,
        re.compile(
            r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)"
            + _LABEL_SEP
            + r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        _valid_aws_secret,
        _needs("(?i:secret)"),
    ),
    Detector(
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
    Detector(
        Kind.AWS_ACCESS_KEY_ID,
        re.compile(r"(?<![A-Za-z0-9])(?P<v>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"),
        prefilter=_needs("AKIA|ASIA"),
    ),
    Detector(
        Kind.API_KEY,
        re.compile(
            # The label may carry a prefix ("TOGETHER_API_KEY", "openai-api-key"): the match starts
            # at the label's own word, after any non-alphanumeric, so an attempt (and the stream's
            # hold-back) starts there, not at every word.
            r"(?i:(?<![A-Za-z0-9])"
            r"(?:api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret))"
            + _LABEL_SEP
            + r"(?P<v>[A-Za-z0-9_\-./+]{19,511}[A-Za-z0-9_\-/+])(?![A-Za-z0-9_\-/+=]|\.[A-Za-z0-9_\-/+])"
        ),
        _valid_token,
        _needs("(?i:key|token|secret)"),
    ),
    Detector(
        Kind.BEARER_TOKEN,
        re.compile(
            r"(?i:(?<![A-Za-z0-9])bearer)[ \t]{1,8}"
            r"(?P<v>[A-Za-z0-9\-._~+/]{0,2047}[A-Za-z0-9\-_~+/]={0,2})"
            r"(?![A-Za-z0-9\-_~+/=]|\.[A-Za-z0-9\-_~+/])"
        ),
        _valid_token,
        _needs("(?i:bearer)"),
    ),
    Detector(
        Kind.IBAN,
        re.compile(
            r"(?<![\w-])(?P<v>[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?))"
            r"(?![\w-])"
        ),
        _valid_iban,
        _needs(r"[A-Z]{2}\d{2}"),
    ),
    Detector(
        Kind.CREDIT_CARD,
        re.compile(
            r"(?<![\w.-])(?<!\d[ -])(?P<v>"
            r"\d{4}(?P<s>[ -])\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,4}){0,2}"
            r"|\d{4}(?P<t>[ -])\d{6}(?P=t)\d{4,5}"
            r"|\d{12,19}"
            r")(?![\w-]|[ -]\d|\.\d)"
        ),
        _valid_card,
        _needs(r"\d"),
    ),
    Detector(
        Kind.SSN,
        re.compile(r"(?<![\w.-])(?P<v>(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\w-]|\.\d)"),
        prefilter=_needs(r"\d-\d"),
    ),
    Detector(
        Kind.EMAIL,
        re.compile(
            # "@" or its URL encoding "%40" (userEmail=jane%40example.com). Not after "/" (a URL's
            # user, ssh://git@host/), not before ":path" (an scp-style remote, git@github.com:org/x).
            r"(?<![\w.%+/-])(?P<v>[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"
            r"(?:@|%40)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24})"
            r"(?![\w-]|\.[A-Za-z0-9]|:[\w~/.])"
        ),
        _valid_email,
        _needs("@|%40"),
    ),
    Detector(
        Kind.IPV6,
        re.compile(
            # after a glued label ("ip:2001:db8::1") when the label ends in a letter that is no hex digit
            r"(?:(?<![\w:.])|(?<=[G-Zg-z]:))(?P<v>(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"
            r"[0-9A-Fa-f:]{2,39}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)"
            r"(?![\w:]|\.\d)"
        ),
        _valid_ipv6,
        _needs(":[0-9A-Fa-f]{0,4}:"),
    ),
    Detector(
        Kind.IPV4,
        re.compile(r"(?:(?<![\w.:-])|(?<=[A-Za-z]:))(?P<v>(?:\d{1,3}\.){3}\d{1,3})(?![\w-]|\.\d)"),
        _valid_ipv4,
        _needs(r"\d\.\d{1,3}\.\d{1,3}\.\d"),
    ),
    # Phone numbers: a run of digit groups, judged by phonenumbers (redaction/phones.py)
    Detector(Kind.PHONE, RUN, prefilter=_needs(r"\d"), spans=phone_spans),
)

ALL_KINDS: Final[frozenset[Kind]] = frozenset(Kind)
