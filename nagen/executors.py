"""Where labels run: in this process, on a local process pool, or on a Ray cluster.

An ``Executor`` takes a batch of architectures and returns one :class:`~nagen.labellers.LabelOutcome`
per architecture, in order, with per-label timeouts. It never raises for a bad label: a
labeller that raises, returns NaN or runs out of time gives a failed outcome with the reason.

* ``"process"`` (default): a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (safe with torch and threads). A label past its timeout has its worker killed
  and the pool is restarted, so a hung training run cannot block the study.
* ``"inline"``: in the calling process, one at a time (no start-up cost; for table lookups).
  A timeout is checked after the label returns; the label cannot be interrupted.
* ``"ray"``: Ray tasks (``address=None`` starts a local Ray with ``num_cpus`` CPUs, else
  connects to ``address``, e.g. ``"auto"`` or ``"ray://head:10001"``); a task past its timeout
  is cancelled with ``force=True``. Ray is imported only here, when this executor is made.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from nagen.errors import InvalidArgumentError, InvalidSpecError, MissingDependencyError, choices_hint
from nagen.labellers import Labeller, LabelOutcome, run_labeller

__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "RayExecutor", "get_executor", "EXECUTORS"]

#: valid ``executor=`` names
EXECUTORS = ("process", "inline", "ray")


class Executor(ABC):
    """Runs a labeller on batches of architectures.

    Args:
        timeout: seconds allowed per label (None: no limit).
    """

    def __init__(self, timeout: float | None = None) -> None:
        if timeout is not None and not timeout > 0:
            raise InvalidArgumentError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        self.timeout = timeout

    @abstractmethod
    def _run(self, labeller: Labeller, archs: list[str], space: str, objectives: list[str]) -> list[LabelOutcome]:
        """Outcomes for ``archs`` (strings of ``space``), in order."""

    def run(self, labeller: Labeller, archs: Sequence[str], space: str, objectives: Sequence[str]) -> list[LabelOutcome]:
        """Label ``archs`` (architecture strings of space ``space``): one outcome each, in order."""
        if not archs:
            return []
        return self._run(labeller, list(archs), space, list(objectives))

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InlineExecutor(Executor):
    """Labels in the calling process, one after another."""

    def _run(self, labeller: Labeller, archs: list[str], space: str, objectives: list[str]) -> list[LabelOutcome]:
        out = []
        for a in archs:
            o = run_labeller(labeller, a, space, objectives)
            if o.ok and self.timeout is not None and o.seconds > self.timeout:
                o = LabelOutcome(None, f"label took {o.seconds:.1f} s, over the {self.timeout:g} s timeout", o.seconds)
            out.append(o)
        return out


def _warm_up() -> None:
    """Import what ``run_labeller`` needs (runs once in each new worker)."""
    import nagen.benchmarks  # noqa: F401
    import nagen.spaces  # noqa: F401


class ProcessExecutor(Executor):
    """A local pool of spawned worker processes.

    Args:
        workers: pool size (default 2).
        timeout: seconds per label; a late label's worker is killed and the pool restarted.
    """

    def __init__(self, workers: int = 2, timeout: float | None = None) -> None:
        super().__init__(timeout)
        if int(workers) < 1:
            raise InvalidArgumentError(f"workers must be >= 1, got {workers!r}")
        self.workers = int(workers)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: forking a process that holds torch/OpenMP threads can deadlock
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            # start every worker and import nagen there before any label's clock starts: a
            # spawned interpreter takes seconds to import torch, which is not the label's time
            cf.wait([self._pool.submit(_warm_up) for _ in range(self.workers)])
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        kill = getattr(pool, "kill_workers", None)  # Python >= 3.14
        if kill is not None:
            kill()
        else:
            # Python < 3.14 has no public way to stop a running task; kill its worker processes
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                p.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, labeller: Labeller, archs: list[str], space: str, objectives: list[str]) -> list[LabelOutcome]:
        pool = self._get_pool()
        futures = [pool.submit(run_labeller, labeller, a, space, objectives) for a in archs]
        out: list[LabelOutcome | None] = [None] * len(archs)
        started = time.monotonic()
        # a label's clock starts when a worker can take it: batches larger than the pool queue up
        deadlines = [None if self.timeout is None else started + self.timeout * (1 + i // self.workers) for i in range(len(archs))]
        pending = set(range(len(archs)))
        broken = False
        while pending:
            now = time.monotonic()
            next_deadline = min((deadlines[i] for i in pending if deadlines[i] is not None), default=None)
            wait_for = None if next_deadline is None else max(0.0, next_deadline - now)
            done, _ = cf.wait([futures[i] for i in pending], timeout=wait_for, return_when=cf.FIRST_COMPLETED)
            for i in list(pending):
                f = futures[i]
                if f in done:
                    try:
                        out[i] = f.result()
                    except Exception as e:  # noqa: BLE001 - a crashed worker (e.g. killed, out of memory)
                        out[i] = LabelOutcome(None, f"worker process failed: {type(e).__name__}: {e}")
                        broken = True
                    pending.discard(i)
                elif deadlines[i] is not None and time.monotonic() >= deadlines[i]:
                    out[i] = LabelOutcome(None, f"label exceeded the {self.timeout:g} s timeout", float(self.timeout))
                    pending.discard(i)
                    broken = True
            if broken and pending:
                # the pool is being torn down: relabel the rest on a fresh pool
                self._kill_pool()
                rest = sorted(pending)
                for i, o in zip(rest, self._run(labeller, [archs[i] for i in rest], space, objectives)):
                    out[i] = o
                pending.clear()
        if broken:
            self._kill_pool()
        return [o for o in out if o is not None]

    def close(self) -> None:
        """Shut the pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
    """Labels as Ray tasks, locally or on a cluster.

    Args:
        address: ``None`` starts a local Ray instance with ``num_cpus`` CPUs; otherwise a
            cluster address for ``ray.init`` (``"auto"``, ``"ray://host:10001"``).
        num_cpus: CPUs of the local instance (ignored when connecting).
        timeout: seconds per label; late tasks are cancelled.

    Raises:
        MissingDependencyError: Ray is not installed.
    """

    def __init__(self, address: str | None = None, num_cpus: int = 2, timeout: float | None = None) -> None:
        super().__init__(timeout)
        try:
            import ray
        except ImportError as e:
            raise MissingDependencyError('executor="ray" needs Ray: pip install "ray[default]"') from e
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
            if address is None:
                kwargs["num_cpus"] = int(num_cpus)
            else:
                kwargs["address"] = address
            ray.init(**kwargs)
            self._started = True
        else:
            self._started = False
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_labeller)

    def _run(self, labeller: Labeller, archs: list[str], space: str, objectives: list[str]) -> list[LabelOutcome]:
        ray = self._ray
        lab = ray.put(labeller)
        refs = [self._remote.remote(lab, a, space, objectives) for a in archs]
        index = {r: i for i, r in enumerate(refs)}
        out: list[LabelOutcome | None] = [None] * len(archs)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout * max(1, len(archs))
        pending = list(refs)
        while pending:
            wait_for = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, pending = ray.wait(pending, num_returns=1, timeout=wait_for)
            for r in ready:
                try:
                    out[index[r]] = ray.get(r)
                except Exception as e:  # noqa: BLE001 - worker death, cancellation
                    out[index[r]] = LabelOutcome(None, f"ray task failed: {type(e).__name__}: {e}")
            if not ready and deadline is not None and time.monotonic() >= deadline:
                for r in pending:
                    ray.cancel(r, force=True)
                    out[index[r]] = LabelOutcome(None, f"label exceeded the {self.timeout:g} s timeout", float(self.timeout))
                pending = []
        return [o for o in out if o is not None]

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a cluster it joined is left alone)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


def get_executor(executor: str | Executor | None = "process", *, timeout: float | None = None, **options: Any) -> Executor:
    """An executor from a name (``"process"``, ``"inline"``, ``"ray"``) or an ``Executor`` (returned as is).

    ``options`` go to the constructor (``workers=`` for process, ``address=``/``num_cpus=`` for ray).

    Raises:
        InvalidSpecError: unknown name (the message lists the choices).
    """
    if isinstance(executor, Executor):
        return executor
    name = executor or "process"
    if name == "process":
        return ProcessExecutor(timeout=timeout, **options)
    if name == "inline":
        return InlineExecutor(timeout=timeout)
    if name == "ray":
        return RayExecutor(timeout=timeout, **options)
    raise InvalidSpecError(f"could not resolve executor {name!r} among choices {choices_hint(EXECUTORS)}")
