"""The unified layer: the dbt project in ``dbt_project/`` as Dagster assets of the ``comms`` group.

dagster-dbt turns each model into an asset and each dbt test into an asset check (error-severity
tests, the keys and the reconciliations, are blocking). The models' dependencies on the raw assets
come from the dbt sources, which are generated from the catalog (``sources_yaml``), so the
lineage is exactly what each model reads. The models tagged ``daily`` follow the daily partitions:
a run for some days passes them as ``COMMS_DBT_MIN_DATE``/``COMMS_DBT_MAX_DATE`` and the incremental
models rebuild exactly those days. They read only dated endpoints and each other, so a refresh of
a snapshot (people) rebuilds no day; the marts are views that name the people when read.
"""

import contextlib
import functools
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev
from packaging import version

from comms_assets import warehouse
from comms_assets.assets import POOL, WAREHOUSE_TAGS, partitions_def
from comms_assets.catalog import APIS
from comms_assets.layer import DAILY, GROUP, PROJECT_DIR, models, read_manifest

SOURCES = PROJECT_DIR / "models" / "staging" / "_sources.yml"
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's saved parse, beside the manifest
# Every API's days start together unless configured otherwise: the layer's days start with the earliest.
DAYS = min((partitions_def(api) for api in APIS.values()), key=lambda days: days.start)

project = DbtProject(project_dir=PROJECT_DIR)


def sources_yaml() -> str:
    """The dbt sources: one per API (its dataset), a table per endpoint, each naming the Dagster
    asset that loads it, with the catalog's column descriptions. (Nested lists, which dlt loads
    into child tables, are read through their parent's source: the ``nested`` macro.)"""
    sources = []
    for api in APIS.values():
        tables = []
        for endpoint in api.endpoints:
            asset = {"dagster": {"asset_key": [api.name, endpoint.name]}}
            columns = [{"name": warehouse.column(path), "description": text}
                       for path, (_, text) in endpoint.described.items()]
            tables.append({"name": endpoint.name, "description": endpoint.description, "meta": asset,
                           "columns": columns})
        sources.append({"name": api.name, "schema": api.name, "description": f"{api.title}, as dlt loads it.",
                        "tables": tables})
    header = "# Generated from comms_assets/catalog by comms_assets/unified.py: do not edit.\n"
    return header + yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, width=120)


def prepare() -> None:
    """Write the sources and parse the project into its manifest (``make install`` runs this).

    Both files are written aside and moved into place: processes that load the definitions at
    once (a run's step processes) may all prepare, and none reads a half-written file.
    """
    text = sources_yaml()
    if not SOURCES.exists() or SOURCES.read_text() != text:
        partial = SOURCES.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(SOURCES)
    aside = Path("target", f"prepare-{os.getpid()}")
    with environment(warehouse.dbt_environment()):  # the default warehouse's profile: its runs parse partially
        invocation = dbt_resource().cli(["parse", "--quiet"], target_path=aside)
    invocation.wait()
    for name in (PARTIAL_PARSE, "manifest.json"):
        (PROJECT_DIR / aside / name).replace(project.manifest_path.with_name(name))
    shutil.rmtree(PROJECT_DIR / aside, ignore_errors=True)


def prepare_if_needed() -> None:
    """A fresh clone, a changed catalog or model, and ``dagster dev`` get a current manifest at load time."""
    if using_dagster_dev() or not project.manifest_path.exists() or not SOURCES.exists() \
            or SOURCES.read_text() != sources_yaml() or _edited_since(project.manifest_path.stat().st_mtime):
        prepare()


def manifest() -> dict[str, Any]:
    """The project's manifest, prepared first when it is missing or stale."""
    prepare_if_needed()
    return read_manifest()


def _edited_since(moment: float) -> bool:
    files = [*PROJECT_DIR.glob("*.yml"), *(f for d in ("models", "macros", "tests") for f in (PROJECT_DIR / d).rglob("*")
                                           if f.suffix in (".sql", ".yml"))]
    return any(f.stat().st_mtime > moment for f in files)


# Dagster's eager condition, on every day rather than the latest only: a day loaded by a daily
# schedule, a catch-up or a backfill reaches the models (once every input of that day is loaded).
UPDATE_WITH_INPUTS = dg.AutomationCondition.eager().without(
    dg.AutomationCondition.in_latest_time_window()).with_label("eager, on every day")
# The models rebuilt whole (snapshots, and the views that name people in the daily facts): eager,
# once each input has been loaded at all. Eager's own "no input missing" would wait for every day
# since the partitions' start to be loaded before a view over the daily facts is first made.
UPDATE_WHOLE = (dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
                .without(~dg.AutomationCondition.any_deps_missing())
                & dg.AutomationCondition.all_deps_match(~dg.AutomationCondition.missing())
                ).with_label("eager, once every input has a load")


