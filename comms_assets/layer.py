"""The unified layer's dbt project as plain data, without dbt or Dagster (quick to import): where
it lives, its parsed manifest, and which of its models follow the daily partitions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from comms_assets.catalog import APIS

GROUP = "comms"  # the models' Dagster group, and the dbt project's name
DAILY = "daily"  # the dbt tag of the models that follow the daily partitions
PROJECT_DIR = Path(__file__).parent / "dbt_project"
MANIFEST = PROJECT_DIR / "target" / "manifest.json"


def read_manifest() -> dict[str, Any]:
    """The manifest ``make install`` prepared (``python -m comms_assets.unified``)."""
    return json.loads(MANIFEST.read_text())


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
