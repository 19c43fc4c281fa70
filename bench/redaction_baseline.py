"""BASELINE ONLY — not used by the gateway. The stream redactor's hold-back as it was before issue
24's fix (server/llmgateway/redaction/stream.py at commit 862ca1a): a character-class hold-back (the
last word plus space-joined digit groups) that leaks "030/1234 5678" when streamed. Kept verbatim
(LONG_TAIL inlined, since redactor.py no longer defines it) so that bench/redaction_cost.py can
time today's stream redactor against it in the same run, with the same detectors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from llmgateway.redaction.kinds import Finding
from llmgateway.redaction.redactor import CONTEXT, MAX_MATCH, RESCAN, Redactor

LONG_TAIL: Final = 6400

# The held-back tail is the last (possibly incomplete) word, extended backwards over the digit
# groups (digits and "()+.-", with a digit) joined by single spaces that phone and card numbers are
# made of. (This is the assumption "030/1234 5678" broke: "/" is not in the class.)
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
class BaselineStreamRedactor:
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
        return f"BaselineStreamRedactor({self.redactor!r}, held={len(self._buffer)}, emitted={self._offset})"

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
        lo = max(0, len(buf) - LONG_TAIL)
        cut = _tail_start(buf, lo)
        if lo > 0 and cut <= lo:  # a word longer than any match: release all but its end
            cut = len(buf) - MAX_MATCH
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
