"""Where the rate budgets live, so that every process loading an account shares them and no other
user can touch them.

``COMMS_RATE_LIMIT_REDIS`` puts them in Redis, which every host of a deployment sees. Otherwise
they are a SQLite file, ``COMMS_RATE_LIMIT_DB``, by default in a directory of the user's own
(``$XDG_CACHE_HOME/comms_assets``, else ``~/.cache/comms_assets``), never at a path another user can
predict. pyrate-limiter opens whatever path it is given, follows symlinks and trusts every row,
so the file is checked first: its directory and files must be the user's own, not symlinks, and
the directory private (0700); a corrupted file is recreated with a warning; a row dated in the
future (another writer's clock, a clock stepped back) is dropped instead of waited for.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

from pyrate_limiter import AbstractBucket, RedisBucket, SQLiteBucket
from pyrate_limiter import Rate as PyrateRate

LOGGER = logging.getLogger(__name__)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
SIBLINGS = ("", ".lock", "-wal", "-shm")  # the database and what SQLite and its file lock add


class RateStoreUnusable(RuntimeError):
    """The rate-limit store is not the user's own, or cannot be opened."""


def location() -> str:
    """A Redis URL, or the SQLite file of this host."""
    if redis_url := os.environ.get("COMMS_RATE_LIMIT_REDIS"):
        return redis_url
    if explicit := os.environ.get("COMMS_RATE_LIMIT_DB"):
        return explicit
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "comms_assets"
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(cache / "rates.sqlite")


def bucket(rates: list[PyrateRate], key: str, store: str,
           warn: Callable[[str], None] = LOGGER.warning) -> AbstractBucket:
    """The bucket ``key`` in ``store``, checked before it is trusted; ``warn`` hears of a store
    recreated."""
    if store.startswith(REDIS_SCHEMES):
        import redis  # the production profile's dependency (dagster-celery[redis])

        return RedisBucket.init(rates, redis.Redis.from_url(store), f"comms_assets:rates:{key}")
    path = Path(store)
    _check_private(path)
    try:
        opened = _sqlite(rates, key, path)
    except sqlite3.DatabaseError as error:
        warn(f"the rate-limit store {path} is unreadable ({error}): recreated empty")
        for suffix in SIBLINGS[1:]:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        opened = _sqlite(rates, key, path)
    for suffix in SIBLINGS:
        if (made := Path(f"{path}{suffix}")).exists():
            made.chmod(0o600)
    return opened


def _sqlite(rates: list[PyrateRate], key: str, path: Path) -> SQLiteBucket:
    try:
        return SQLiteBucket.init_from_file(rates, table=f"rates_{key}", db_path=str(path), use_file_lock=True)
    except (PermissionError, sqlite3.OperationalError) as error:
        raise RateStoreUnusable(f"the rate-limit store {path} cannot be used ({error}); set COMMS_RATE_LIMIT_DB "
                                "to a file in a directory only you can write") from None


def _check_private(path: Path) -> None:
    """Refuse a store another user owns or could redirect: a symlink, a foreign owner, a
    directory others may write."""
    me = os.getuid()
    folder = path.parent.resolve()
    info = folder.lstat()
    if info.st_uid != me:
        _refuse(path, f"its directory {folder} belongs to user {info.st_uid}, not to you ({me})")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        _refuse(path, f"its directory {folder} is writable by others (mode {stat.S_IMODE(info.st_mode):o})")
    for suffix in SIBLINGS:
        candidate = Path(f"{path}{suffix}")
        try:
            found = candidate.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(found.st_mode):
            _refuse(path, f"{candidate} is a symbolic link")
        if found.st_uid != me:
            _refuse(path, f"{candidate} belongs to user {found.st_uid}, not to you ({me})")


def _refuse(path: Path, why: str) -> None:
    raise RateStoreUnusable(f"the rate-limit store {path} is not yours alone: {why}. Remove it, or set "
                            "COMMS_RATE_LIMIT_DB to a file in a directory only you can write")


def forget_future(store: AbstractBucket) -> int:
    """Drop the entries dated after now (a clock stepped back, a foreign writer): a log of past
    requests never holds one, and waiting for it would wait as long as the step. Returns how many."""
    now = int(time.time() * 1000)
    if isinstance(store, SQLiteBucket):
        with store.lock:
            dropped = store.conn.execute(f"DELETE FROM '{store.table}' WHERE item_timestamp > ?", (now,)).rowcount
            store.conn.commit()
        return dropped
    if isinstance(store, RedisBucket):
        return int(store.redis.zremrangebyscore(store.bucket_key, f"({now}", "+inf"))
    return 0
