"""Turn a failed load into one clear line: which API, which endpoint, what went wrong.

dlt wraps the real cause (an HTTP error, a paginator error) in several layers of pipeline and
extraction exceptions; users should not have to read those to learn that a key is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import requests
from dlt.extract.exceptions import PipeException
from dlt.pipeline.exceptions import PipelineStepFailed


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        step = current.exception if isinstance(current, PipelineStepFailed) else None
        current = step or current.__cause__ or current.__context__


def describe(api: str, exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``"<api>/<endpoint>: <cause>"`` with every secret value blanked out."""
    chain = list(_chain(exc))
    endpoint = next((e.pipe_name for e in chain if isinstance(e, PipeException) and e.pipe_name), None)
    http = next((e for e in chain if isinstance(e, requests.HTTPError) and e.response is not None), None)
    if http is not None:
        response = http.response
        request = response.request
        path = requests.utils.urlparse(request.url).path if request is not None else ""
        detail = response.text[:300].strip()
        cause = f"HTTP {response.status_code} {response.reason} from {request.method if request else ''} {path}: {detail}"
    else:  # the first exception that is not one of dlt's wrappers says what happened
        root = next((e for e in chain if not isinstance(e, (PipelineStepFailed, PipeException))), chain[-1])
        cause = f"{type(root).__name__}: {root}"
    where = f"{api}/{endpoint}" if endpoint else api
    message = f"{where}: {cause}"
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
