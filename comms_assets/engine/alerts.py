"""Where alerts go: ``COMMS_ALERT_WEBHOOK``, when one is configured (the run-failure and the stale
alerts post the same line)."""

from __future__ import annotations

import json
import os

import requests

WEBHOOK_VARIABLE = "COMMS_ALERT_WEBHOOK"


class AlertNotDelivered(RuntimeError):
    """The alert webhook refused the alert or could not be reached."""


def deliver(line: str, details: dict) -> None:
    """Post an alert to ``COMMS_ALERT_WEBHOOK`` when one is configured. A webhook that fails
    fails the sensor's tick, so the UI shows it, without the webhook's address."""
    if url := os.environ.get(WEBHOOK_VARIABLE):
        try:
            response = requests.post(url, data=json.dumps({"text": line, **details}),
                                     headers={"Content-Type": "application/json"}, timeout=10)
            response.raise_for_status()
        except requests.RequestException as exc:  # the webhook's address may hold a token: never show it
            status = exc.response.status_code if exc.response is not None else type(exc).__name__
            raise AlertNotDelivered(f"the alert did not reach {WEBHOOK_VARIABLE}: {status} ({line[:200]})") from None
