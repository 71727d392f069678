"""Converters for command-line and ini option values, shared by the CLI and the plugin.

Each takes the option's text and returns the value, or raises
``argparse.ArgumentTypeError`` with a message that says what was expected (argparse and
pytest turn it into a usage error naming the option).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

__all__ = ["choice", "integer", "positive_float"]


def integer(minimum: int) -> Callable[[str], int]:
    """An integer >= ``minimum``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    convert.__name__ = f"integer>={minimum}"
    return convert


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text!r}")
    return value


def choice(options: Sequence[str]) -> Callable[[str], str]:
    """One of ``options``."""

    def convert(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(options)}; got {text!r}")
        return text

    convert.__name__ = "choice"
    return convert
