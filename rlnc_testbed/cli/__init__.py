"""The ``rlnc-testbed`` command line (``main``): thin, parses options and calls experiment/."""

from .entry import main

__all__ = ["main"]
