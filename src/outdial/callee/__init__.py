"""The simulated callee: a SIP endpoint on loopback that answers per persona and talks back (issue 5)."""

from outdial.callee.engine import CalleeCall, Said, SimulatedCallee
from outdial.callee.persona import Persona, PersonaError, Reply, load_persona, parse_persona

__all__ = [
    "CalleeCall",
    "Persona",
    "PersonaError",
    "Reply",
    "Said",
    "SimulatedCallee",
    "load_persona",
    "parse_persona",
]
