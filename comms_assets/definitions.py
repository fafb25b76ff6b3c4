"""The code location every command names (``-m comms_assets.definitions``): whatever ``defs/``
holds, found as ``dg`` finds it. Loading it reads files and writes none."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


def build_definitions() -> dg.Definitions:
    """Every asset, check, job, schedule, sensor and resource of ``defs/``, built anew (each
    build reads the settings in the environment: partition starts, the warehouse, the executor)."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


defs = dg.definitions(build_definitions)
