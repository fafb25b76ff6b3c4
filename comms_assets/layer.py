"""The unified layer's dbt project as plain data, without dbt or Dagster (quick to import): where
it lives, its parsed manifest, and which of its models follow the daily partitions."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from comms_assets.catalog import APIS

GROUP = "comms"  # the models' Dagster group, and the dbt project's name
PROJECT_DIR = Path(__file__).parent / "dbt_project"
MANIFEST = PROJECT_DIR / "target" / "manifest.json"


def read_manifest() -> dict[str, Any]:
    """The manifest ``make install`` prepared (``python -m comms_assets.unified``)."""
    return json.loads(MANIFEST.read_text())


def models(parsed: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(daily, others): a model is daily when it reads a dated endpoint, directly or through
    other models."""
    dated = {f"source.{GROUP}.{api.name}.{e.name}" for api in APIS.values() for e in api.endpoints if e.partitioned}

    @functools.cache
    def daily(unique_id: str) -> bool:
        return unique_id in dated or any(daily(parent) for parent in parsed["parent_map"].get(unique_id, ()))

    names = sorted(node["name"] for node in parsed["nodes"].values() if node["resource_type"] == "model")
    return [n for n in names if daily(f"model.{GROUP}.{n}")], [n for n in names if not daily(f"model.{GROUP}.{n}")]
