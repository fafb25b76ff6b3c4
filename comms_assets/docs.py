"""The README's endpoint and column tables, generated from the catalog: ``python -m comms_assets.docs``.

Run with ``--check`` to fail when README.md is out of date (the tests do).
"""

from __future__ import annotations

import sys
from pathlib import Path

from comms_assets.catalog import APIS
from comms_assets.warehouse import column

README = Path(__file__).resolve().parent.parent / "README.md"


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


BLOCKS = {"endpoints": endpoint_table, "columns": column_table}


def render(readme: str) -> str:
    for name, table in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, _, rest = readme.partition(start)
        _, _, tail = rest.partition(end)
        readme = f"{head}{start}\n{table()}\n{end}{tail}"
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text()
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md's tables are out of date: run python -m comms_assets.docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
