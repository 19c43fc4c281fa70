"""Streaming equals unary, by construction (issue 24): every corpus text and the issue's examples,
split at every position, fed one character at a time and cut at random (hypothesis), stream
exactly as they redact whole, so the stream never shows a character the unary output masks."""

from __future__ import annotations

import itertools
import re
from re import _parser as sre_parse  # type: ignore[attr-defined]

from hypothesis import given, settings
from hypothesis import strategies as st

from llmgateway.redaction.detectors import DETECTORS
from llmgateway.redaction.firsts import END_MASK, OPEN, OPENING, START_MASK, VALUE_IS_MATCH
from llmgateway.redaction.kinds import Kind
from llmgateway.redaction.redactor import MAX_HOLD, MAX_MATCH, Redactor
from llmgateway.redaction.stream import LOOKBEHIND, StreamRedactor
from tests.test_redaction import TEXTS

# The issue's examples: what leaked (030/1234 5678) and values glued to labels, in parentheses,
# with extensions, in CSV, in HTML.
ISSUE_EXAMPLES = [
    "Ruf an: 030/1234 5678 bitte",
    "Ruf an: 030/1234 5678",
    "Il mio telefono: 3737019122.",
    "mobile=0174893458",
    "Telefon (08171) 94088 angegeben.",
    "<td>(0131)4960355</td>",
    'tel: "001-345-531-0470"',
    "(288)949-2917x48222",
    "IP:178.221.137.130",
    "(0191 498 0629)",
    "Owen-Berry,0113 4960067,Port",
    "userEmail=grosalain%40denis.com",
    "3518 0623 1642 3432",
    "firmware 11.17.43.224",
    "git@github.com:acme/repo.git",
    "SSN 016-60-0000 is invalid",
    "call 06.12.34.56.78 or +33 1 42 68 53 00 then 020 7946 0958 / 0171 1234567",
]
TEXTS_ALL = TEXTS + ISSUE_EXAMPLES
REDACTOR = Redactor()


def stream(chunks: list[str], redactor: Redactor = REDACTOR) -> str:
    s = StreamRedactor(redactor)
    out = [s.feed(chunk) for chunk in chunks]
    out.append(s.flush())
    assert s.held == 0
    return "".join(out)


def test_every_split_position() -> None:
    for text in TEXTS_ALL:
        whole = REDACTOR.redact(text).text
        for i in range(len(text) + 1):
            assert stream([text[:i], text[i:]]) == whole, (i, len(text))


def test_one_character_at_a_time() -> None:
    for text in TEXTS_ALL:
        assert stream(list(text)) == REDACTOR.redact(text).text


def test_the_issue_leak() -> None:
    text = "Ruf an: 030/1234 5678 bitte"
    assert REDACTOR.redact(text).text == "Ruf an: [PHONE] bitte"
    assert stream(list(text)) == "Ruf an: [PHONE] bitte"
    assert stream(["Ruf an: 030/1234 ", "5678 bitte"]) == "Ruf an: [PHONE] bitte"


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts = draw(st.lists(st.sampled_from(TEXTS_ALL), min_size=1, max_size=4))
    seps = draw(
        st.lists(
            st.sampled_from(["", " ", "\n", ", ", "/", "-", "."]), min_size=len(parts), max_size=len(parts)
        )
    )
    text = "".join(p + s for p, s in zip(parts, seps, strict=True))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(chunked())
