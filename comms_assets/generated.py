"""The files generated from the catalog, committed and kept current by a test:
``python -m comms_assets.generated`` rewrites them (``--check``: fails naming those out of date).

* the dbt sources, ``dbt_project/models/staging/_sources.yml``: a source per API, a table per endpoint;
* in ``docs/``: the endpoint and column tables (``endpoints.md``), the settling windows
  (``accounts.md``), the dbt models and their lineage (``dbt-layer.md``, from the dbt manifest
  and the asset graph: run ``make install`` first when the models or the sources changed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from comms_assets.catalog import APIS
from comms_assets.engine.layer import GROUP, PROJECT_DIR, models, read_manifest
from comms_assets.engine.warehouse import column

DOCS = Path(__file__).resolve().parent.parent / "docs"
SOURCES = PROJECT_DIR / "models" / "staging" / "_sources.yml"


def sources_yaml() -> str:
    """The dbt sources: one per API (its dataset), a table per endpoint, each naming the Dagster
    asset that loads it, with the catalog's column descriptions. (Nested lists, which dlt loads
    into child tables, are read through their parent's source: the ``nested`` macro.)"""
    sources = []
    for api in APIS.values():
        tables = []
        for endpoint in api.endpoints:
            asset = {"dagster": {"asset_key": [api.name, endpoint.name]}}
            columns = [{"name": column(path), "description": text} for path, (_, text) in endpoint.described.items()]
            tables.append({"name": endpoint.name, "description": endpoint.description, "meta": asset,
                           "columns": columns})
        sources.append({"name": api.name, "schema": api.name, "description": f"{api.title}, as dlt loads it.",
                        "tables": tables})
    header = "# Generated from comms_assets/catalog by `python -m comms_assets.generated`: do not edit.\n"
    return header + yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, width=120)


def endpoint_table() -> str:
    lines = ["| API | asset key | HTTP call | primary key | loads |", "|---|---|---|---|---|"]
    for api in APIS.values():
        for e in api.endpoints:
            key = ", ".join(f"`{k}`" for k in e.primary_key) or "none (snapshot)"
            loads = "daily partitions, merge" if e.partitioned else f"unpartitioned, {e.write_disposition}"
            if e.per_listed:
                loads += f", per record of `{e.per_listed.json['Function']}`"
            lines.append(f"| {api.title} | `{api.name}/{e.name}` | `{e.http_call}` | {key} | {loads} |")
    return "\n".join(lines)


def column_table() -> str:
    lines = ["| asset key | column | type | meaning |", "|---|---|---|---|"]
    for api in APIS.values():
        for e in api.endpoints:
            for path, (kind, text) in e.described.items():
                lines.append(f"| `{api.name}/{e.name}` | `{column(path)}` | {kind} | {text} |")
    return "\n".join(lines)


def model_table() -> str:
    manifest = read_manifest()
    daily = models(manifest).daily
    lines = ["| model | built as | days | what it holds |", "|---|---|---|---|"]
    nodes = sorted((n for n in manifest["nodes"].values() if n["resource_type"] == "model"),
                   key=lambda n: (n["fqn"][1] != "marts", n["name"]))
    for node in nodes:
        text = " ".join(node["description"].split()) or "—"
        days = "daily partitions" if node["name"] in daily else "whole"
        lines.append(f"| `{GROUP}/{node['name']}` | {node['config']['materialized']} | {days} | {text} |")
    return "\n".join(lines)


def lineage() -> str:
    """A Mermaid picture of the raw assets each model reads, from the code location's asset graph."""
    from comms_assets.definitions import build_definitions  # the whole code location: only here

    graph = build_definitions().resolve_asset_graph()
    edges = sorted((parent.to_user_string(), key.to_user_string()) for key in graph.get_all_asset_keys()
                   if key.path[0] == GROUP for parent in graph.get(key).parent_keys)
    node = lambda key: key.replace("/", "_")
    raw = sorted({parent for parent, _ in edges if not parent.startswith(GROUP)})
    lines = ["```mermaid", "flowchart LR"]
    for api in (api for api in APIS if any(k.startswith(f"{api}/") for k in raw)):
        lines += [f"  subgraph {api}"] + [f'    {node(k)}["{k.split("/")[1]}"]' for k in raw
                                          if k.startswith(f"{api}/")] + ["  end"]
    lines += ["  subgraph comms"] + [f'    {node(k)}["{k.split("/")[1]}"]' for k in sorted(
        {child for _, child in edges} | {p for p, _ in edges if p.startswith(GROUP)})] + ["  end"]
    lines += [f"  {node(parent)} --> {node(child)}" for parent, child in edges]
    return "\n".join([*lines, "```"])


def settling_table() -> str:
    lines = ["| API | days re-read by each daily run | why | read from |", "|---|---|---|---|"]
    for api in APIS.values():
        if dated := [e for e in api.endpoints if e.partitioned]:
            feeds = ", ".join(f"`{e.name}`: `{e.sync.path.rsplit('/', 1)[-1]}` (changes and deletions)"
                              for e in dated if e.sync)
            lines.append(f"| {api.title} | {api.settling_days} | {api.settling_why} | "
                         f"{feeds + '; the rest: ' if feeds else ''}the date filter |")
    return "\n".join(lines)


# Each page's generated blocks, between ``<!-- name:start -->`` and ``<!-- name:end -->``.
PAGES = {"endpoints.md": {"endpoints": endpoint_table, "columns": column_table},
         "accounts.md": {"settling": settling_table},
         "dbt-layer.md": {"models": model_table, "lineage": lineage}}


def render(page: str, text: str) -> str:
    for name, table in PAGES[page].items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise ValueError(f"docs/{page} has no {start} ... {end} block")
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f"{head}{start}\n{table()}\n{end}{tail}"
    return text


def current() -> dict[Path, str]:
    """Each generated file as it should read now."""
    return {SOURCES: sources_yaml(), **{DOCS / page: render(page, (DOCS / page).read_text()) for page in PAGES}}


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    stale = {path: text for path, text in current().items() if not path.exists() or path.read_text() != text}
    if stale and "--check" in argv:
        names = ", ".join(str(path.relative_to(root)) for path in stale)
        print(f"{names} out of date: run python -m comms_assets.generated", file=sys.stderr)
        return 1
    for path, text in stale.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
