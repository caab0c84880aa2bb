"""A local stand-in for Infobip's SMS/MMS API, with magic numbers for every delivery story.

See README.md in this directory for the numbers and the configuration.
"""

from smsledger.adapters.infobip_simulator.server import (
    InfobipSimulator,
    RecordedRequest,
    SimulatorConfig,
    run_simulator,
)

__all__ = ["InfobipSimulator", "RecordedRequest", "SimulatorConfig", "run_simulator"]
