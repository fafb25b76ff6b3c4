"""Deterministic, on-demand data for the simulated APIs.

Nothing is held in memory: record ``i`` of a collection is computed from ``(seed, collection, i)``
whenever a page needs it, so a sandbox with millions of rows starts instantly and serves any page
in constant time. Dated collections are ordered by time, so a date filter becomes an index range.
"""

from __future__ import annotations

import bisect
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

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
}

FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
               "Kemi", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara"]
LAST_NAMES = ["Adams", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
              "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]


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
    _instants: dict[tuple[str, int], datetime] = field(default_factory=dict, repr=False)

    def count(self, collection: str) -> int:
        if collection in self.counts:
            return self.counts[collection]
        return max(1, round(BASE_COUNTS[collection] * self.scale))

    def rng(self, collection: str, i: int) -> random.Random:
        """A generator private to one record, so any record can be rebuilt alone."""
        return random.Random(f"{self.seed}/{collection}/{i}")

    def instant(self, collection: str, i: int) -> datetime:
        """Time of record ``i``: non-decreasing in ``i`` and spread evenly over the span."""
        key = (collection, i)
        if (t := self._instants.get(key)) is None:
            if len(self._instants) > 200_000:
                self._instants.clear()
            span = (self.end - self.start).total_seconds()
            jitter = random.Random(f"{self.seed}/{collection}/{i}/t").random()
            t = self.start + timedelta(seconds=int(span * (i + jitter) / self.count(collection)))
            self._instants[key] = t
        return t

    def between(self, collection: str, since: datetime | None, until: datetime | None) -> range:
        """Indices of the records with ``since <= instant < until``."""
        n = self.count(collection)
        ids = range(n)
        at = lambda i: self.instant(collection, i)  # noqa: E731
        lo = 0 if since is None else bisect.bisect_left(ids, since, key=at)
        hi = n if until is None else bisect.bisect_left(ids, until, key=at)
        return range(lo, max(lo, hi))

    def pick(self, collection: str, rng: random.Random) -> int:
        """Index of a random existing record of another collection (keeps references valid)."""
        return rng.randrange(self.count(collection))


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def phone(rng: random.Random) -> str:
    return f"+1{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}"


def email(first: str, last: str, i: int, domain: str = "example.com") -> str:
    return f"{first.lower()}.{last.lower()}{i}@{domain}"


def digits(seed: int, collection: str, i: int, width: int = 18) -> str:
    """A long numeric string id, as Gong, RingCentral and LACRM use, unique per index."""
    base = 10 ** (width - 1)
    return str(base + zlib.crc32(f"{seed}/{collection}".encode()) * 10_000_000 + i)