def test_random_chunkings(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    s = StreamRedactor(REDACTOR)
    shown = ""
    whole = REDACTOR.redact(text).text
    for chunk in chunks:
        shown += s.feed(chunk)
        # never ahead of, nor different from, the unary output: nothing it masks is shown
        assert whole.startswith(shown)
        assert s.held <= MAX_HOLD
    shown += s.flush()
    assert shown == whole


def test_every_detector_is_bounded_by_max_match() -> None:
    """The hold-back bound relies on it: an attempt starting more than MAX_MATCH characters before
    the end cannot read the end."""
    for det in DETECTORS:
        _, longest = sre_parse.parse(det.pattern.pattern, det.pattern.flags).getwidth()
        assert longest < MAX_MATCH - 8, det.kind  # 8: the look-ahead's own characters
        assert isinstance(det.pattern, re.Pattern)


def test_start_masks_cover_every_attempt_start() -> None:
    # redaction/firsts.py may only leave out characters no attempt of the detector starts with:
    # a lone such character after a space is never an open (partial) attempt there.
    for priority, pattern in enumerate(OPEN):
        for code in range(32, 127):
            if not START_MASK[code] >> priority & 1:
                m = pattern.search(" " + chr(code), 1, partial=True)
                assert m is None or m.start() != 1, (priority, chr(code))


def _lookbehind_widths(items: object) -> list[int]:
    widths: list[int] = []
    for op, av in items:  # type: ignore[attr-defined]
        if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            direction, sub = av
            if direction == -1:
                widths.append(sub.getwidth()[1])
            widths += _lookbehind_widths(sub)
        elif op is sre_parse.SUBPATTERN:
            widths += _lookbehind_widths(av[3])
        elif op is sre_parse.BRANCH:
            for alt in av[1]:
                widths += _lookbehind_widths(alt)
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT):
            widths += _lookbehind_widths(av[2])
        elif op is sre_parse.ATOMIC_GROUP:
            widths += _lookbehind_widths(av)
    return widths


def test_partial_searches_see_every_lookbehind() -> None:
    """The stream's partial searches get LOOKBEHIND characters before where they start."""
    widths = [
        w
        for det in DETECTORS
        for w in _lookbehind_widths(sre_parse.parse(det.pattern.pattern, det.pattern.flags))
    ]
    assert widths and max(widths) <= LOOKBEHIND


def test_the_fast_paths_change_nothing() -> None:
    """Words streamed a few letters at a time (the e-mail fast path) and text without any
    detector's prefilter (the emit fast path) give the unary output, and hold no more than the
    current word."""
    redactor = Redactor()
    text = "Plain words here, then jane.doe@acme.io and abcdefghij0123456789abcdefghij0123456789abcdefghijkl@x.io done"
    s = StreamRedactor(redactor)
    out = []
    for i in range(0, len(text), 3):
        out.append(s.feed(text[i : i + 3]))
        if i < 12:
            assert s.held <= 3
    out.append(s.flush())
    assert "".join(out) == redactor.redact(text).text == "Plain words here, then [EMAIL] and [EMAIL] done"
    only_phones = Redactor(kinds=["phone"])
    assert stream(["call ", "0171", "1234", "567 ok"], only_phones) == "call [PHONE] ok"


def test_end_masks_end_every_attempt() -> None:
    # redaction/firsts.py END_MASK: after such a character no attempt that started before it, or on
    # it, is open: a partial search of any probe that reaches it finds nothing open before the end.
    probes = [
        "jane.doe@acme",
        "eyJhbGciOiJIUzI1NiJ9.e",
        "2001:db8:",
        "+44 20 79",
        "api_key = ab",
        "Bearer ",
        "123-45-",
    ]
    for priority, pattern in enumerate(OPEN):
        for code in range(32, 127):
            if END_MASK[code] >> priority & 1:
                for probe in probes:
                    text = probe + chr(code) + "!"
                    m = pattern.search(text, 0, partial=True)
                    assert m is None or m.start() > len(probe), (priority, probe, chr(code))


def test_only_labelled_values_are_not_their_whole_match() -> None:
    """VALUE_IS_MATCH (redaction/firsts.py), derived from the patterns: a label ("Bearer ",
    "api_key = ", "aws_secret_access_key: ") is the only thing a match consumes outside its value,
    and every corpus match of the other detectors is its value."""
    labelled = {
        p
        for p, d in enumerate(DETECTORS)
        if d.kind in (Kind.AWS_SECRET_ACCESS_KEY, Kind.BEARER_TOKEN)
        or (d.kind is Kind.API_KEY and "api" in d.pattern.pattern)
    }
    assert labelled == {p for p in range(len(DETECTORS)) if not VALUE_IS_MATCH >> p & 1}
    for p, det in enumerate(DETECTORS):
        if VALUE_IS_MATCH >> p & 1 and "v" in det.pattern.groupindex:
            for text in TEXTS_ALL:
                for m in det.pattern.finditer(text):
                    assert m.span() == m.span("v"), (det.kind, text)


