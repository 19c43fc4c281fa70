"""Redaction of streamed text, across chunk boundaries, with exactly the output of redacting the
whole text at once, holding back only the text that could still become part of a match."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import regex

from llmgateway.redaction.detectors import DETECTORS, Detector
from llmgateway.redaction.firsts import start_mask
from llmgateway.redaction.kinds import Finding
from llmgateway.redaction.redactor import CONTEXT, MAX_MATCH, RESCAN, Redactor

# The hold-back is derived from the detectors themselves, not from a character class of its own (a
# class that forgot "/" once let "030/1234 5678" out unredacted, issue 24). For every detector, the
# same pattern followed by "(?!)" can never match, so the `regex` package's partial search returns
# the leftmost attempt whose pattern (look-aheads included) ran into the end of the text: exactly
# the attempts that more text could still change. An attempt that fails or completes without
# reading the end is final whatever follows (look-behinds read only the text before), so the text
# before the earliest such attempt is final, apart from complete matches that cross it, which
# StreamRedactor._emit backs off from. Every quantifier of a detector is bounded (MAX_MATCH), so
# an attempt that starts more than MAX_MATCH characters before the end cannot reach it: the hold is
# bounded (MAX_HOLD).


def _open_pattern(detector: Detector) -> regex.Pattern[str]:
    # A label ("Bearer ", "api_key = ") is held with its value: the whole pattern is used, since
    # turning the label into a look-behind makes `regex` report partial attempts unreliably.
    return regex.compile(f"(?:{detector.pattern.pattern})(?!)")


# Indexed like DETECTORS (the redactor's priorities).
_OPEN: Final[tuple[regex.Pattern[str], ...]] = tuple(_open_pattern(d) for d in DETECTORS)


def _first_starts(chunk: str, at: int) -> dict[int, int]:
    """Per detector priority, where in the text its first possible attempt start in ``chunk`` is
    (``chunk`` is the text from offset ``at``); absent when no character of ``chunk`` can start one."""
    first: dict[int, int] = {}
    acc = 0
    for i, mask in enumerate(start_mask(chunk)):
        new = mask & ~acc
        if new:
            acc |= mask
            while new:
                bit = new & -new
                first[bit.bit_length() - 1] = at + i
                new ^= bit
    return first


def _open_start(redactor: Redactor, text: str, since: list[int], shift: int, seen: int) -> int:
    """The earliest position of ``text`` where an attempt of one of ``redactor``'s detectors reads
    the end of ``text`` (``len(text)`` when none does).

    ``since[priority]`` is a position (in stream offsets: ``text[i]`` is stream offset
    ``i + shift``) before which no attempt of that detector can read the end: every attempt before
    it read no end then and reads none now that text was only appended. ``seen`` is the stream
    offset where the text appended since the last call begins. It is updated in place.

    Each detector's open attempt starts at or after a lower bound: ``since``, or, for a detector
    that had none open, the first new character that can start it (redaction/firsts.py). Only
    detectors whose bound lies before the earliest open attempt found so far are searched, lowest
    bound first: the others cannot change the result, and their bound stays a valid ``since``.
    So a token usually costs one or two partial searches, not one per detector. One search per
    detector: an alternation of them all loses `regex`'s literal-prefix searches and is slower.
    """
    n = len(text)
    floor = max(0, n - MAX_MATCH)
    fresh = seen - shift
    first = _first_starts(text[fresh:], fresh)
    bounds = sorted(
        (first.get(p, n) if (lo := since[p] - shift) >= fresh else lo, p) for p, _ in redactor._detectors
    )
    start = n
    for bound, priority in bounds:
        lo = max(bound, floor)
        if lo >= start:
            since[priority] = lo + shift
            continue
        m = _OPEN[priority].search(text, lo, partial=True)
        found = n if m is None else m.start()
        since[priority] = found + shift
        start = min(start, found)
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
    # per detector (by priority), the stream offset of its open attempt (see _open_start)
    _since: list[int] = field(default_factory=lambda: [0] * len(DETECTORS), init=False)
    _seen: int = field(default=0, init=False)  # stream offset up to which _since was computed

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
        base = len(self._context)
        window = self._context + self._buffer
        shift = self._offset - base
        cut = _open_start(self.redactor, window, self._since, shift, self._seen) - base
        self._seen = len(window) + shift
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
        candidates = self.redactor._candidates(window, max(0, base - RESCAN))
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
        self._context = (self._context + emitted)[-CONTEXT:]
        return out
