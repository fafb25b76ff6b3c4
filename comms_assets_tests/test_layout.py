"""The house's map: which part imports which, and README's map of the code against the folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from comms_assets_tests.conftest import REPO

PACKAGE = REPO / "comms_assets"
CONNECTORS = ("catalog", "engine", "defs")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def imported_by(folder: str) -> dict[Path, set[str]]:
    return {path: imports(path) for path in (PACKAGE / folder).rglob("*.py")}


def test_the_sandbox_and_the_connectors_never_import_each_other() -> None:
    """The sandbox is written from the APIs' documentation: sharing code with the connectors, both
    would agree by construction and a wrong path or paging rule would pass every test."""
    for path, names in imported_by("sandbox").items():
        assert not {n for n in names if n.startswith("comms_assets.") and not n.startswith("comms_assets.sandbox")}, (
            path
        )
    for folder in CONNECTORS:
        for path, names in imported_by(folder).items():
            assert not {n for n in names if n.startswith("comms_assets.sandbox")}, path


def test_the_engine_and_the_catalog_import_neither_dagster_nor_the_definitions() -> None:
    for folder in ("engine", "catalog"):
        for path, names in imported_by(folder).items():
            assert not {n for n in names if n.split(".")[0] == "dagster" or n.startswith("dagster_")}, path
            assert not {n for n in names if n.startswith(("comms_assets.defs", "comms_assets.definitions"))}, path


def test_a_definitions_module_imports_no_sibling_but_what_they_share() -> None:
    for path, names in imported_by("defs").items():
        home = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])  # its own package
        sideways = {
            n
            for n in names
            if n.startswith("comms_assets.defs.") and n != "comms_assets.defs.shared" and not n.startswith(f"{home}.")
        }
        assert not sideways, f"{path.relative_to(REPO)} imports {sideways}"


def test_readmes_map_names_every_module_and_folder_of_the_package() -> None:
    """Each module and folder of the package's top level, of ``engine/`` and of ``defs/`` has its
    line in README's map, and every line names one that exists."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## How the code is laid out", 1)[1].split("```", 2)[1]
    mapped: set[str] = set()
    folder = ""
    for line in block.splitlines():
        if entry := re.match(r"^( {2,})([\w.]+/?) {2,}", line):
            depth, name = len(entry.group(1)) // 2, entry.group(2)
            folder = name if depth == 1 and name.endswith("/") else folder if depth == 2 else ""
            path = f"{folder}{name}" if depth == 2 else name
            mapped.add(path)
            mapped |= {f"{folder if depth == 2 else ''}{also}" for also in re.findall(r"([\w]+\.py):", line)}
    actual = {child_name(p, PACKAGE) for p in PACKAGE.iterdir() if is_part(p)}
    for inner in ("engine", "defs"):
        actual |= {f"{inner}/{child_name(p, PACKAGE / inner)}" for p in (PACKAGE / inner).iterdir() if is_part(p)}
    assert mapped == actual


def is_part(path: Path) -> bool:
    if path.name.startswith(("_", ".")) or path.name in ("target", "logs"):
        return False
    return path.suffix == ".py" or (path.is_dir() and any(path.iterdir()) and path.name != "__pycache__")


def child_name(path: Path, parent: Path) -> str:
    return f"{path.relative_to(parent)}/" if path.is_dir() else path.name
