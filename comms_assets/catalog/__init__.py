"""The catalog: every endpoint of the five APIs, declared once, as data."""

from comms_assets.catalog import gong, justcall, lacrm, ringcentral, sendpulse
from comms_assets.catalog.model import Api, Endpoint, PerListed, Retry, Window

APIS: dict[str, Api] = {api.name: api for api in (justcall.API, ringcentral.API, gong.API, sendpulse.API, lacrm.API)}

__all__ = ["APIS", "Api", "Endpoint", "PerListed", "Retry", "Window"]
