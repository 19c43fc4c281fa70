"""A PII corpus nobody here wrote (issue 24): values from Faker, seeded, in six locales, embedded in
sentences, JSON, log lines, CSV and HTML, plus hard negatives (version numbers, SSH remotes, order
numbers, dates) that a detector must leave alone. Deterministic for a given Faker version."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
PER_KIND = 50  # values per kind and locale

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


@dataclass(frozen=True, slots=True)
class Example:
    locale: str
    kind: str  # the kind of the value embedded, or "negative"
    text: str
    spans: tuple[tuple[int, int], ...]  # of the value, empty for a negative


def _values(fake: Faker, rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "email": fake.email,
        "phone": fake.phone_number,
        "credit_card": fake.credit_card_number,
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
                template = rng.choice(TEMPLATES)
                start = template.index("{}") - template[: template.index("{}")].count("{{")
                text = template.format(value)
                out.append(Example(locale, kind, text, ((start, start + len(value)),)))
        out.extend(Example(locale, "negative", text, ()) for text in _negatives(fake, rng))
    return out
