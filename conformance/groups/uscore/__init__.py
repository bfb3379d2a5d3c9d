"""US Core 3.1.1: every search combination (SHALL, SHOULD) the Inferno US Core test kit checks,
for each profile whose type the server claims, on data the group creates (data.py, makers_*.py),
driven by the kit's list (spec.py, us-core-3.1.1-searches.json); the checks are in searches.py."""

from conformance.groups.uscore import searches

__all__ = ["searches"]
