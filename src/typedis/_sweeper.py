"""Expiry without a cron job: a sweeper in a background thread or an asyncio task.

Each round sweeps every registered model (``typedis.models()``, read again each round) or the
models given, one partition at a time (``_maintenance.sweep_tag``: atomic script calls of the
model's ``sweep`` function), then waits ``every`` seconds. A failure is logged on the
``typedis.sweeper`` logger and the round goes on with the next partition. Within a process a
model is never swept by two sweepers at once: one that finds it busy skips it for that round.
Both sweepers run the same round (``_Rounds.round``); the asyncio one runs it in a worker
thread, so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from . import _maintenance, _registry
from ._errors import ConfigError, ModelError
from ._spec import ModelSpec

if TYPE_CHECKING:
    from ._model import Model

log = logging.getLogger("typedis.sweeper")

Failed = Callable[[str, Exception], None]
"""Told of a failure: (what was being swept, the error); the sweep goes on."""

_LIMIT = 1000  # records per script call
_busy: dict[str, threading.Lock] = {}  # model name -> held while a sweeper sweeps it
_busy_guard = threading.Lock()


def _lock(name: str) -> threading.Lock:
    with _busy_guard:
        return _busy.setdefault(name, threading.Lock())


def _logged(where: str, error: Exception) -> None:
    log.error("sweeping %s failed: %s", where, error, exc_info=error)


def sweep_model(
    model: type[Model],
    *,
    stopped: Callable[[], bool] = lambda: False,
    failed: Failed = _logged,
    progress: Callable[[int, int | None], None] | None = None,
) -> int | None:
    """Sweep every partition of ``model``, one at a time, until ``stopped()``; the records
    removed, or None when another sweeper of this process is sweeping it."""
    spec = model.__typedis_spec__
    lock = _lock(spec.name)
    if not lock.acquire(blocking=False):
        log.debug("%s is being swept by another sweeper of this process: skipped", spec.name)
        return None
    try:
        return _sweep_tags(spec, stopped, failed, progress)
    finally:
        lock.release()


def _sweep_tags(
    spec: ModelSpec,
    stopped: Callable[[], bool],
    failed: Failed,
    progress: Callable[[int, int | None], None] | None,
) -> int:
    try:
        tags = [spec.tag] if spec.tag else _maintenance.partitions(spec)
    except Exception as error:  # a sweeper outlives any failure; it is reported
        failed(f"the partitions of {spec.name}", error)
        return 0
    removed = 0
    for done, tag in enumerate(tags):
        if stopped():
            break
        try:
            removed += _maintenance.sweep_tag(spec, tag, _LIMIT)
        except Exception as error:
            failed(f"{spec.name} {tag}", error)
        if progress is not None:
            progress(done + 1, len(tags))
    return removed


def _chosen(models: Iterable[type[Model]] | None) -> tuple[type[Model], ...] | None:
    """The models given, checked (None: the registry's, read each round)."""
    if models is None:
        return None
    chosen = tuple(models)
    for model in chosen:
        spec = getattr(model, "__typedis_spec__", None)
        if not isinstance(spec, ModelSpec) or spec.abstract:
            raise ModelError(f"a sweeper sweeps concrete Model subclasses, got {model!r}")
    return chosen


def _every(every: object) -> float:
    if isinstance(every, bool) or not isinstance(every, int | float) or not 0 < every < math.inf:
        raise ConfigError(f"a sweeper's every= is a positive number of seconds, got {every!r}")
    return float(every)


class _Rounds:
    """What both sweepers share: the models, the counts, one round."""

    def __init__(self, every: object, models: Iterable[type[Model]] | None) -> None:
        self.every = _every(every)
        self.models = _chosen(models)
        self.rounds = 0
        self.removed = 0
        self.stopping = threading.Event()

    def round(self) -> None:
        models = self.models if self.models is not None else [m.model for m in _registry.models()]
        for model in models:
            if self.stopping.is_set():
                return
            self.removed += sweep_model(model, stopped=self.stopping.is_set) or 0
        self.rounds += 1


class _Counts:
    """The counts both sweepers show."""

    _rounds: _Rounds

    @property
    def every(self) -> float:
        """The seconds between the end of a round and the start of the next."""
        return self._rounds.every

    @property
    def rounds(self) -> int:
        """The rounds completed so far."""
        return self._rounds.rounds

    @property
    def removed(self) -> int:
        """The expired records removed so far."""
        return self._rounds.removed


class Sweeper(_Counts):
    """A daemon thread sweeping expired records every ``every`` seconds; ``start_sweeper()``
    starts one."""

    def __init__(self, every: float, models: Iterable[type[Model]] | None) -> None:
        self._rounds = _Rounds(every, models)
        self._thread = threading.Thread(target=self._run, name="typedis-sweeper", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether its thread runs (False once ``stop()`` has returned)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        stopping = self._rounds.stopping
        while not stopping.is_set():
            self._rounds.round()
            stopping.wait(self._rounds.every)

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the partition being swept; wait for the thread (up to ``timeout``)."""
        self._rounds.stopping.set()
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AsyncSweeper(_Counts):
    """An asyncio task sweeping expired records every ``every`` seconds; ``astart_sweeper()``
    starts one."""

    def __init__(self, every: float, models: Iterable[type[Model]] | None) -> None:
        self._rounds = _Rounds(every, models)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigError(
                "astart_sweeper() needs a running event loop: call it from async code, or use "
                "start_sweeper() for a thread"
            ) from None
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="typedis-sweeper")

    @property
    def running(self) -> bool:
        """Whether its task runs (False once ``stop()`` has returned)."""
        return not self._task.done()

    async def _run(self) -> None:
        while not self._rounds.stopping.is_set():
            await asyncio.to_thread(self._rounds.round)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._rounds.every)

    async def stop(self) -> None:
        """Stop after the partition being swept, and wait for the task."""
        self._rounds.stopping.set()
        self._wake.set()
        await self._task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def start_sweeper(every: float = 60, *, models: Iterable[type[Model]] | None = None) -> Sweeper:
    """Sweep expired records in a background (daemon) thread, every ``every`` seconds.

    Each round removes the expired records of every registered model (``typedis.models()``,
    read each round) or of ``models``, with their index entries, one partition at a time; the
    first round starts at once. A failure is logged (logger ``typedis.sweeper``) and the sweep
    goes on. Stop it with ``stop()``, or use it as a context manager.

    Args:
        every: seconds between the end of a round and the start of the next (> 0).
        models: the models to sweep, instead of every registered one.

    Returns:
        The running ``Sweeper``.

    Raises:
        ConfigError: ``every`` is not a positive number.
        ModelError: ``models`` holds something other than a concrete Model subclass.

    Examples:
        >>> with typedis.start_sweeper(every=60):
        ...     serve_forever()
    """
    return Sweeper(every, models)


def astart_sweeper(
    every: float = 60, *, models: Iterable[type[Model]] | None = None
) -> AsyncSweeper:
    """``start_sweeper()`` as an asyncio task of the running loop (its rounds run in a worker
    thread, so the loop is never blocked); stop it with ``await sweeper.stop()``.

    Raises:
        ConfigError: no event loop is running, or ``every`` is not a positive number.
        ModelError: ``models`` holds something other than a concrete Model subclass.

    Examples:
        >>> async with typedis.astart_sweeper(every=60):
        ...     await serve_forever()
    """
    return AsyncSweeper(every, models)
