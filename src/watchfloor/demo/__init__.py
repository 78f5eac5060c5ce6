"""`watchfloor demo`: a fresh installation fed with built-in telemetry of a multi-stage attack."""

from watchfloor.demo.run import run_demo
from watchfloor.demo.scenario import write_scenario

__all__ = ["run_demo", "write_scenario"]
