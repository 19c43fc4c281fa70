"""Redaction of streamed text, across chunk boundaries, with exactly the output of redacting the
whole text at once, holding back only the text that could still become part of a match."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from llmgateway.redaction.detectors import DETECTORS
from llmgateway.redaction.firsts import END_CLASS, OPEN, OPENING, chunk_bounds
from llmgateway.redaction.kinds import Finding, Kind
from llmgateway.redaction.redactor import CONTEXT, MAX_MATCH, RESCAN, Redactor

# The hold-back is derived from the detectors themselves, not from a character class of its own (a
# class that forgot "/" once let "030/1234 5678" out unredacted, issue 24). For every detector, the
# same pattern followed by "(?!)" can never match (redaction/firsts.py OPEN), so the `regex`
# package's partial search returns the leftmost attempt whose pattern (look-aheads included) ran
# into the end of the text: exactly the attempts that more text could still change. An attempt
# that fails or completes without reading the end is final whatever follows (look-behinds read
# only the text before), so the text before the earliest such attempt is final, apart from
# complete matches that cross it, which StreamRedactor._emit backs off from. Every quantifier of a
# detector is bounded (MAX_MATCH), so an attempt that starts more than MAX_MATCH characters before
# the end cannot reach it: the hold is bounded (MAX_HOLD).

# The longest look-behind of any detector (a test checks it). A partial search is given only the
# text from this many characters before where it starts: `regex`'s partial search costs time in
# proportion to the whole string it is given, not only to what it reads.
LOOKBEHIND: Final = 8


@lru_cache(maxsize=64)
def _trigger_pattern(priorities: tuple[int, ...]) -> re.Pattern[str]:
    """Any of the detectors' prefilters: every match of a detector contains its prefilter, so text
    in which none occurs holds no value (the stream's fast path)."""
    parts = []
    for p in priorities:
        prefilter = DETECTORS[p].prefilter
        if prefilter is None:
            return re.compile(r"(?s:.)")  # a detector without one: any text may hold a value
        parts.append(f"(?:{prefilter.pattern})")
    return re.compile("|".join(parts))


_EMAIL_LOCAL_MAX: Final = 60  # shorter than an e-mail's local part (64)
_NOT_BEFORE_EMAIL: Final = frozenset("_.%+/-")  # the e-mail pattern's look-behind, with \\w


def _open_start(
    redactor: Redactor, text: str, open_at: dict[int, int], shift: int, seen: int
) -> tuple[int, int, dict[int, int]]:
    """The earliest position of ``text`` where an attempt of one of ``redactor``'s detectors reads
    the end of ``text`` (``len(text)`` when none does), that detector's priority (-1 when none),
    and the new ``open_at``.

    ``open_at[priority]`` is a position (in stream offsets: ``text[i]`` is stream offset
    ``i + shift``) before which no attempt of that detector can read the end: every attempt before
    it read no end then and reads none now that text was only appended. A detector without an
    entry had no attempt open before ``seen``, the stream offset where the text appended since the
    last call begins.

    Each detector's open attempt starts at or after a lower bound: ``open_at``, unless a new
    character ended all its attempts, or the first new character that can start one (after the
    last such ending character; redaction/firsts.py). Only detectors whose bound lies before the
    earliest open attempt found so far are searched, lowest bound first: the others cannot change
    the result, and their bound stays valid. A search first looks for the next place where two
    characters can begin an open attempt (firsts.OPENING, a plain `re` search), and only from
    there runs the partial search. So a token usually costs no partial search or one, not one per
    detector. One search per detector: an alternation of them all is far slower (`regex` then
    tries every alternative at every position of a partial search).
    """
    n = len(text)
    floor = max(0, n - MAX_MATCH)
    fresh = seen - shift
    starts, ended = chunk_bounds(text[fresh:], fresh)
    bounds: list[tuple[int, int]] = []
    kept = 0  # the detectors whose bound in open_at holds: no new character ended their attempts
    for p, at in open_at.items():
        if not ended >> p & 1:
            bounds.append((at - shift, p))
            kept |= 1 << p
    wanted = redactor._mask & ~kept
    for at, started in starts:
        bits = started & wanted
        while bits:
            low = bits & -bits
            bounds.append((at, low.bit_length() - 1))
            bits ^= low
    bounds.sort()
    start, opener = n, -1
    now: dict[int, int] = {}
    for bound, priority in bounds:
        lo = max(bound, floor)
        if lo < start:
            opening = OPENING[priority].search(text, lo)
            if opening is None:
                continue  # no attempt of it can be open: no bound (nor a search) until one can
            lo = opening.start()
        if lo >= start:
            now[priority] = lo + shift  # not searched: still a bound
            continue
        cut = max(0, lo - LOOKBEHIND)
        m = OPEN[priority].search(text[cut:], lo - cut, partial=True)
        # An attempt that starts at the very end reads the end at once: `regex` reports it when no
        # earlier attempt is open. It means none is, and the detector needs no bound (nor a search
        # on every later token) until a character that can start it arrives.
        if m is not None and (found := m.start() + cut) < n:
            now[priority] = found + shift
            if found < start:
                start, opener = found, priority
    return start, opener, now


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
    # per detector (by priority) that may have an open attempt, the stream offset it is at or after
    _open_at: dict[int, int] = field(default_factory=dict, init=False)
    _seen: int = field(default=0, init=False)  # stream offset up to which _open_at was computed
    # the earliest open attempt: its detector's priority (-1 when none) and its stream offset
    _opener: int = field(default=-1, init=False)
    _opener_at: int = field(default=0, init=False)
    # stream offset of the earliest open attempt when it is a word that an e-mail attempt keeps
    # open while letters and digits are appended (-1 when not): see feed's fast path
    _open_word: int = field(default=-1, init=False)
    _email: bool = field(init=False)
    _trigger: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self._email = Kind.EMAIL in self.redactor.kinds
        self._trigger = _trigger_pattern(tuple(p for p, _ in self.redactor._detectors))

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
        if (
            self._open_word >= 0
            and chunk.isascii()
            and chunk.isalnum()
            and self._offset + len(self._buffer) - self._open_word <= _EMAIL_LOCAL_MAX
        ):
            # Fast path: the earliest open attempt is a word of letters and digits that an e-mail
            # attempt keeps open (its local part), and the chunk only makes the word longer: every
            # attempt before it is still final, the word is still open, so nothing more is final.
            # (_seen stays: the next full search accounts for these characters.)
            return ""
        base = len(self._context)
        window = self._context + self._buffer
        shift = self._offset - base
        if (
            self._opener >= 0
            and (at := self._opener_at - shift) >= len(window) - MAX_MATCH
            and ((ends := END_CLASS[self._opener]) is None or ends.search(chunk) is None)
        ):
            # Fast path: the earliest open attempt, if it still reads the end, still is the
            # earliest (every attempt before it is final) and nothing more is final: one partial
            # match at its start instead of the search. Most tokens inside a value take it.
            cut = max(0, at - LOOKBEHIND)
            if OPEN[self._opener].match(window[cut:], at - cut, partial=True) is not None:
                return ""
        start, self._opener, self._open_at = _open_start(
            self.redactor, window, self._open_at, shift, self._seen
        )
        self._opener_at = start + shift
        self._seen = len(window) + shift
        self._open_word = start + shift if self._word_is_open(window, start) else -1
        cut = start - base
        if cut <= 0:
            return ""
        return self._emit(cut, final=False)

    def _word_is_open(self, window: str, start: int) -> bool:
        """Whether ``window[start:]`` is a word that an e-mail attempt from ``start`` reads to its
        end: ASCII letters and digits, not after a character that the e-mail pattern's look-behind
        refuses, and shorter than a local part."""
        tail = window[start:]
        return (
            self._email
            and 0 < len(tail) <= _EMAIL_LOCAL_MAX
            and tail.isascii()
            and tail.isalnum()
            and (start == 0 or not (window[start - 1].isalnum() or window[start - 1] in _NOT_BEFORE_EMAIL))
        )

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
        if self._trigger.search(window, base) is None:
            # Fast path: no detector's prefilter in the text not yet emitted, so no value lies in
            # it (a value's match starts after the text emitted so far: it was held from its start
            # while it could grow, and none crossed an earlier cut) and none crosses the cut.
            return self._advance(self._buffer[:cut], cut, [])
        candidates = self.redactor._candidates(window, max(0, base - RESCAN), base)
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
        return self._advance(self.redactor._apply(window, chosen, base, limit), cut, chosen)

    def _advance(self, out: str, cut: int, chosen: list[Finding]) -> str:
        """Emit ``out``: the first ``cut`` characters of the buffer, redacted (``chosen``: the
        findings in them, offsets in the window)."""
        shift = self._offset - len(self._context)
        self.findings.extend(Finding(f.kind, f.start + shift, f.end + shift) for f in chosen)
        emitted = self._buffer[:cut]
        self._buffer = self._buffer[cut:]
        self._offset += cut
        self._context = (self._context + emitted)[-CONTEXT:]
        return out
