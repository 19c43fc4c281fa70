"""Phone numbers: a permissive candidate pattern (a run of digit groups and the separators numbers
are written with) that the stream hold-back can partially match, and the numbers inside a complete
run, found and validated by `phonenumbers` (the Python port of Google's libphonenumber) for the
regions a key's policy names.

Why a pattern of our own in front of the library: `phonenumbers.PhoneNumberMatcher` scans whole
texts and cannot say whether a text cut mid-stream could still grow into a number; the stream
redactor needs a regular expression for that (redaction/stream.py). The run pattern only proposes;
every number reported is one `phonenumbers` parsed and judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

import phonenumbers

# The regions tried for numbers written without a country code: those of the six locales of the
# measured corpus (docs/redaction.md), the US among them. A key's policy may name others
# (config: pii.phone_regions).
DEFAULT_REGIONS: Final[tuple[str, ...]] = ("US", "GB", "DE", "FR", "ES", "IT")
SUPPORTED_REGIONS: Final[frozenset[str]] = frozenset(phonenumbers.SUPPORTED_REGIONS)

# Between two digit groups: one space, dot, dash or slash, or a parenthesis with an optional one
# ("+44(0)115", "(08171) 94088", "(0131)4960355").
_SEP: Final = r"(?:[ .\-/]|\)[ .\-/]?|[ .\-/]?\()"

# A run: optional "+", "(" or "(+", up to 8 digit groups, an optional closing parenthesis. Atomic,
# so a run is always the longest one (a shorter prefix is never tried: what the library judges does
# not depend on where a scan started). Not glued to a word, an id ("#123"), an e-mail, a path or a
# dotted/dashed number before it; a letter after it ends it only as an extension ("2917x482").
RUN: Final = re.compile(
    r"(?:(?<![\w+#@%.\-/(])|(?<=\()(?=\())"
    r"(?P<v>(?>(?:\+|\(\+?)?\d{1,15}(?:" + _SEP + r"\d{1,15}){0,7}\)?))"
    r"(?![^\W\d_x]|\d|_|x(?![ ]?\d)|[.\-/]\d)"
)

_GROUP: Final = re.compile(r"\d+")
_FOURS: Final = re.compile(r"(?<!\d)\d{4}(?: \d{4}){3}(?!\d)")
_MIN_DIGITS, _MAX_DIGITS = 6, 17  # a short national number .. "00" + the 15 digits E.164 allows
# Layouts that are something else, whatever the digits: a US SSN (which has its own detector and
# range rules: "016-60-0000" is no phone), dotted quads (addresses, versions), amounts
# ("52483.34"), and numbers ending in a one-digit group (ISBN check digits: "0-306-40615-2").
# Hand-written: phonenumbers judges digits, not what else a layout says the digits are.
_NOT_A_PHONE: Final = re.compile(
    r"\d{3}-\d{2}-\d{4}|\d{1,3}(?:\.\d{1,3}){3}|\d+[.,]\d{1,2}|.*\D\d"
    r"|\d{5}-\d{4}"  # a US ZIP+4 code
    r"|[1-9]\d{0,2}(?P<t>[ .])\d{3}(?:(?P=t)\d{3})*"  # a number with thousands separators: 8 336 817
)
# Dates anywhere in a run, as whole groups ("15.01.2024 12:30" is a date and an hour; "+81-3-1234"
# is no date).
_DATE: Final = re.compile(
    r"(?<![\d.\-/])(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(?![\d]|[-./]\d)"
)
# A national number whose digits are possible (right length) but not valid (an unassigned range, a
# drama number such as 0115 496 0xxx) is still reported when it is written as a phone number: an
# area code in parentheses, a trunk "0" with separators, or the North American 3-3-4 layout.
_PHONE_LAYOUT: Final = re.compile(r".*\(\d{1,5}\)[ .\-/]?\d|0\d{1,4}[ .\-/]|[2-9]\d{2}([ .\-])\d{3}\1\d{4}$")


@lru_cache(maxsize=512)
def _trunk_prefix(region: str) -> str:
    """The region's national (trunk) prefix when a national number must be written with it: "0"
    in GB, DE, FR; none in IT and ES (their leading 0 is part of the number), and none for the
    NANP, whose "1" is optional. libphonenumber parses "1234567890" as a valid French number
    without its 0, which no one in France writes: such a reading is not taken."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = metadata.national_prefix if metadata is not None else None
    return prefix if prefix and metadata is not None and metadata.country_code != 1 else ""


