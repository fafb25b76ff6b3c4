"""A local, faithful simulator of the five APIs comms_assets loads from.

It never imports the connectors (``comms_assets.catalog``/``sources``): it is written from the
vendors' documented behaviour, so that a wrong path, selector or paging rule fails a test.
"""

from comms_assets.sandbox.data import World
from comms_assets.sandbox.faults import Fault
from comms_assets.sandbox.server import Sandbox

__all__ = ["Fault", "Sandbox", "World"]
