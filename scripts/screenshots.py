"""The pictures in ``docs/ui.md``, taken by the browser test of the UI path.

``python scripts/screenshots.py`` runs ``comms_assets_tests/test_browser.py`` (``make dev`` on a
throw-away instance, materializations by clicking, in Debian's Chromium) with its pictures going to
a temporary directory, and copies them to ``docs/`` once the test has passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "comms_assets_tests/test_browser.py"


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        test = subprocess.run([sys.executable, "-m", "pytest", TEST, "-n", "0", "-q"], cwd=REPO,
                              env={**os.environ, "TEST_SCREENSHOTS_DIR": folder}, check=False)
        if test.returncode != 0:
            print("the browser test failed: docs/ is left as it was", file=sys.stderr)
            return test.returncode
        for picture in sorted(Path(folder).glob("*.png")):
            shutil.copy(picture, REPO / "docs" / picture.name)
            print(f"wrote docs/{picture.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
