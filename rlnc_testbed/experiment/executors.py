"""Where a sweep's chunks run: in this process, or on a Dask cluster.

A sweep with an executor (:func:`rlnc_testbed.experiment.runner.run_sweep`) is cut into
chunks - one point and a range of its trials, :func:`~rlnc_testbed.experiment.runner.run_chunk`
- and an :class:`Executor` runs them: ``run(fn, tasks, on_done)`` calls ``fn(*task)`` for every
task, wherever it likes and in any order, and calls ``on_done(index, result)`` *in the calling
thread* as each one finishes (so histories and progress bars are written by the caller only).
Since every draw is keyed by (seed, trial, ...), where and in which order chunks run changes
no record.

- :class:`LocalExecutor` runs the tasks one after the other, here.
- :class:`DaskExecutor` submits them to a Dask distributed scheduler (``pip install
  rlnc-testbed[dask]``): the one at ``scheduler`` (``tcp://HOST:PORT``; its workers need the
  same rlnc-testbed version), or a ``distributed.LocalCluster`` of ``workers`` worker
  processes on 127.0.0.1 started for the run. A task that raises, or whose worker dies, is
  run again (``retries`` times for an exception, Dask's ``allowed-failures`` for a lost
  worker); one that still fails cancels the rest and its exception is raised here.

Dask is imported only when a :class:`DaskExecutor` starts, so the package imports without it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol

from ..protocol.params import ParameterError

__all__ = [
    "DASK_HINT",
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "make_executor",
]

#: The executors ``sweep --executor`` offers.
EXECUTORS = ("local", "dask")
#: How to get Dask when it is missing.
DASK_HINT = (
    "--executor dask needs Dask distributed: pip install 'rlnc-testbed[dask]' "
    "(or pip install 'dask[distributed]')"
)
#: Default automatic retries of a chunk that raised.
DEFAULT_RETRIES = 2


class Executor(Protocol):
    """Runs ``fn(*task)`` for every task; ``on_done(index, result)`` here as each finishes."""

    name: str

    def run(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        on_done: Callable[[int, Any], None],
    ) -> None: ...


class LocalExecutor:
    """Every task in this process, in order."""

    name = "local"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        on_done: Callable[[int, Any], None],
    ) -> None:
        for index, task in enumerate(tasks):
            on_done(index, fn(*task))


class DaskExecutor:
    """Tasks on a Dask distributed cluster; use as a context manager (it connects on enter
    and, for a cluster it started, stops it on exit).

    ``scheduler`` is a scheduler's address (``tcp://HOST:PORT``); None starts a
    ``LocalCluster`` of ``workers`` single-threaded worker processes (threads of this process
    with ``processes=False``) listening on 127.0.0.1 only (its HTTP server on a free loopback
    port). ``retries`` is
    how many times a task that raised is run again. ``timeout`` bounds connecting, in
    seconds."""

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        workers: int = 1,
        processes: bool = True,
        retries: int = DEFAULT_RETRIES,
        timeout: float = 30.0,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers must be an integer >= 1; got {workers!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ParameterError(f"retries must be an integer >= 0; got {retries!r}")
        if scheduler is not None and not scheduler.startswith(("tcp://", "tls://")):
            raise ParameterError(f"a Dask scheduler is tcp://HOST:PORT; got {scheduler!r}")
        self.scheduler = scheduler
        self.workers = workers
        self.processes = processes
        self.retries = retries
        self.timeout = timeout
        self._cluster: Any = None
        self._client: Any = None

    @property
    def address(self) -> str:
        """The scheduler's address (once entered)."""
        if self._client is None:
            raise RuntimeError("the executor has not started")
        return str(self._client.scheduler.address)

    def __enter__(self) -> DaskExecutor:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ParameterError(f"{DASK_HINT} ({exc})") from None
        level = _dask_log_level()
        logging.getLogger("distributed").setLevel(level)
        try:
            if self.scheduler is None:
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=self.processes,
                    silence_logs=level,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # its HTTP server: loopback, free port
                    protocol="tcp",
                )
                self._client = Client(self._cluster, timeout=self.timeout)
            else:
                self._client = Client(self.scheduler, timeout=self.timeout)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close(timeout=self.timeout)
        if cluster is not None:
            cluster.close(timeout=self.timeout)

    def run(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        on_done: Callable[[int, Any], None],
    ) -> None:
        if self._client is None:
            raise RuntimeError("enter the DaskExecutor (with ...) before running tasks")
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:12]
        futures = {
            self._client.submit(
                fn, *task, key=f"rlnc-chunk-{run_id}-{index}", retries=self.retries, pure=False
            ): index
            for index, task in enumerate(tasks)
        }
        try:
            for future in as_completed(futures):
                on_done(futures[future], future.result())
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self._client.cancel(pending)


def _dask_log_level() -> int:
    """Dask's own log level: what ``--log-level`` asked for when it is info or debug, else
    nothing (Dask logs its start and stop at info, and a worker's heartbeat to a scheduler
    that is closing at error; a chunk's failure comes back as its exception anyway)."""
    root = logging.getLogger().getEffectiveLevel()
    return root if root <= logging.INFO else logging.CRITICAL


def make_executor(
    name: str, *, scheduler: str | None = None, workers: int = 1
) -> LocalExecutor | DaskExecutor:
    """The executor ``sweep --executor NAME [--scheduler ADDRESS]`` asks for (not started)."""
    if name == "local":
        if scheduler is not None:
            raise ParameterError("--scheduler is for --executor dask")
        return LocalExecutor()
    if name == "dask":
        return DaskExecutor(scheduler, workers=workers)
    raise ParameterError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
