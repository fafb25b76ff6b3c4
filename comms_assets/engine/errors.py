"""Turn a failed load into one clear line: which API, which endpoint, what went wrong.

dlt wraps the real cause (an HTTP error, a paginator error) in several layers of pipeline and
extraction exceptions; users should not have to read those to learn that a key is wrong.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

import requests
from dlt.extract.exceptions import PipeException
from dlt.pipeline.exceptions import PipelineStepFailed

CUT = 300  # characters of a response body an error repeats
# Whatever follows an auth scheme in text (an echoed header) is a credential, known or not.
SCHEMES = re.compile(r"(?i)\b(Bearer|Basic|Token)(\s+|%20|\+)[A-Za-z0-9._~+/=%-]{8,}")


class Secrets:
    """Every secret this process has handled, in every form text may carry it: as given, base64
    (an HTTP Basic header) and URL-encoded (a form body). Credentials, the values derived from
    them for a header (Gong's ``key:secret``), and the tokens obtained with them all register."""

    def __init__(self) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        forms = {form for value in values if value and len(value) >= 4
                 for form in (value, base64.b64encode(value.encode()).decode(), quote(value, safe=""),
                              quote_plus(value))}
        with self._lock:
            self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)

    def blank(self, text: str) -> str:
        """``text`` with every known secret, and anything after an auth scheme, as ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, "***")
        return SCHEMES.sub(r"\1 ***", text)


SECRETS = Secrets()


class Blanked(logging.Filter):
    """Blanks secrets in the records of a logger (dlt's, whose messages may quote a response)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if (blanked := SECRETS.blank(message)) != message:
            record.msg, record.args = blanked, None
        return True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        step = current.exception if isinstance(current, PipelineStepFailed) else None
        current = step or current.__cause__ or current.__context__


def describe(api: str, exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``"<api>/<endpoint>: <cause>"`` with every secret blanked out (``SECRETS`` and ``secrets``),
    before a response body is cut short, so no part of a secret survives the cut."""
    SECRETS.add(*secrets)
    chain = list(_chain(exc))
    endpoint = next((e.pipe_name for e in chain if isinstance(e, PipeException) and e.pipe_name), None)
    http = next((e for e in chain if isinstance(e, requests.HTTPError) and e.response is not None), None)
    if http is not None:
        response = http.response
        request = response.request
        path = requests.utils.urlparse(request.url).path if request is not None else ""
        detail = SECRETS.blank(response.text).strip()
        detail = detail if len(detail) <= CUT else detail[:CUT] + "…"
        method = request.method if request else ""
        cause = f"HTTP {response.status_code} {response.reason} from {method} {path}: {detail}"
    else:  # the first exception that is not one of dlt's wrappers says what happened
        root = next((e for e in chain if not isinstance(e, (PipelineStepFailed, PipeException))), chain[-1])
        cause = f"{type(root).__name__}: {root}"
    where = f"{api}/{endpoint}" if endpoint else api
    return SECRETS.blank(f"{where}: {cause}")
