"""Which characters can start an attempt of each detector, derived from its pattern (parsed with
the standard library's own parser), so the stream redactor can skip the partial search of a
detector that nothing new could have opened (redaction/stream.py)."""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, Final

from llmgateway.redaction.detectors import DETECTORS

_CATEGORIES: Final = {
    sre.CATEGORY_DIGIT: re.compile(r"\d"),
    sre.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre.CATEGORY_SPACE: re.compile(r"\s"),
    sre.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre.CATEGORY_WORD: re.compile(r"\w"),
    sre.CATEGORY_NOT_WORD: re.compile(r"\W"),
}
_ANY: Final = (sre.ANY, None)  # an item that stands for every character


def _firsts(seq: Any) -> tuple[list[tuple[Any, Any]], bool]:
    """The items that can read the first character of an attempt of ``seq``, and whether ``seq``
    can match without consuming one. Lookaheads read it too, so their firsts count; look-behinds
    read only earlier text. Anything not understood counts as every character (always safe: a
    larger set only searches more)."""
    out: list[tuple[Any, Any]] = []
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            out.append((op, av))
            return out, False
        if op is sre.AT:
            continue
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            if av[0] == 1:
                out += _firsts(av[1])[0]
            continue
        if op is sre.SUBPATTERN:
            items, nullable = _firsts(av[3])
        elif op is sre.ATOMIC_GROUP:
            items, nullable = _firsts(av)
        elif op is sre.BRANCH:
            alts = [_firsts(alt) for alt in av[1]]
            items = [i for a in alts for i in a[0]]
            nullable = any(a[1] for a in alts)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            items, nullable = _firsts(av[2])
            nullable = nullable or av[0] == 0
        else:
            out.append(_ANY)
            return out, False
        out += items
        if not nullable:
            return out, False
    return out, True


def _reads(op: Any, av: Any, ch: str) -> bool:
    if op is sre.ANY or op is sre.NOT_LITERAL:
        return True
    if op is sre.LITERAL:
        return bool(ord(ch) == av)
    hit = False
    for iop, iav in av:  # IN
        if iop is sre.NEGATE:
            return True  # a negated class: every character, to stay simple and safe
        if iop is sre.LITERAL:
            hit = hit or ord(ch) == iav
        elif iop is sre.RANGE:
            hit = hit or iav[0] <= ord(ch) <= iav[1]
        elif iop is sre.CATEGORY:
            hit = hit or _CATEGORIES[iav].match(ch) is not None
        else:
            return True
    return hit


def _can_start(pattern: re.Pattern[str], ch: str) -> bool:
    items, nullable = _firsts(sre_parse.parse(pattern.pattern, pattern.flags))
    # Either case: (?i:...) groups are not tracked, and a larger set is always safe.
    variants = {ch, ch.lower(), ch.upper(), ch.swapcase()}
    return nullable or any(_reads(op, av, c) for op, av in items for c in variants if len(c) == 1)


def _masks() -> tuple[int, ...]:
    return tuple(
        sum(1 << i for i, d in enumerate(DETECTORS) if _can_start(d.pattern, chr(code)))
        for code in range(128)
    )


# Per ASCII character, a bit per detector (by priority) whose attempt can start there; any other
# character may start any of them.
START_MASK: Final[tuple[int, ...]] = _masks()
ALL_DETECTORS: Final = (1 << len(DETECTORS)) - 1


def start_mask(chunk: str) -> list[int]:
    """Per character of ``chunk``, the START_MASK bits."""
    return [START_MASK[o] if (o := ord(c)) < 128 else ALL_DETECTORS for c in chunk]
