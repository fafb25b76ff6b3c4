"""The Dagster UI path as a person takes it, in a real browser: ``make dev`` (the sandbox and
``dg dev``), the asset graph, an unpartitioned asset materialized by clicking, one day of a dated
asset through the partition dialog, both runs on the Runs page, then what the asset pages show.

Playwright (PyPI, pinned in requirements.lock) drives Debian's Chromium (``/usr/bin/chromium``,
installed by ``make test``); no browser is downloaded. The pictures it takes are the ones in
``docs/ui.md``: they go to ``TEST_SCREENSHOTS_DIR`` when set (``python scripts/screenshots.py``
copies them to ``docs/``), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from comms_assets.sandbox import World
from comms_assets.sandbox.data import today
from comms_assets_tests.conftest import REPO, clean_env, serving
from comms_assets_tests.servers import free_port

pytestmark = [pytest.mark.cli, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
# As root, without a sandbox; nothing that reaches beyond this machine (its network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
RUN_TIMEOUT_MS = 180_000  # a run, from launch to success, on two busy cores
GROUPS = ("justcall", "ringcentral", "gong", "sendpulse", "lacrm", "comms")


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[str]:
    """What ``make dev`` runs (the sandbox's 30 days and ``dg dev``), on a fresh instance and warehouse."""
    port = free_port()
    env = {**clean_env(), "DAGSTER_HOME": str(tmp_path / "home"),
           "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb")}
    with open(tmp_path / "dev.log", "w") as log:
        dev = subprocess.Popen([sys.executable, "-m", "comms_assets.dev", "--port", str(port)], cwd=REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            serving(port, dev)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(dev.pid, signal.SIGINT)
            dev.wait(timeout=60)


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEST_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.timeout(600)
def test_materialize_by_clicking_then_the_asset_pages_show_rows_checks_and_columns(
        ui: str, browser: Browser, pictures: Path) -> None:
    world = World(start=today() - timedelta(days=30))  # the world `make dev` serves
    yesterday = today() - timedelta(days=1)
    day = f"{yesterday:%Y-%m-%d}"
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)

    page.goto(f"{ui}/asset-groups")  # the asset graph: the five APIs and the dbt layer
    page.get_by_role("button", name="Skip").click()  # a fresh instance's newsletter dialog, as a person would
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    page.screenshot(path=pictures / "asset-graph.png")

    page.goto(f"{ui}/assets/justcall/users")  # unpartitioned: one click
    page.locator("button", has_text=re.compile(r"^Materialize$")).click()
    expect(page.get_by_text(re.compile(r"^Launched run "))).to_be_visible()

    page.goto(f"{ui}/assets/justcall/calls")  # daily: the partition dialog, its latest day
    page.locator("button", has_text=re.compile(r"^Materialize…$")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Latest", exact=True).click()
    expect(dialog.get_by_text(day).first).to_be_visible()
    page.screenshot(path=pictures / "partition-dialog.png")
    dialog.locator("button", has_text="Launch 1 run").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text(re.compile(r"^Launched run "))).to_be_visible()

    page.goto(f"{ui}/runs")  # both runs, as the person launched them, to success
    launched = page.locator("[class*=VirtualizedTable_row]").filter(has_text="Manually launched")
    expect(launched).to_have_count(2)
    expect(launched.filter(has_text="Success")).to_have_count(2, timeout=RUN_TIMEOUT_MS)
    expect(launched.filter(has_text="justcall / users")).to_have_count(1)
    expect(launched.filter(has_text=f"partition: {day}")).to_have_count(1)
    page.screenshot(path=pictures / "runs.png")

    calls = len(world.between("justcall/calls", yesterday, today()))
    for path, rows in ((f"justcall/calls?partition={day}", calls), ("justcall/users", world.count("justcall/users"))):
        page.goto(f"{ui}/assets/{path}")
        expect(page.get_by_text("Row count").locator("..")).to_contain_text(f"{rows:,}")
        expect(page.get_by_text("JustCall's numeric id of the record.")).to_be_visible()  # described columns
        if path.startswith("justcall/calls"):
            page.screenshot(path=pictures / "asset-justcall-calls.png")
        assert_key_checks_passed(page, f"{ui}/assets/{path.split('?')[0]}?view=checks")


def assert_key_checks_passed(page: Page, url: str) -> None:
    """The Checks tab lists both blocking key checks as succeeded."""
    page.goto(url)
    for check in ("primary_key_unique", "primary_key_not_null"):
        entry = page.get_by_text(check, exact=True).locator("xpath=ancestor::span[1]")  # its name and status
        expect(entry).to_contain_text("Succeeded")
