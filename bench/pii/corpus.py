"""A PII corpus nobody here wrote (issue 24): values from Faker, seeded, in six locales, embedded in
sentences, JSON, log lines, CSV, HTML and (e-mail) URL-encoded query strings; the card networks Faker
knows, printed grouped or not; IBANs; plus hard negatives (version numbers, SSH remotes, order
numbers, dates) that a detector must leave alone. Deterministic for a given Faker version."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
PER_KIND = 100  # values per kind and locale

# The contexts a value appears in; "{}" is the value. A label glued to it, parentheses, quotes,
# CSV, JSON and HTML are all here, as the issue found them in real text.
TEMPLATES = (
    "Please contact me at {} tomorrow.",
    '{{"user": "x", "contact": "{}"}}',
    "2024-05-01T10:00:00Z INFO login ok value={} session=7",
    "Owen-Berry,{},Port Talbot",
    "<td>{}</td>",
    "({})",
    "Details: {}.",
    "contact:{}",
)
# E-mail addresses also appear URL-encoded in query strings, as a form posts them.
URL_TEMPLATE = "GET /signup?ref=7&userEmail={} HTTP/1.1"

# Faker's card types (every network it knows); a card is written either as Faker gives it (digits
# only) or grouped as printed on the card (4-4-4-4; Amex and 15-digit JCB 4-6-5, Diners 4-6-4).
CARD_TYPES = (
    "maestro",
    "mastercard",
    "visa16",
    "visa13",
    "visa19",
    "amex",
    "discover",
    "diners",
    "jcb15",
    "jcb16",
)


_EXTENSION = re.compile(r"\s*(?:x|ext\.?)\s*\d+$")


@dataclass(frozen=True, slots=True)
class Example:
    locale: str
    kind: str  # the kind of the value embedded, or "negative"
    text: str
    spans: tuple[tuple[int, int], ...]  # of the value, empty for a negative


def _grouped(number: str) -> str:
    sizes = (4, 6, len(number) - 10) if len(number) in (14, 15) else (4,) * (len(number) // 4 + 1)
    groups, at = [], 0
    for size in sizes:
        if at < len(number):
            groups.append(number[at : at + size])
            at += size
    return " ".join(groups)


def _card(fake: Faker, rng: random.Random) -> Callable[[], str]:
    def make() -> str:
        number: str = fake.credit_card_number(card_type=rng.choice(CARD_TYPES))
        return _grouped(number) if rng.random() < 0.5 else number

    return make


def _iban(fake: Faker, rng: random.Random) -> Callable[[], str]:
    def make() -> str:
        value: str = fake.iban()
        return _grouped_iban(value) if rng.random() < 0.5 else value

    return make


def _grouped_iban(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))  # the printed form


def _values(fake: Faker, rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "email": fake.email,
        "phone": fake.phone_number,
        "credit_card": _card(fake, rng),
        "iban": _iban(fake, rng),
        "ipv4": fake.ipv4_public,
        "ipv6": fake.ipv6,
    }


def _negatives(fake: Faker, rng: random.Random) -> Iterator[str]:
    for _ in range(PER_KIND):
        a, b, c, d = (rng.randint(0, 30) for _ in range(4))
        yield rng.choice(
            (
                f"Upgraded firmware {a}.{b}.{c}.{d} last night.",
                f"git clone git@github.com:{fake.user_name()}/{fake.word()}.git",
                f"Order #{rng.randint(10**9, 10**10 - 1)} shipped on {fake.date()}.",
                f"Tracking {fake.bothify('1Z###???########').upper()} is on its way.",
                f"Build {fake.numerify('##.##.####')} passed in {rng.randint(2, 99)}s.",
                f"The invoice total was {rng.randint(100, 99999)}.{rng.randint(10, 99)} EUR.",
                f"SSN {fake.numerify('###-##')}-0000 is not a valid number.",
                f"Parcel 9400{rng.randint(10**17, 10**18 - 1)} left the depot.",  # USPS: 22 digits
            )
        )


def generate(seed: int = 24) -> list[Example]:
    out: list[Example] = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        rng = random.Random(f"{seed}-{locale}")
        for kind, make in _values(fake, rng).items():
            for _ in range(PER_KIND):
                value = make()
                template = rng.choice(TEMPLATES + ((URL_TEMPLATE,) if kind == "email" else ()))
                if template is URL_TEMPLATE:
                    value = quote_plus(value)
                start = template.index("{}") - template[: template.index("{}")].count("{{")
                text = template.format(value)
                # A phone's extension ("x482") is not part of the number: it is left visible.
                length = len(_EXTENSION.sub("", value)) if kind == "phone" else len(value)
                out.append(Example(locale, kind, text, ((start, start + length),)))
        out.extend(Example(locale, "negative", text, ()) for text in _negatives(fake, rng))
    return out
