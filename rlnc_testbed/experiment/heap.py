"""The garbage collector while clusters run: a young generation scaled with the nodes here.

A 1,000-peer run in one process holds over a million long-lived objects (the aiortc state of
2,000 connections), while a thousand batches in flight keep their short-lived objects alive
across Python's young collections (every 700 allocations): they are promoted, and each time a
quarter of the heap has been promoted a full collection walks all of it: over a quarter of
such a run's CPU, measured. A young generation scaled with the nodes lets them die young.
Unlike ``gc.freeze()`` every object stays collectable. Used by :class:`~.cluster.Cluster`
(the nodes of its trial) and by a node host process (:mod:`.node_hosts`, the nodes it holds).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

__all__ = ["GC_YOUNG_PER_NODE", "young_generation"]

#: While nodes run here, the garbage collector's youngest generation is collected after this
#: many allocations per node (never fewer than Python's own threshold).
GC_YOUNG_PER_NODE = 50

#: Holders of a young_generation() in this process now, and Python's thresholds from before
#: the first.
_running = 0
_saved = gc.get_threshold()


@contextlib.contextmanager
def young_generation(nodes: int) -> Iterator[Callable[[int], None]]:
    """Collect young objects less often while ``nodes`` nodes run here: the threshold is
    ``GC_YOUNG_PER_NODE * nodes`` (runs of up to 12 nodes keep Python's own), and Python's
    thresholds are restored when the last holder in this process ends. Yields ``grow(n)``,
    for a holder whose nodes arrive one by one (a node host): the threshold for n nodes."""
    global _running, _saved
    if not _running:
        _saved = gc.get_threshold()
    _running += 1

    def grow(count: int) -> None:
        young, middle, old = gc.get_threshold()
        gc.set_threshold(max(young, GC_YOUNG_PER_NODE * count), middle, old)

    grow(nodes)
    try:
        yield grow
    finally:
        _running -= 1
        if not _running:
            gc.set_threshold(*_saved)