def test_the_stream_scan_skips_what_it_has_emitted() -> None:
    """The stream's scan (Redactor._candidates with ``wanted``, the first character not yet
    emitted) neither runs a detector whose value would lie in emitted text only, nor judges a match
    that ends there; every candidate from ``wanted`` on is the same."""
    redactor = Redactor()
    text = "call +44 20 7946 0958 or jane@acme.io, then thanks a lot"
    wanted = text.index(", then")
    every = redactor._candidates(text)
    skipped = redactor._candidates(text, 0, wanted)
    assert {c.kind for c in every} == {Kind.PHONE, Kind.EMAIL}
    assert skipped == []  # no digit, "@" or label after `wanted`: nothing run, nothing judged
    for text in TEXTS_ALL:
        for wanted in range(0, len(text), 7):
            assert [c for c in redactor._candidates(text, 0, wanted) if c.start >= wanted] == [
                c for c in redactor._candidates(text) if c.start >= wanted
            ], (wanted, text)


def test_no_bound_is_kept_for_detectors_with_nothing_open() -> None:
    """A partial search that finds only the attempt starting at the very end means nothing is
    open: the detector keeps no bound, so later tokens without a character that can start it do
    not search it again (numbers early in prose cost no card or phone search per later token)."""
    s = StreamRedactor(REDACTOR)
    for chunk in ["Python 3.12 and pip 24.0, then ", "clone the ", "repo and run ", "the tests "]:
        s.feed(chunk)
        assert s._open_at == {}, chunk


def test_punctuation_and_line_breaks_end_phone_and_card_attempts() -> None:
    # END_MASK reads negated classes (the phone's "[^\W\d_x]") and back-references (the card's
    # "(?P=s)") for what they are, instead of as every character
    phone, card = (
        next(p for p, d in enumerate(DETECTORS) if d.kind is k) for k in (Kind.PHONE, Kind.CREDIT_CARD)
    )
    for ch in "\n,;:!?\"'<>=#@":
        assert END_MASK[ord(ch)] >> phone & 1, ch
        assert END_MASK[ord(ch)] >> card & 1, ch
    for ch in " .-/()+0a":
        assert not END_MASK[ord(ch)] >> phone & 1, ch


def test_openings_cover_every_open_attempt() -> None:
    """firsts.OPENING may only leave out positions where no attempt that more text could extend
    starts: after any of these contexts, wherever a detector's partial pattern finds an attempt
    open at a pair of characters (or a last character), OPENING finds a place there too."""
    contexts = ["", " ", "(", "ip:", "a:", "=", "\n"]
    printable = [chr(c) for c in range(32, 127)] + ["\t", "\n"]
    for priority, pattern in enumerate(OPEN):
        for first in printable:
            if not START_MASK[ord(first)] >> priority & 1:
                continue
            for second in ["", *printable]:
                for ctx in contexts:
                    text = ctx + first + second
                    if pattern.match(text, len(ctx), partial=True) is not None:
                        assert OPENING[priority].match(text, len(ctx)) is not None, (priority, text)


def _at(found: re.Match[str] | None) -> int:
    return -1 if found is None else found.start()


def test_openings_refuse_what_the_second_character_rules_out() -> None:
    label = next(p for p, d in enumerate(DETECTORS) if d.kind is Kind.API_KEY and "api" in d.pattern.pattern)
    iban = next(p for p, d in enumerate(DETECTORS) if d.kind is Kind.IBAN)
    assert OPENING[label].search("the stone is heavy ") is None
    assert _at(OPENING[label].search("my secret")) == len("my ")  # "secret_key" may follow
    assert _at(OPENING[label].search("my s")) == len("my ")  # the last character: may be one
    assert OPENING[iban].search("Hello World ") is None
    assert _at(OPENING[iban].search("iban: DE89")) == len("iban: ")
