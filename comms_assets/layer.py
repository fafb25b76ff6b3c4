"""The unified layer's dbt project as plain data, without dbt or Dagster (quick to import): where
it lives, its parsed manifest, and which of its models follow the daily partitions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from comms_assets.catalog import APIS

GROUP = "comms"  # the models' Dagster group, and the dbt project's name
DAILY = "daily"  # the dbt tag of the models that follow the daily partitions
PROJECT_DIR = Path(__file__).parent / "dbt_project"
MANIFEST = PROJECT_DIR / "target" / "manifest.json"


def read_manifest() -> dict[str, Any]:
    """The manifest ``make install`` prepared (``python -m comms_assets.unified``)."""
    return json.loads(MANIFEST.read_text())


def models(parsed: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(daily, others): the models tagged ``daily`` follow the daily partitions, the rest are
    rebuilt whole. A daily model reads only dated endpoints and daily models: one that read a
    snapshot (``people``) would be rebuilt for every day each time the snapshot refreshes."""
    dated = {f"source.{GROUP}.{api.name}.{e.name}" for api in APIS.values() for e in api.endpoints if e.partitioned}
    nodes = {uid: node for uid, node in parsed["nodes"].items() if node["resource_type"] == "model"}
    daily = {uid for uid, node in nodes.items() if DAILY in node["tags"]}
    for uid in sorted(daily):
        if wrong := [p for p in parsed["parent_map"].get(uid, ()) if p not in daily | dated]:
            raise ValueError(f"dbt model {nodes[uid]['name']} is tagged daily but reads {', '.join(wrong)}, "
                             "which is not: its every day would be rebuilt whenever that refreshes")
    return sorted(nodes[uid]["name"] for uid in daily), sorted(nodes[uid]["name"] for uid in nodes.keys() - daily)
