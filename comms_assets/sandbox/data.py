"""Deterministic, on-demand data for the simulated APIs.

Nothing is held in memory: record ``i`` of a collection is computed from ``(seed, collection, i)``
whenever a page needs it, so a sandbox with millions of rows starts instantly and serves any page
in constant time. Dated collections are ordered by time, so a date filter becomes an index range.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

# Rows per collection at scale 1.0; every collection is multiplied by ``scale``.
BASE_COUNTS: dict[str, int] = {
    "justcall/users": 25,
    "justcall/calls": 3000,
    "justcall/texts": 1500,
    "justcall/contacts": 400,
    "justcall/phone_numbers": 30,
    "ringcentral/call_log": 2000,
    "ringcentral/active_calls": 15,
    "ringcentral/forwarding_numbers": 8,
    "ringcentral/blocked_numbers": 40,
    "ringcentral/monitoring_groups": 5,
    "ringcentral/call_queues": 12,
    "ringcentral/ivr_prompts": 20,
    "gong/users": 40,
    "gong/calls": 1200,
    "gong/scorecards": 6,
    "gong/answered_scorecards": 800,
    "sendpulse/addressbooks": 60,
    "sendpulse/campaigns": 250,
    "sendpulse/templates": 45,
    "sendpulse/senders": 5,
    "sendpulse/webhooks": 8,
    "lacrm/users": 10,
    "lacrm/contacts": 300,
    "lacrm/tasks": 600,
    "lacrm/notes": 900,
    "lacrm/teams": 4,
    "lacrm/events": 500,
    "company/customers": 500,
}

FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
               "Kemi", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara"]
LAST_NAMES = ["Adams", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
              "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi"]
COMPANY_DOMAIN = "northwind.example"  # the one company whose people use every system


MASK = (1 << 64) - 1


class Rand:
    """splitmix64: a small, fast, well-mixed generator, seeded per record.

    ``random.Random`` spends most of a record's cost on seeding; this one seeds for free, and
    its draws are plain integer arithmetic, so serving a page stays cheap next to parsing it.
    """

    __slots__ = ("state",)

    def __init__(self, state: int) -> None:
        self.state = state & MASK

    def bits(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self.bits() >> 11) / 9007199254740992.0

    def getrandbits(self, k: int) -> int:
        return self.bits() >> (64 - k)

    def randrange(self, start: int, stop: int | None = None) -> int:
        if stop is None:
            start, stop = 0, start
        return start + self.bits() % (stop - start)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.bits() % len(options)]

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()


@lru_cache(maxsize=1024)
def _stream(seed: int, collection: str) -> int:
    return zlib.crc32(f"{seed}/{collection}".encode()) * 0x100000001B3 & MASK


def today() -> datetime:
    """Midnight UTC of the current day: the default end of the simulated history."""
    return datetime.combine(date.today(), datetime.min.time(), UTC)


@dataclass
class World:
    """The simulated companies' data: sizes, a time span and a seed, nothing else."""

    seed: int = 42
    scale: float = 1.0
    start: datetime = field(default_factory=lambda: today() - timedelta(days=30))
    end: datetime = field(default_factory=today)
    counts: dict[str, int] = field(default_factory=dict)
    # The sandbox's present: what is not yet visible or not yet changed at this moment (a Gong call
    # still processing, a disposition set later) is served as it then was; None: all has settled.
    now: datetime | None = None
    # Employees whose last name changed (a marriage, a typo fixed): employee -> the new last name,
    # in every system that has them; the email stays.
    surnames: dict[int, str] = field(default_factory=dict)
    _instants: dict[tuple[str, int], datetime] = field(default_factory=dict, repr=False)

    @property
    def settled(self) -> bool:
        """Whether every record is fixed for good (no present moving on, no one renamed), so an
        API may keep what it once served."""
        return self.now is None and not self.surnames

    def count(self, collection: str) -> int:
        if collection in self.counts:
            return self.counts[collection]
        return max(1, round(BASE_COUNTS[collection] * self.scale))

    def rng(self, collection: str, i: int) -> Rand:
        """A generator private to one record, so any record can be rebuilt alone."""
        return Rand(_stream(self.seed, collection) ^ (i * 0x9E3779B97F4A7C15 & MASK))

    def instant(self, collection: str, i: int) -> datetime:
        """Time of record ``i``: non-decreasing in ``i`` and spread evenly over the span."""
        key = (collection, i)
        if (t := self._instants.get(key)) is None:
            if len(self._instants) > 200_000:
                self._instants.clear()
            span = (self.end - self.start).total_seconds()
            jitter = self.rng(collection + "/t", i).random()
            t = self.start + timedelta(seconds=int(span * (i + jitter) / self.count(collection)))
            self._instants[key] = t
        return t

    def between(self, collection: str, since: datetime | None, until: datetime | None) -> range:
        """Indices of the records with ``since <= instant < until``."""
        n = self.count(collection)
        ids = range(n)
        at = lambda i: self.instant(collection, i)
        lo = 0 if since is None else bisect.bisect_left(ids, since, key=at)
        hi = n if until is None else bisect.bisect_left(ids, until, key=at)
        return range(lo, max(lo, hi))

    def visible(self, at: datetime) -> bool:
        """Whether what happens at ``at`` has happened by the sandbox's present."""
        return self.now is None or at <= self.now

    def pick(self, collection: str, rng: Rand) -> int:
        """Index of a random existing record of another collection (keeps references valid)."""
        return rng.randrange(self.count(collection))

    def employee(self, i: int) -> Employee:
        """Person ``i`` of the company: the same person, with one work email, in every system that
        has them (JustCall user ``i``, Gong user ``i``, LACRM user ``i``)."""
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i + i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        clash = i // (len(FIRST_NAMES) * len(LAST_NAMES))  # names repeat only in very large worlds
        return Employee(first, self.surnames.get(i, last), f"{first}.{last}{clash or ''}@{COMPANY_DOMAIN}".lower())

    def customer(self, i: int) -> Customer:
        """Customer ``i``: JustCall contact ``i``, LACRM contact ``i - lacrm_offset()``, and the other
        end of many calls, with the gaps real CRMs have (a missing email or phone, an old number)."""
        r = self.rng("company/customers", i)
        first, last = person(r)
        return Customer(first, last, phone(r), email(first, last, i), r.random())

    def lacrm_offset(self) -> int:
        """LACRM's contacts are customers ``offset..``: the later part of JustCall's and beyond."""
        return self.count("justcall/contacts") * 3 // 8


