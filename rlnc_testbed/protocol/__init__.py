"""Sans-I/O protocol layer: parameters, records, specified draws, round rules, message schemas,
the server's round control."""

from .draws import DrawStream, Role, stream_for, stream_key
from .params import FIELDS, KEEP_RULES, SCHEMES, ParameterError, Params
from .records import VERDICTS, RoundRecord, TrialRecord, verdict_of

__all__ = [
    "FIELDS",
    "KEEP_RULES",
    "SCHEMES",
    "VERDICTS",
    "DrawStream",
    "ParameterError",
    "Params",
    "Role",
    "RoundRecord",
    "TrialRecord",
    "stream_for",
    "stream_key",
    "verdict_of",
]
