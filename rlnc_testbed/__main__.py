"""``python -m rlnc_testbed``: the same command line as ``rlnc-testbed``."""

from rlnc_testbed.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
