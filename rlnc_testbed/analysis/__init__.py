"""Results turned into knowledge: summaries, statistics, the JSONL history, plots and tables.

Reads records (:mod:`rlnc_testbed.protocol.records`) and parameters only; runs nothing.
"""

__all__: list[str] = []
