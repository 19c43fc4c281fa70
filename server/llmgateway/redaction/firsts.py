"""Which characters can start an attempt of each detector, and which end every attempt of it,
derived from its pattern (parsed with the standard library's own parser), so the stream redactor
can skip the partial search of a detector that nothing new could have opened or that a character
has closed (redaction/stream.py)."""

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


_Item = tuple[Any, Any, bool]  # an sre item (op, argument) and whether it ignores case


def _firsts(seq: Any, icase: bool) -> tuple[list[_Item], bool]:
    """The items that can read the first character of an attempt of ``seq``, and whether ``seq``
    can match without consuming one. Lookaheads read it too, so their firsts count; look-behinds
    read only earlier text. Scoped flags (``(?i:...)``) are followed, so ``AKIA`` does not start on
    "a". Anything not understood counts as every character (always safe: a larger set only
    searches more)."""
    out: list[_Item] = []
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            out.append((op, av, icase))
            return out, False
        if op is sre.AT:
            continue
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            if av[0] == 1:
                out += _firsts(av[1], icase)[0]
            continue
        if op is sre.SUBPATTERN:
            _, add_flags, del_flags, sub = av
            items, nullable = _firsts(sub, (icase or bool(add_flags & re.I)) and not del_flags & re.I)
        elif op is sre.ATOMIC_GROUP:
            items, nullable = _firsts(av, icase)
        elif op is sre.BRANCH:
            alts = [_firsts(alt, icase) for alt in av[1]]
            items = [i for a in alts for i in a[0]]
            nullable = any(a[1] for a in alts)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            items, nullable = _firsts(av[2], icase)
            nullable = nullable or av[0] == 0
        else:
            out.append((sre.ANY, None, icase))
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
    items, nullable = _firsts(sre_parse.parse(pattern.pattern, pattern.flags), bool(pattern.flags & re.I))
    cases = {ch, ch.lower(), ch.upper(), ch.swapcase()}
    return nullable or any(
        _reads(op, av, c) for op, av, icase in items for c in (cases if icase else {ch}) if len(c) == 1
    )


def _masks() -> tuple[int, ...]:
    return tuple(
        sum(1 << i for i, d in enumerate(DETECTORS) if _can_start(d.pattern, chr(code)))
        for code in range(128)
    )


# Per ASCII character, a bit per detector (by priority) whose attempt can start there; any other
# character may start any of them.
START_MASK: Final[tuple[int, ...]] = _masks()
ALL_DETECTORS: Final = (1 << len(DETECTORS)) - 1


def _alphabet(seq: Any, icase: bool) -> list[_Item]:
    """Every item of ``seq`` that can consume a character, look-aheads included (an attempt reads
    past a character only by matching it with one of these); look-behinds read only earlier text.
    A back-reference, or anything not understood, counts as every character."""
    out: list[_Item] = []
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            out.append((op, av, icase))
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            if av[0] == 1:
                out += _alphabet(av[1], icase)
        elif op is sre.SUBPATTERN:
            _, add_flags, del_flags, sub = av
            out += _alphabet(sub, (icase or bool(add_flags & re.I)) and not del_flags & re.I)
        elif op is sre.ATOMIC_GROUP:
            out += _alphabet(av, icase)
        elif op is sre.BRANCH:
            for alt in av[1]:
                out += _alphabet(alt, icase)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            out += _alphabet(av[2], icase)
        elif op is not sre.AT:
            out.append((sre.ANY, None, icase))
    return out


def _ends(pattern: re.Pattern[str], ch: str) -> bool:
    """Whether no attempt of ``pattern`` can read past ``ch``: no item of it can consume ``ch``."""
    items = _alphabet(sre_parse.parse(pattern.pattern, pattern.flags), bool(pattern.flags & re.I))
    cases = {ch, ch.lower(), ch.upper(), ch.swapcase()}
    return not any(
        _reads(op, av, c) for op, av, icase in items for c in (cases if icase else {ch}) if len(c) == 1
    )


# Per ASCII character, a bit per detector whose attempts all end at it: an attempt that reached it
# can read no further (" " ends every e-mail, JWT and IPv6 attempt, not a phone's). Any other
# character ends none.
END_MASK: Final[tuple[int, ...]] = tuple(
    sum(1 << i for i, d in enumerate(DETECTORS) if _ends(d.pattern, chr(code))) for code in range(128)
)


def _value_is_match(pattern: re.Pattern[str]) -> bool:
    """Whether the value a match reports (group "v") is always the whole match: nothing outside
    the group consumes a character, only look-arounds do (a labelled value's label does)."""
    group = pattern.groupindex.get("v")
    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    return group is None or all(
        (op is sre.SUBPATTERN and av[0] == group)
        or sre_parse.SubPattern(parsed.state, [(op, av)]).getwidth() == (0, 0)
        for op, av in parsed
    )


# A bit per detector (by priority) whose value is its whole match: a value that starts in some
# text has its whole match there, and so its prefilter (the stream's scan skips such a detector
# when its prefilter is not in the text not yet emitted; redaction/redactor.py).
VALUE_IS_MATCH: Final = sum(1 << i for i, d in enumerate(DETECTORS) if _value_is_match(d.pattern))


_STARTS: Final[tuple[tuple[int, ...], ...]] = tuple(
    tuple(p for p in range(len(DETECTORS)) if mask >> p & 1) for mask in START_MASK
)
_EVERY: Final = tuple(range(len(DETECTORS)))


def chunk_bounds(chunk: str, at: int, open_before: int) -> tuple[dict[int, int], int]:
    """Where, per detector, an attempt that reads the end of the text can start, as far as
    ``chunk`` (the text from offset ``at`` to the end) tells: the first character that can start
    one after the last character that ends them all (absent: none in ``chunk``), and the mask of
    detectors that such a character closed (their attempts before ``chunk``, open in
    ``open_before``, are closed)."""
    first: dict[int, int] = {}
    closed = 0
    for i, c in enumerate(chunk):
        o = ord(c)
        if o < 128:
            ends, starts = END_MASK[o], _STARTS[o]
            if ends:
                closed |= ends & open_before
                if first:
                    first = {p: v for p, v in first.items() if not ends >> p & 1}
        else:
            starts = _EVERY
        for p in starts:
            if p not in first:
                first[p] = at + i
    return first, closed