class Translator(DagsterDbtTranslator):
    """Models as ``comms/<model>`` in the ``comms`` group, updated when their inputs are (through
    the ``comms_automation`` sensor)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)  # the raw asset, from the source's meta
        return dg.AssetKey([GROUP, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition:
        return UPDATE_WITH_INPUTS if DAILY in dbt_resource_props.get("tags", ()) else UPDATE_WHOLE

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        """dbt's test as a check, described (dbt's generic tests carry no description of their own)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        node = manifest["nodes"][unique_id]
        if node["description"]:
            return spec._replace(description=node["description"])
        warns = str(node["config"].get("severity", "")).lower() == "warn"
        return spec._replace(description=describe_test(node.get("test_metadata", {}))
                             + (" (a warning otherwise)." if warns else "."))


def describe_test(metadata: Mapping[str, Any]) -> str:
    """What a generic dbt test asserts, in words, from its name and arguments."""
    args = metadata.get("kwargs", {})
    column = args.get("column_name", "")
    match metadata.get("name"):
        case "unique":
            return f"{column} is unique"
        case "not_null":
            return f"{column} is never null"
        case "accepted_values":
            return f"{column} is one of {', '.join(yaml.safe_load(str(args['values'])))}"
        case "relationships":
            target = re.sub(r"ref\('(\w+)'\)", r"\1", args["to"])
            return f"Each {column} is in {target}.{args['field']}"
        case "reconciles_with_raw":
            return ("Per source and UTC day of the run's days: exactly the raw tables' distinct keys, each once "
                    "(a row lost or doubled between raw and here fails)")
        case "adds_up_to_raw":
            return f"Per UTC day of the run's days, {args['counter']} adds up to the raw rows it counts"
        case name:
            return f"dbt test {name}"


def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, days: tuple[str, str] | None = None) -> Iterator:
    """``dbt build`` of the selected models and their tests, against the raw tables' warehouse.

    The profile reads the warehouse from the environment (``profiles.yml``), which the dbt
    process inherits, and so do the run's days (``in_window``): passed as ``--vars`` they would
    make dbt parse the whole project again, while the prepared parse serves every run on the
    default warehouse. On DuckDB the step holds the file's lock like every loading step. A test
    of several models (a reconciliation) runs when its model is built, not when only one of its
    inputs is (dbt's ``buildable`` indirect selection; the default would run it on a missing table).
    """
    first, end = days or ("", "")
    run_environment = {**warehouse.dbt_environment(), "DBT_INDIRECT_SELECTION": "buildable",
                       "COMMS_DBT_MIN_DATE": first, "COMMS_DBT_MAX_DATE": end}
    lock = warehouse.exclusive(warehouse.pipeline("dbt", GROUP), lambda: context.log.info("waiting for the warehouse"))
    with lock, tempfile.TemporaryDirectory(prefix="comms-dbt-") as artifacts:  # dbt's per-run files, not kept
        prepared = project.manifest_path.with_name(PARTIAL_PARSE)
        if prepared.exists():
            shutil.copyfile(prepared, Path(artifacts, PARTIAL_PARSE))
        with environment(run_environment):  # read once, as the dbt process starts
            invocation = dbt.cli(BUILD, context=context, target_path=Path(artifacts))
        yield from invocation.stream()


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block, restored after it: the dbt process
    started in it inherits them, and the next run in this process (one in-process execution after
    another) does not."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# A build of the models and their data tests; the unit tests (fixed inputs, no warehouse data) run
# in CI alone: ``dbt test --select test_type:unit``.
BUILD = ["build", "--exclude-resource-type", "unit_test"]


def dbt_layer() -> list[dg.AssetsDefinition]:
    """The daily models (partitioned like the raw days) and the others, as two dbt multi-assets."""
    parsed = manifest()  # parsed once, for both multi-assets
    translator = Translator()
    layer = models(parsed)

    @dbt_assets(manifest=parsed, project=project, select=" ".join(layer.daily), name="comms_daily",
                partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), dagster_dbt_translator=translator,
                pool=POOL, op_tags=WAREHOUSE_TAGS)
    def comms_daily(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        window = context.partition_time_window
        yield from build(context, dbt, (f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}"))

    @dbt_assets(manifest=parsed, project=project, select=" ".join(layer.snapshots + layer.views), name="comms_snapshots",
                dagster_dbt_translator=translator, pool=POOL, op_tags=WAREHOUSE_TAGS)
    def comms_snapshots(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from build(context, dbt)

    return [comms_daily, comms_snapshots]


class DbtCoreResource(DbtCliResource):
    """dagster-dbt's resource for the dbt-core installed beside this Python, without two costs
    of each command that this project does not use (4.6 s of a 10 s step, measured on DuckDB).

    Before every command dagster-dbt runs ``dbt --version`` in a subprocess (2.5 s) to tell
    dbt-core from the Fusion engine, and opens an adapter of its own (2.1 s), which only its
    opt-in row-count and column-metadata fetches read. The version comes from dbt-core's package
    metadata instead, and there is no adapter: those fetches are not used here.
    """

    @functools.cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    """dbt from this environment, found beside its Python even when the virtualenv is not on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return DbtCoreResource(project_dir=project, dbt_executable=str(beside) if beside.exists() else "dbt")


if __name__ == "__main__":
    prepare()
