"""The five simulated APIs, each written from its vendor's documented behaviour."""

from comms_assets.sandbox.apis.gong import Gong
from comms_assets.sandbox.apis.justcall import JustCall
from comms_assets.sandbox.apis.lacrm import Lacrm
from comms_assets.sandbox.apis.ringcentral import RingCentral
from comms_assets.sandbox.apis.sendpulse import SendPulse

API_CLASSES = (JustCall, RingCentral, Gong, SendPulse, Lacrm)
