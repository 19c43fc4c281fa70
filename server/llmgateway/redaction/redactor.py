"""PII and secret redaction for prompts, completions and content logs: the Redactor.

A :class:`Redactor` finds sensitive values with a fixed set of detectors (regular expressions plus
validators: phonenumbers for the key's regions, python-stdnum's IBAN and Luhn checks, issuer
prefixes, octet ranges, :mod:`ipaddress`, JWT header decoding) and
replaces them by typed placeholders (``[EMAIL]``), keyed hashes (``[EMAIL:3f2a9c1b]``) or nothing.
:class:`StreamRedactor` (redaction/stream.py) does the same for streamed text, across chunk boundaries, producing exactly
the output of redacting the whole text at once while holding back only the text that could still
become part of a match. :meth:`Redactor.check` is the prompt policy: redact, or reject naming the
kinds found.

Nothing here ever puts a matched value into a message, a ``repr`` or an exception: :class:`Finding`
carries the kind and offsets only. See ``docs/redaction.md`` for what each detector matches and what
it deliberately does not.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from llmgateway.redaction.detectors import ALL_KINDS, DETECTORS, Detector, only_digits
from llmgateway.redaction.firsts import VALUE_IS_MATCH
from llmgateway.redaction.kinds import (
    HASH_HEX_CHARS,
    MODES,
    Action,
    Finding,
    Kind,
    Mode,
    PIIRejectedError,
    RedactionResult,
)
from llmgateway.redaction.phones import DEFAULT_REGIONS, SUPPORTED_REGIONS

# Upper bound of a detector's match (label included) plus its look-ahead; the longest is a JWT
# (512 + 1 + 3000 + 1 + 700). An attempt starting more than MAX_MATCH characters before the end of
# the text cannot read it, so the stream redactor (redaction/stream.py) holds back at most that
# plus the candidates it backs off from: MAX_HOLD characters.
MAX_MATCH: Final = 4300
MAX_HOLD: Final = 2 * MAX_MATCH
# Already-emitted text kept as left context for look-behinds and labels ("Bearer ", "api_key=",
# "aws_secret_access_key = ", at most 45 characters before the value); scanning starts RESCAN
# characters before the first unemitted one.
CONTEXT: Final = 128
RESCAN: Final = 64


@dataclass(frozen=True, slots=True)
class _Candidate:
    priority: int
    start: int
    end: int
    kind: Kind


def _normalise(kind: Kind, value: str) -> str:
    """The form that is hashed, so that spellings of one value share a token."""
    if kind is Kind.EMAIL:
        return value.lower().replace("%40", "@")
    if kind is Kind.IBAN:
        return value.replace(" ", "")
    if kind in (Kind.CREDIT_CARD, Kind.SSN):
        return only_digits(value)
    if kind is Kind.PHONE:
        return ("+" if value.startswith("+") else "") + only_digits(value)
    if kind is Kind.IPV6:
        return ipaddress.IPv6Address(value).compressed
    return value


class Redactor:
    """Finds and redacts sensitive values.

    ``kinds``: which kinds to detect (default all). ``mode``: ``mask`` → ``[EMAIL]``, ``hash`` →
    ``[EMAIL:3f2a9c1b]`` (HMAC-SHA256 of the normalised value keyed by ``salt``, stable within a
    deployment), ``drop`` → removed. ``salt`` is required for ``hash`` mode and never shown.
    ``phone_regions``: the regions (ISO 3166 codes) whose national numbers are recognised without
    a country code (default :data:`DEFAULT_REGIONS`); numbers with one are recognised anywhere.
    """

    __slots__ = ("_detectors", "_key", "_mask", "kinds", "mode", "phone_regions")

    def __init__(
        self,
        kinds: Iterable[Kind | str] | None = None,
        mode: Mode = "mask",
        salt: str | bytes | None = None,
        phone_regions: Iterable[str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown redaction mode {mode!r}; expected one of {', '.join(MODES)}")
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
        regions = DEFAULT_REGIONS if phone_regions is None else tuple(r.upper() for r in phone_regions)
        unknown = sorted(set(regions) - SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone regions {unknown}; expected ISO 3166 codes such as US, GB, DE")
        self.phone_regions: tuple[str, ...] = regions
        self.kinds: frozenset[Kind] = selected
        self.mode: Mode = mode
        self._key: bytes | None = salt.encode() if isinstance(salt, str) else salt
        self._detectors: tuple[tuple[int, Detector], ...] = tuple(
            (i, d) for i, d in enumerate(DETECTORS) if d.kind in selected
        )
        self._mask = sum(1 << i for i, _ in self._detectors)  # the same, as bits by priority

    def __repr__(self) -> str:
        kinds = ",".join(sorted(k.value for k in self.kinds))
        salt = ", salt=<set>" if self._key else ""
        return (
            f"Redactor(kinds={kinds}, mode={self.mode}{salt}, phone_regions={','.join(self.phone_regions)})"
        )

    # ---- detection ----

    def _candidates(self, text: str, pos: int = 0, wanted: int = 0) -> list[_Candidate]:
        """Every validated detector match starting at ``pos`` or later, overlapping ones included.

        Look-behinds still see the text before ``pos``. Only candidates that start at ``wanted``
        or later are needed (the stream's text not yet emitted; its scan starts earlier so that
        matches there are consumed as in the whole text): a detector whose value is its whole match
        (VALUE_IS_MATCH) and whose prefilter is not in ``text[wanted:]`` has none, and is not run;
        a match that ends by ``wanted`` is not validated (phonenumbers is not asked again about the
        numbers the stream has emitted).
        """
        out: list[_Candidate] = []
        for priority, det in self._detectors:
            if det.prefilter is not None:
                at = wanted if VALUE_IS_MATCH >> priority & 1 and wanted > pos else pos
                if det.prefilter.search(text, at) is None:
                    continue
            has_group = "v" in det.pattern.groupindex
            for m in det.pattern.finditer(text, pos):
                start, end = m.span("v") if has_group else m.span()
                if start == end or end <= wanted:
                    continue
                if det.spans is not None:
                    out.extend(
                        _Candidate(priority, s, e, det.kind)
                        for s, e in det.spans(text, start, end, self.phone_regions)
                    )
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
        return f"[{kind.value.upper()}:{digest.hexdigest()[:HASH_HEX_CHARS]}]"

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
