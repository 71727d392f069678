"""Sans-I/O protocol layer: parameters, seeded decisions, message schemas, state machines."""

from .draws import Role, choose_failure, choose_parents, rng_for, source_bytes
from .params import FIELDS, KEEP_RULES, SCHEMES, ParameterError, Params

__all__ = [
    "FIELDS",
    "KEEP_RULES",
    "SCHEMES",
    "ParameterError",
    "Params",
    "Role",
    "choose_failure",
    "choose_parents",
    "rng_for",
    "source_bytes",
]