def _international(value: str) -> bool:
    digits = value.lstrip("(")
    return digits.startswith(("+", "00", "011"))


@lru_cache(maxsize=4096)
def is_phone(value: str, regions: tuple[str, ...]) -> bool:
    """Whether ``value`` (digits and separators) is a phone number in one of ``regions``.

    With "+" and a country code it must have 7-15 digits (the "+" says it is a phone number, even
    where libphonenumber does not know the range: "+49 (0) 0059 844497"); with an international
    call prefix ("0044", "011 44") it must be a possible number of that country; without, a valid
    number of a region, or a possible one written in a phone layout. Cached: the stream redactor
    judges the same run again as its window moves.
    """
    if _NOT_A_PHONE.fullmatch(value) or _DATE.search(value):
        return False
    international = _international(value)
    layout = international or _PHONE_LAYOUT.match(value) is not None
    digits = value.lstrip("(")
    if digits.startswith("+"):
        try:
            phonenumbers.parse(value, None)  # a known country code
        except phonenumbers.NumberParseException:
            return False
        return 7 <= sum(ch.isdigit() for ch in value) <= 15
    for region in regions:
        if not international and not digits.startswith(_trunk_prefix(region)):
            continue
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if number.number_of_leading_zeros is not None and number.number_of_leading_zeros > 1:
            continue  # "0000 1111 2222": zeros, not a trunk or an Italian leading zero
        if phonenumbers.is_valid_number(number) or (layout and phonenumbers.is_possible_number(number)):
            return True
    return False


def phone_spans(text: str, start: int, end: int, regions: tuple[str, ...]) -> Iterable[tuple[int, int]]:
    """The phone numbers in the run ``text[start:end]``: the longest valid one from the leftmost
    group, then on after it. A run may hold a number with something before or after it, joined by
    a space ("room 12 0171 1234567"), so its sub-runs between spaces are tried too (as
    PhoneNumberMatcher tries inner matches); never a part of a dashed or dotted group
    ("016-60-0000")."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, start, end)]
    if sum(e - s for s, e in groups) > _MAX_DIGITS + 4 or _FOURS.search(text, start, end):
        # a longer run of digit groups, or four groups of four, is an account, card or tracking
        # number (or an IBAN whose check failed), not phones in a row
        return
    # where a sub-run may start / end: the run's ends and the groups beside a space
    opens = [k == 0 or text[groups[k][0] - 1] == " " for k in range(len(groups))]
    closes = [k == len(groups) - 1 or text[groups[k][1]] == " " for k in range(len(groups))]
    i = 0
    while i < len(groups):
        found = None
        for j in range(len(groups) - 1, i - 1, -1):
            if not (opens[i] and closes[j]):
                continue
            lo, hi = groups[i][0], groups[j][1]
            digits = sum(e - s for s, e in groups[i : j + 1])
            if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
                continue
            if lo > start and text[lo - 1] == "+":
                lo -= 1
            if lo > start and text[lo - 1] == "(" and text.count("(", lo, hi) < text.count(")", lo, hi):
                lo -= 1  # "(0131)4960355": an area code's parenthesis; "(0191 498 0629)" wraps it
            if text.count("(", lo, hi) != text.count(")", lo, hi):
                continue  # "336 817 (2022": a parenthesis opened and never closed
            if is_phone(text[lo:hi], regions):
                found = (lo, hi, j)
                break
        if found is None:
            i += 1
            continue
        yield found[0], found[1]
        i = found[2] + 1
