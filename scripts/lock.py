"""The lock of tested versions: ``python scripts/lock.py`` checks it (CI), ``--upgrade`` renews it.

Checking:

1. ``requirements.lock`` is current with ``pyproject.toml``: resolving again, with the lock's own
   versions preferred (uv keeps them unless a requirement no longer allows them), changes nothing.
2. The virtualenv holds exactly the locked versions: ``pip freeze`` against the lock, printed.

Exits non-zero, saying what differs, when either fails. ``make lock`` runs ``--upgrade`` (every
version as new as pyproject.toml allows), installs them and runs the tests.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
BIN = Path(sys.executable).parent
# The resolution, the output file and --upgrade aside.
COMPILE = ["pip", "compile", "pyproject.toml", "--extra", "test", "--extra", "production", "--python-version", "3.11",
           "--custom-compile-command", "make lock", "--quiet"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in PIN.findall(text)}


def stale() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "requirements.lock"
        shutil.copy(LOCK, again)  # the existing pins are the resolver's preferences
        subprocess.run([str(BIN / "uv"), *COMPILE, "-o", str(again)], cwd=REPO, check=True)
        return list(difflib.unified_diff(LOCK.read_text().splitlines(), again.read_text().splitlines(),
                                         "requirements.lock", "resolved again", lineterm=""))


def installed() -> dict[str, str]:
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    return {name: version for name, version in pins(frozen).items() if name != "pip"}  # the installer itself


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upgrade", action="store_true", help="resolve every version anew into requirements.lock")
    if parser.parse_args().upgrade:
        subprocess.run([str(BIN / "uv"), *COMPILE, "--upgrade", "-o", str(LOCK)], cwd=REPO, check=True)
        return 0
    diff = stale()
    locked, frozen = pins(LOCK.read_text()), installed()
    mismatched = {name: (locked.get(name), frozen.get(name)) for name in locked.keys() | frozen.keys()
                  if locked.get(name) != frozen.get(name)}
    print(f"pip freeze against requirements.lock: {len(frozen)} installed, {len(locked)} locked, "
          f"{len(mismatched)} differ")
    for name, (want, have) in sorted(mismatched.items()):
        print(f"  {name}: locked {want or '-'}, installed {have or '-'}")
    if diff:
        print("requirements.lock is stale against pyproject.toml (run `make lock`):\n" + "\n".join(diff))
    return 1 if diff or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
