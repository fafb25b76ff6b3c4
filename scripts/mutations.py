"""Does the test suite catch the bugs it exists to catch? One-line bugs, applied one at a time.

``python scripts/mutations.py [--only NAME ...] [--root DIR] [--jobs N]`` copies the project
(without its virtualenv, warehouse and git data) once per mutation, applies that one edit to the
connector code, runs the whole suite in one process with ``-x`` (fast test files first, so a killed
mutation stops early) and reports whether some test failed ("killed") or the suite stayed green
("SURVIVED"); ``--jobs`` mutations at a time (default: one per core). A mutation whose line is not
in the code is reported as "n/a". It takes a few minutes per mutation and is not part of CI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Cheap files first, so that a killed mutation stops early.
ORDER = ("test_sources", "test_definitions", "test_docs", "test_sandbox", "test_load", "test_faults", "test_runs",
         "test_partitions", "test_automation", "test_limits", "test_batches", "test_real_sizes", "test_cli_and_ui")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    edits: tuple[tuple[str, str], ...]  # alternatives: the first ``old`` found in the file is replaced


MUTATIONS = (
    Mutation("Retry-After ignored", "comms_assets/engine/limits.py",
             (('response.headers.get("Retry-After")', 'response.headers.get("Retry-After-Ignored")'),)),
    Mutation("Retry-After ignored by dlt's session", "comms_assets/engine/sources.py",
             (("respect_retry_after_header=True", "respect_retry_after_header=False"),)),
    Mutation("one attempt fewer", "comms_assets/engine/sources.py",
             (("or retry.attempts,", "or retry.attempts - 1,"),)),
    Mutation("secrets not blanked", "comms_assets/engine/errors.py",
             (('message = message.replace(secret, "***")', "message = message"),)),
    Mutation("days counted in the cursor's offset", "comms_assets/engine/sources.py",
             (("moment.astimezone(UTC).date().isoformat()", "moment.date().isoformat()"),)),
    Mutation("inclusive window end", "comms_assets/engine/sources.py",
             (("if start <= moment < end:", "if start <= moment <= end:"),)),
    Mutation("inclusive window start missed", "comms_assets/engine/sources.py",
             (("if start <= moment < end:", "if start < moment < end:"),)),
    Mutation("shifted pages not deduplicated", "comms_assets/engine/batches.py",
             (("{DEDUPLICATED: ledger.distinct()}", "{DEDUPLICATED: True}"),
              ("distinct = known and _distinct(keys)", "distinct = True"))),
    Mutation("Gong's empty-window 404 not handled", "comms_assets/catalog/gong.py",
             (('"action": "ignore"', '"action": "ignore_nothing"'),)),
    Mutation("request state shared between endpoints", "comms_assets/engine/sources.py",
             (('thawed({"params": endpoint.params, "json": endpoint.json})',
               '{"params": endpoint.params, "json": endpoint.json}'),
              ('request = _merge({"params": endpoint.params, "json": endpoint.json}, extra or {})',
               'request = {"params": endpoint.params, "json": endpoint.json, **(extra or {})}'))),
    Mutation("stored column types ignored", "comms_assets/engine/batches.py",
             (('stored = schema.tables.get(self.table, {}).get("columns", {}) if schema and self.table else {}',
               "stored = {}"),)),
    Mutation("batch typed from its first row", "comms_assets/engine/batches.py",
             (("pa.Table.from_struct_array(pa.array(rows))", "pa.Table.from_pylist(rows)"),)),
    Mutation("a page asked for twice goes unnoticed", "comms_assets/engine/sources.py",
             (("if asked in sent:", "if False:"),)),
    Mutation("pipeline items in active statuses only", "comms_assets/catalog/lacrm.py",
             (('"StatusFilter": statuses', '"StatusFilter": []'),)),
)


def copy_project(root: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="comms-mutant-")) / "project"
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "*.duckdb", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info"))
    return target


def apply(project: Path, mutation: Mutation) -> bool:
    path = project / mutation.path
    text = path.read_text()
    for old, new in mutation.edits:
        if old in text:
            path.write_text(text.replace(old, new, 1))
            return True
    return False


def run_suite(project: Path) -> tuple[bool, str, float]:
    """(passed, first failing test, seconds) of the whole suite against the mutated copy."""
    tests = project / "comms_assets_tests"
    files = [str(tests / f"{name}.py") for name in ORDER if (tests / f"{name}.py").exists()]
    files += [str(p) for p in sorted(tests.glob("test_*.py")) if p.stem not in ORDER]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0", *files],
                          cwd=project, env={**_env(), "PYTHONPATH": str(project)}, capture_output=True,
                          text=True, timeout=3600, check=False)
    failed = next((line.split()[1] for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
    return done.returncode == 0, failed, time.monotonic() - started


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "COMMS_"))}


def check(root: Path, mutation: Mutation) -> str:
    """One mutation's line of the report."""
    project = copy_project(root)
    try:
        if not apply(project, mutation):
            return f"n/a       {mutation.name}"
        passed, failed, seconds = run_suite(project)
    finally:
        shutil.rmtree(project.parent, ignore_errors=True)
    return f"{'SURVIVED' if passed else 'killed  '}  {mutation.name:<42} {seconds:5.0f}s  {failed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="run only the mutations with these names")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project to mutate (default: this one)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutations checked at a time")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    survived = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda mutation: check(args.root, mutation), chosen):
            survived += line.startswith("SURVIVED")
            print(line, flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
