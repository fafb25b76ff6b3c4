"""OAuth client credentials renewed ahead of expiry, and once more when the API answers 401.

dlt's ``OAuth2ClientCredentials`` renews a token only when its own clock says it expired, so a
token revoked a moment early (clock skew, rotation) fails the load with a 401. The vendors' own
SDKs renew ahead and retry once on a 401; so does this.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from dlt.common.configuration import configspec
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from requests import Response

from comms_assets.engine.errors import SECRETS

RENEWED = "_comms_renewed"  # marks a request already sent again with a new token


@configspec
class RenewingClientCredentials(OAuth2ClientCredentials):
    """Renews when a third of the token's life (at most a minute) is left, and on a 401."""

    def obtain_token(self) -> None:
        super().obtain_token()
        SECRETS.add(self.access_token)  # a live credential for its hour: blanked wherever it is echoed
        life = (self.token_expiry - pendulum.now()).total_seconds()
        self.token_expiry = self.token_expiry - timedelta(seconds=min(60.0, life / 3))

    def renew_on_401(self, response: Response, *args: Any, **kwargs: Any) -> Response | None:
        """A response hook: a 401 is answered by a new token and the same request, once."""
        if response.status_code != 401 or getattr(response.request, RENEWED, False):
            return None
        self.obtain_token()
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {self.access_token}"
        again.hooks = {"response": []}  # the hooks still to run see the new response
        setattr(again, RENEWED, True)
        response.close()
        return self.session.send(again, **kwargs)
