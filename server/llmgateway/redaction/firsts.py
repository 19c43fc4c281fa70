"""What the stream redactor knows of each detector without running it, derived from its pattern:
which characters can start an attempt, which end every attempt (parsed with the standard
library's own parser), and which two characters can begin an attempt that more text could still
extend (probed with the detector's own partial pattern), so the stream redactor can skip the
partial search of a detector that nothing new could have opened or that a character has closed
(redaction/stream.py)."""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, Final

import regex

from llmgateway.redaction.detectors import DETECTORS, Detector

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
    hit = negate = False
    for iop, iav in av:  # IN
        if iop is sre.NEGATE:
            # A negated class ("[^\W\d_x]", the letters a phone's look-ahead refuses) reads the
            # characters its items do not: so punctuation and line breaks end a phone attempt.
            negate = True
        elif iop is sre.LITERAL:
            hit = hit or ord(ch) == iav
        elif iop is sre.RANGE:
            hit = hit or iav[0] <= ord(ch) <= iav[1]
        elif iop is sre.CATEGORY:
            hit = hit or _CATEGORIES[iav].match(ch) is not None
        else:
            return True
    return hit != negate


def _reads_any(items: list[_Item], ch: str) -> bool:
    """Whether one of ``items`` can read ``ch`` (in any case, for an item that ignores case)."""
    cases = {ch, ch.lower(), ch.upper(), ch.swapcase()}
    return any(
        _reads(op, av, c) for op, av, icase in items for c in (cases if icase else {ch}) if len(c) == 1
    )


def _parsed(pattern: re.Pattern[str]) -> Any:
    return sre_parse.parse(pattern.pattern, pattern.flags)


def _start_mask(pattern: re.Pattern[str]) -> list[bool]:
    """Per ASCII code, whether an attempt of ``pattern`` can start with it (parsed once)."""
    items, nullable = _firsts(_parsed(pattern), bool(pattern.flags & re.I))
    return [nullable or _reads_any(items, chr(code)) for code in range(128)]


def _masks() -> tuple[int, ...]:
    starts = [_start_mask(d.pattern) for d in DETECTORS]
    return tuple(sum(1 << i for i, s in enumerate(starts) if s[code]) for code in range(128))


# Per ASCII character, a bit per detector (by priority) whose attempt can start there; any other
# character may start any of them.
START_MASK: Final[tuple[int, ...]] = _masks()
ALL_DETECTORS: Final = (1 << len(DETECTORS)) - 1


def _alphabet(seq: Any, icase: bool) -> list[_Item]:
    """Every item of ``seq`` that can consume a character, look-aheads included (an attempt reads
    past a character only by matching it with one of these); look-behinds read only earlier text.
    A back-reference reads what its group read, already counted (unless it ignores case); anything
    not understood counts as every character."""
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
        elif op is sre.GROUPREF and not icase:
            continue  # the card's "(?P=s)": the same separator again
        elif op is not sre.AT:
            out.append((sre.ANY, None, icase))
    return out


def _end_mask(pattern: re.Pattern[str]) -> list[bool]:
    """Per ASCII code, whether no attempt of ``pattern`` can read past it: no item of it can
    consume it."""
    items = _alphabet(_parsed(pattern), bool(pattern.flags & re.I))
    return [not _reads_any(items, chr(code)) for code in range(128)]


def _end_masks() -> tuple[int, ...]:
    ends = [_end_mask(d.pattern) for d in DETECTORS]
    return tuple(sum(1 << i for i, e in enumerate(ends) if e[code]) for code in range(128))


# Per ASCII character, a bit per detector whose attempts all end at it: an attempt that reached it
# can read no further (" " ends every e-mail, JWT and IPv6 attempt, not a phone's; a comma or a
# line break ends a phone's too). Any other character ends none.
END_MASK: Final[tuple[int, ...]] = _end_masks()


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


def chunk_bounds(chunk: str, at: int) -> tuple[list[tuple[int, int]], int]:
    """Where an attempt that reads the end of the text can start, as far as ``chunk`` (the text
    from offset ``at`` to the end) tells: per detector, the first character that can start one
    after the last character that ends them all, as (offset, bits of the detectors) in text order;
    and the bits of the detectors that some character of ``chunk`` ends (their attempts before it
    are closed). Bits, not a set per detector: this runs on every token."""
    starts: list[tuple[int, int]] = []
    pending = ended = 0  # pending: the detectors with an entry in starts
    for i, c in enumerate(chunk):
        o = ord(c)
        if o < 128:
            ends = END_MASK[o]
            if ends:
                ended |= ends
                if pending & ends:
                    pending &= ~ends
                    starts = [(x, m & ~ends) for x, m in starts if m & ~ends]
            new = START_MASK[o] & ~pending
        else:
            new = ALL_DETECTORS & ~pending
        if new:
            starts.append((at + i, new))
            pending |= new
    return starts, ended


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{ord(c):02x}" for c in chars) + "]"


# Per detector, a class of the characters that end every attempt of it (END_MASK), for a search.
END_CLASS: Final[tuple[re.Pattern[str] | None, ...]] = tuple(
    re.compile(_char_class(ends)) if (ends := [chr(o) for o in range(128) if END_MASK[o] >> p & 1]) else None
    for p in range(len(DETECTORS))
)


def open_pattern(detector: Detector) -> regex.Pattern[str]:
    """The detector's pattern followed by "(?!)": it never matches, so the `regex` package's partial
    search returns the leftmost attempt that ran into the end of the text (redaction/stream.py)."""
    # A label ("Bearer ", "api_key = ") is held with its value: the whole pattern is used, since
    # turning the label into a look-behind makes `regex` report partial attempts unreliably.
    return regex.compile(f"(?:{detector.pattern.pattern})(?!)")


# Indexed like DETECTORS (the redactor's priorities).
OPEN: Final[tuple[regex.Pattern[str], ...]] = tuple(open_pattern(d) for d in DETECTORS)


def _opening(priority: int) -> re.Pattern[str]:
    """Where an attempt of the detector that more text could still extend can start: at a pair of
    ASCII characters that its partial pattern (OPEN) does not refuse, at a character that can start
    it (START_MASK) as the last of the text, or at any non-ASCII character (not probed).

    Probed after a space: every detector's look-behinds accept one, and what follows them reads
    only the attempt's own characters, so an attempt that fails or completes within its first two
    characters after a space does so after any text. A test checks other contexts.
    """
    pattern = OPEN[priority]
    firsts: dict[tuple[str, ...], list[str]] = {}  # the second characters -> the first ones
    lasts = []
    for a in range(128):
        if not START_MASK[a] >> priority & 1:
            continue
        first = chr(a)
        lasts.append(first)
        seconds = tuple(
            chr(b) for b in range(128) if pattern.match(" " + first + chr(b), 1, partial=True) is not None
        )
        if seconds:
            firsts.setdefault(seconds, []).append(first)
    alternatives = [f"{_char_class(f)}(?:{_char_class(list(s))}|[^\\x00-\\x7f])" for s, f in firsts.items()]
    if lasts:
        alternatives.append(f"{_char_class(lasts)}\\Z")
    alternatives.append("[^\\x00-\\x7f]")
    return re.compile("|".join(alternatives))


# Indexed like DETECTORS: searched from a detector's bound, the first position where an attempt
# of it could still be open, far cheaper than its partial search (which then starts there). Most
# attempts that a first character allows die on the second ("se" may be "secret_key", "st" no
# label): about 50 ms of probing at import.
OPENING: Final[tuple[re.Pattern[str], ...]] = tuple(_opening(p) for p in range(len(DETECTORS)))