@dataclass(frozen=True)
class Employee:
    first: str
    last: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class Customer:
    """A customer as the company knows them; ``luck`` in [0, 1) decides which gaps they have."""

    first: str
    last: str
    phone: str
    email: str
    luck: float

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def justcall_email(self) -> str:
        return "" if self.luck < 0.1 else self.email  # one in ten never gave JustCall an email

    @property
    def lacrm_phones(self) -> list[str]:
        """None for one in ten; an old number alone for one in forty, an old number before the
        current one for another; written as people type them."""
        if self.luck >= 0.9:
            return []
        old = self.phone[:-4] + f"{(int(self.phone[-4:]) + 1) % 10_000:04d}"
        numbers = [self.phone] if self.luck < 0.85 else [old] if self.luck < 0.875 else [old, self.phone]
        return [f"({n[2:5]}) {n[5:8]}-{n[8:]}" if self.luck < 0.6 else f"+1 {n[2:5]}-{n[5:8]}-{n[8:]}" for n in numbers]

    @property
    def lacrm_email(self) -> str:
        return self.email.capitalize() if self.luck < 0.3 else self.email


def person(rng: Rand) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def phone(rng: Rand) -> str:
    return f"+1{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}"


def email(first: str, last: str, i: int, domain: str = "example.com") -> str:
    return f"{first.lower()}.{last.lower()}{i}@{domain}"


def digits(seed: int, collection: str, i: int, width: int = 18) -> str:
    """A long numeric string id, as Gong, RingCentral and LACRM use, unique per index."""
    base = 10 ** (width - 1)
    return str(base + zlib.crc32(f"{seed}/{collection}".encode()) * 10_000_000 + i)
