"""The unified layer's dbt project as plain data, without dbt or Dagster (quick to import): where
it lives, its parsed manifest, which of its models follow the daily partitions, and the one
command that prepares it: ``python -m comms_assets.engine.layer`` (``make install``, an image's
build) parses the project into ``target/manifest.json``, which loading the definitions reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from comms_assets.catalog import APIS
from comms_assets.engine import warehouse

GROUP = "comms"  # the models' Dagster group, and the dbt project's name
DAILY = "daily"  # the dbt tag of the models that follow the daily partitions
PROJECT_DIR = Path(__file__).parent.parent / "dbt_project"
MANIFEST = PROJECT_DIR / "target" / "manifest.json"
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's saved parse, beside the manifest
PREPARE = "make install (or: python -m comms_assets.engine.layer)"


class ManifestMissing(FileNotFoundError):
    """The dbt project has not been prepared on this checkout."""


def read_manifest() -> dict[str, Any]:
    """The manifest ``make install`` prepared."""
    if not MANIFEST.exists():
        raise ManifestMissing(f"comms_assets: the dbt project is not prepared ({MANIFEST} is missing): run {PREPARE}")
    return json.loads(MANIFEST.read_text())


def stale() -> bool:
    """Whether the manifest is missing or older than a file of the project."""
    if not MANIFEST.exists():
        return True
    files = [*PROJECT_DIR.glob("*.yml"), *(f for folder in ("models", "macros", "tests")
                                           for f in (PROJECT_DIR / folder).rglob("*") if f.suffix in (".sql", ".yml"))]
    return any(f.stat().st_mtime > MANIFEST.stat().st_mtime for f in files)


def dbt_executable() -> str:
    """dbt from this environment, found beside its Python even when the virtualenv is not on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def prepare() -> None:
    """``dbt parse`` of the project into its manifest, with the default warehouse's profile, so
    that the runs on it parse only what changed (dbt's partial parse).

    Parsed aside and moved into place: under ``dg dev`` the processes that load the definitions
    (the code server, the daemon) may prepare at once, and none reads a half-written manifest.
    """
    aside = MANIFEST.parent / f"prepare-{os.getpid()}"
    try:
        subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(PROJECT_DIR), "--profiles-dir",
                        str(PROJECT_DIR), "--target-path", str(aside)],
                       env={**os.environ, **warehouse.dbt_environment()}, check=True)
        for name in (PARTIAL_PARSE, MANIFEST.name):
            (aside / name).replace(MANIFEST.parent / name)
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def selection(names: list[str]) -> str:
    """The models ``names`` as a Dagster CLI ``--select``."""
    return ",".join(f"{GROUP}/{name}" for name in names)


class Models(NamedTuple):
    """The project's models by how they are built."""

    daily: list[str]  # tagged ``daily``: built per day, following the raw days
    snapshots: list[str]  # rebuilt whole from the snapshot endpoints alone
    views: list[str]  # rebuilt whole over the daily models (views: the days are not rebuilt)


def models(parsed: Mapping[str, Any]) -> Models:
    """The models tagged ``daily`` follow the daily partitions, the rest are rebuilt whole, after
    the days where they read them. A daily model reads only dated endpoints and daily models: one
    that read a snapshot (``people``) would be rebuilt for every day each time the snapshot refreshes."""
    dated = {f"source.{GROUP}.{api.name}.{e.name}" for api in APIS.values() for e in api.endpoints if e.partitioned}
    nodes = {uid: node for uid, node in parsed["nodes"].items() if node["resource_type"] == "model"}
    parents = parsed["parent_map"]
    daily = {uid for uid, node in nodes.items() if DAILY in node["tags"]}
    for uid in sorted(daily):
        if wrong := [p for p in parents.get(uid, ()) if p not in daily | dated]:
            raise ValueError(f"dbt model {nodes[uid]['name']} is tagged daily but reads {', '.join(wrong)}, "
                             "which is not: its every day would be rebuilt whenever that refreshes")
    over_days = set(daily)  # the daily models and every model downstream of one
    while more := {uid for uid in nodes.keys() - over_days if over_days & set(parents.get(uid, ()))}:
        over_days |= more

    def names(uids: set[str]) -> list[str]:
        return sorted(nodes[uid]["name"] for uid in uids)

    return Models(names(daily), names(nodes.keys() - over_days), names(over_days - daily))


if __name__ == "__main__":
    prepare()
