"""Dagster resources: the credentials of each API, read only when a run needs them."""

from __future__ import annotations

import dagster as dg
import dlt

from comms_assets.catalog import APIS


class MissingCredentials(dg.Failure):
    """Raised before any request when an API's environment variables are not set."""


def secret(name: str) -> str | None:
    """An environment variable, or the same name (lower case) in ``.dlt/secrets.toml``."""
    return dlt.secrets.get(name.lower(), str)


class ApiCredentials(dg.ConfigurableResource):
    """The credentials of one API, read in the step that loads it, never before.

    Values come from environment variables (or ``.dlt/secrets.toml``); they never enter Dagster
    config, run metadata or logs, and definitions load without them.
    """

    api: str

    def values(self) -> dict[str, str]:
        """The first complete set of the API's variables; otherwise fail naming what is missing."""
        sets = APIS[self.api].credentials
        found = {name: value for names in sets for name in names if (value := secret(name))}
        for names in sets:
            if all(name in found for name in names):
                return {name: found[name] for name in names}
        missing = [name for name in sets[0] if name not in found]
        alternatives = " or ".join("+".join(names) for names in sets[1:])
        hint = f" (or set {alternatives})" if alternatives else ""
        raise MissingCredentials(f"{self.api}: missing environment variable(s) {', '.join(missing)}{hint}")


def credential_resources() -> dict[str, ApiCredentials]:
    return {name: ApiCredentials(api=name) for name in APIS}
