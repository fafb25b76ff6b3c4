"""Progress lines during a long load: under the vendors' limits one backfill can take hours.

Every ``COMMS_PROGRESS_EVERY_S`` seconds (default 60) per endpoint, one line with its pages, rows,
the share of its window done and an estimate of the time left. The share comes from the records
themselves: the span of date-cursor values seen so far over the window's length, which grows
from 0 to ~1 whether the API pages oldest or newest first; for windows asked a day at a time, the
days done. Where it cannot be known, the line gives pages and rows only: an endpoint without a
window, or a cursor that holds dates without times (JustCall's ``call_date``), whose span says
nothing within a day. A range run also logs each committed day with the time left (defs/ingest/assets.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Log = Callable[[str], None]  # where a line goes: a logger's method, Dagster's context.log.info
DEFAULT_EVERY_S = 60.0


def every_s() -> float:
    return float(os.environ.get("COMMS_PROGRESS_EVERY_S", DEFAULT_EVERY_S))


@dataclass
class _Endpoint:
    started: float
    last: float
    pages: int = 0
    rows: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None
    timed: bool = False  # some cursor value had a time of day


@dataclass
class Progress:
    """Counts pages and rows per endpoint and logs them at most once per ``every`` seconds."""

    log: Log | None = None
    every: float = field(default_factory=every_s)
    _endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, name: str, rows: int, window: tuple[datetime, datetime] | None = None,
             moments: tuple[datetime, datetime] | None = None, share: float | None = None) -> None:
        """One page of ``rows`` rows; ``moments``: its earliest and latest cursor values."""
        now = time.monotonic()
        with self._lock:
            seen = self._endpoints.setdefault(name, _Endpoint(started=now, last=now))
            seen.pages += 1
            seen.rows += rows
            if moments:
                seen.earliest = min(seen.earliest or moments[0], moments[0])
                seen.latest = max(seen.latest or moments[1], moments[1])
                seen.timed = seen.timed or any(m.time() != datetime.min.time() for m in moments)
            if self.log is None or now - seen.last < self.every:
                return
            seen.last = now
        if share is None and window and seen.timed and seen.earliest and seen.latest:
            share = (seen.latest - seen.earliest) / (window[1] - window[0])
        self.log(self._line(name, seen, now, share, window))

    @staticmethod
    def _line(name: str, seen: _Endpoint, now: float, share: float | None,
              window: tuple[datetime, datetime] | None) -> str:
        elapsed = now - seen.started
        text = f"{name}: {seen.pages:,} pages, {seen.rows:,} rows in {duration(elapsed)}"
        if share is None or window is None:
            return text
        share = min(max(share, 0.0), 1.0)
        left = f", about {duration(elapsed * (1 - share) / share)} left" if share > 0 else ""
        return f"{text}; {share:.0%} of [{window[0]:%Y-%m-%d}, {window[1]:%Y-%m-%d}){left}"


def duration(seconds: float) -> str:
    """``4.2s``, ``3m07s``, ``2h05m``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"
