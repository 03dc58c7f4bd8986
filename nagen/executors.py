"""Where labels run: in this process, on a local process pool, or on a Ray cluster.

An ``Executor`` takes a batch of architectures and returns one :class:`~nagen.labellers.LabelOutcome`
per architecture, in order, with per-label timeouts. It never raises for a bad label: a
labeller that raises, returns NaN or runs out of time gives a failed outcome with the reason.

* ``"process"`` (default): a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (safe with torch and threads). A label past its timeout has its worker killed
  (with the processes the label started, on POSIX) and the pool is restarted, so a hung training run cannot block the study.
* ``"inline"``: in the calling process, one at a time (no start-up cost; for table lookups).
  A timeout is checked after the label returns; the label cannot be interrupted.
* ``"ray"``: Ray tasks (``address=None`` starts a local Ray with ``num_cpus`` CPUs, else
  connects to ``address``, e.g. ``"auto"`` or ``"ray://head:10001"``); a task past its timeout
  is cancelled with ``force=True``. Ray is imported only here, when this executor is made.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import multiprocessing
import operator
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Union

from nagen.errors import (
    IgnoredSettingWarning,
    InvalidArgumentError,
    InvalidSpecError,
    MissingDependencyError,
    NagenError,
    check_int,
    check_options,
    check_real,
    choices_hint,
)
from nagen.labellers import Labeller, LabelOutcome, run_labeller

if TYPE_CHECKING:
    from nagen.spaces.base import SearchSpace

#: a registered space name, or an unregistered ``SearchSpace`` object (see ``nagen.spaces.reference``);
#: workers resolve either with ``nagen.spaces.get``
SpaceRef = Union[str, "SearchSpace"]

__all__ = ["ExecutorConnectionError", "Executor", "InlineExecutor", "ProcessExecutor", "RayExecutor", "get_executor", "check_executor_options", "EXECUTORS"]

#: valid ``executor=`` names
EXECUTORS = ("process", "inline", "ray")  # a Study also takes "auto" (its default)

# a submitted label that has not started after this long is stuck unpickling or warming up its
# labeller (a worker is always free for it: at most `workers` labels are in flight)
_START_GRACE = 60.0
#: the start grace as messages state it (:meth:`Executor._grace`)
_GRACE_RULE = f"max({_START_GRACE:g} s, 10 x timeout)"
# how often to look for start reports while a submitted label has not started yet
_POLL = 0.05
_DIED = "os._exit, a signal or out of memory?"


class ExecutorConnectionError(NagenError, ConnectionError):
    """An executor could not reach (or start) the workers it labels on, e.g. a Ray cluster address."""


class _WorkerError(Exception):
    """An error a worker process reported as text."""


class _StartTimeout(Exception):
    """The workers of a new pool did not load the labeller within the start grace (the message says so)."""


class _Slots(list):
    """One outcome slot per architecture of a batch; each outcome is reported once, when first set,
    so a caller can commit it while the rest of the batch still runs."""

    def __init__(self, n: int, report: Callable[[int, LabelOutcome], None] | None) -> None:
        super().__init__([None] * n)
        self._report = report

    def __setitem__(self, i: Any, outcome: Any) -> None:
        if isinstance(i, slice):
            raise TypeError("outcome slots are set one index at a time")
        i = operator.index(i)
        if i < 0:  # one slot, one report: -1 and n-1 are the same label
            i += len(self)
        if super().__getitem__(i) is not None:
            return  # already reported (and perhaps committed): the first outcome stands
        super().__setitem__(i, outcome)
        if outcome is not None and self._report is not None:
            self._report(i, outcome)


def _filled(out: list[LabelOutcome | None]) -> list[LabelOutcome]:
    """The outcomes in order; an empty slot (a defect) fails its label rather than shifting the others."""
    return [o if o is not None else LabelOutcome(None, "the executor recorded no outcome for this label") for o in out]


class Executor(ABC):
    """Runs a labeller on batches of architectures.

    Args:
        timeout: seconds allowed per label (None: no limit).
    """

    def __init__(self, timeout: float | None = None) -> None:
        if timeout is not None:
            timeout = check_real(timeout, "timeout (seconds per label, or None)", 0.0, low_open=True)
        self.timeout = timeout
        self._checked: list[tuple[Any, str]] = []  # (labeller, space) pairs whose check passed
        self._report: Callable[[int, LabelOutcome], None] | None = None  # set by run() for _slots

    @abstractmethod
    def _run(self, labeller: Labeller, archs: list[str], space: SpaceRef, objectives: list[str]) -> list[LabelOutcome]:
        """Outcomes for ``archs`` (strings of ``space``), in order."""

    def _grace(self) -> float | None:
        """Seconds a label (or a pool's start) may take to start, loading the labeller; None (no
        timeout): no limit. Generous: a spawned interpreter can take many seconds to import torch."""
        return None if self.timeout is None else max(_START_GRACE, 10 * self.timeout)

    def check(self, labeller: Labeller, space: SpaceRef) -> None:
        """Raise a named error, before anything is labelled, if ``labeller`` cannot label ``space`` here.

        ``run`` calls it too; calling it first (e.g. before reserving trials) fails even earlier.

        Raises:
            InvalidArgumentError: the labeller's own :meth:`~nagen.labellers.Labeller.check`
                refused the space, or (process and Ray executors) it cannot be sent to a worker.
        """
        self._check_labeller(labeller, space)

    def _check_labeller(self, labeller: Labeller, space: SpaceRef) -> None:
        if not callable(getattr(labeller, "label", None)):
            raise InvalidArgumentError(f"a labeller needs a label(arch, space) method, got {type(labeller).__name__}")
        # identity, not equality: a labeller may define __eq__, and the check can cost a network build
        if any(lab is labeller and sp == space for lab, sp in self._checked):
            return
        check = getattr(labeller, "check", None)
        if check is not None:
            import nagen.spaces

            check(nagen.spaces.get(space))
        self._checked.append((labeller, space))

    def run(
        self,
        labeller: Labeller,
        archs: Sequence[str],
        space: SpaceRef,
        objectives: Sequence[str],
        on_outcome: Callable[[int, LabelOutcome], None] | None = None,
    ) -> list[LabelOutcome]:
        """Label ``archs`` (architecture strings of space ``space``): one outcome each, in order.

        ``on_outcome(i, outcome)`` is called once per architecture as soon as its outcome is
        known (the built-in executors: while the rest of the batch runs; an executor whose
        ``_run`` does not fill :meth:`_slots`: after the batch), so a study commits each label
        before the next one can be lost to an interrupt or a kill.

        Raises:
            InvalidArgumentError: the labeller cannot be used at all (see :meth:`check`); nothing was labelled.
        """
        if not archs:
            return []
        self._check_labeller(labeller, space)
        reported: set[int] = set()

        def report(i: int, outcome: LabelOutcome) -> None:
            if i not in reported:
                reported.add(i)
                if on_outcome is not None:
                    on_outcome(i, outcome)

        self._report = report
        try:
            out = self._run(labeller, list(archs), space, list(objectives))
        finally:
            self._report = None
        for i, o in enumerate(out):
            report(i, o)
        return out

    def _slots(self, n: int) -> list[Any]:
        """``n`` outcome slots for :meth:`_run`; each outcome set there is reported at once (see :meth:`run`)."""
        return _Slots(n, self._report)

    def abort(self) -> None:
        """Stop the labels in flight now, without waiting for them (the caller was interrupted).

        The executor stays usable: the next ``run`` starts workers again. Here nothing runs
        outside the caller's own call, so there is nothing to stop (process and Ray executors
        kill or cancel their workers' labels).
        """

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InlineExecutor(Executor):
    """Labels in the calling process, one after another."""

    def _run(self, labeller: Labeller, archs: list[str], space: SpaceRef, objectives: list[str]) -> list[LabelOutcome]:
        out = self._slots(len(archs))
        for i, a in enumerate(archs):
            o = run_labeller(labeller, a, space, objectives)
            if o.ok and self.timeout is not None and o.seconds > self.timeout:
                o = LabelOutcome(None, f"label took {o.seconds:.1f} s, over the {self.timeout:g} s timeout", o.seconds)
            out[i] = o
        return list(out)


def _unpicklable(labeller: Any, error: BaseException, where: str) -> str:
    """Why ``labeller`` cannot go to worker processes, and what to do instead."""
    return (
        f"labeller {labeller!r} {where}: {type(error).__name__}: {error}; labels run in separate "
        "processes, so make its function or class a module-level one in an importable file "
        "(not a lambda, a nested function or a notebook cell), or pass executor='inline'"
    )


# ------------------------------------------------------------------ worker side of ProcessExecutor
# per worker process: the start-report queue, and the last labeller unpickled (by its bytes' hash)
_worker: dict[str, Any] = {"starts": None, "key": None, "labeller": None}


def _init_worker(starts: Any) -> None:
    """Pool initializer: keep the queue on which each label reports that its clock starts, lead
    a process group of its own (POSIX), and watch the parent (:func:`_exit_with_parent`)."""
    _worker["starts"] = starts
    if hasattr(os, "setsid"):
        # the processes a label starts (a labeller running `subprocess.run(["python", "train.py"])`) join
        # this group, so killing the worker on a timeout kills them too instead of leaving them to init
        os.setsid()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="nagen-parent-watch", daemon=True).start()


#: seconds between a worker's checks that the study process that spawned it is alive
PARENT_POLL = 1.0


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone (re-parented: ``getppid`` changes).

    Why: a study killed with SIGKILL cannot shut its pool down, and its workers would go on
    labelling (a ``TrainingLabeller`` keeps training) for a study that no longer exists, beside
    the resumed study that relabels the same trials on the same cores.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    if hasattr(os, "killpg") and os.getpgrp() == os.getpid():  # our own group (see _init_worker): the label's children too
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _warm_up() -> None:
    """Import what ``run_labeller`` needs (runs once in each new worker)."""
    import nagen.benchmarks  # noqa: F401
    import nagen.spaces  # noqa: F401


def _warm(labeller: Labeller) -> None:
    """Run the labeller's :meth:`~nagen.labellers.Labeller.warm_up`, if any, before a label's clock starts."""
    warm = getattr(labeller, "warm_up", None)
    try:
        if warm is not None:
            warm()
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - each label will fail with the same error, as a reason
        pass


def _worker_labeller(key: str, blob: bytes) -> Labeller:
    """The labeller pickled as ``blob``, unpickled and warmed up once per worker."""
    if _worker["key"] != key:
        labeller = pickle.loads(blob)
        _warm(labeller)
        _worker.update(key=key, labeller=labeller)
    return _worker["labeller"]


def _prepare(key: str, blob: bytes, space: SpaceRef) -> tuple[str, str] | None:
    """Warm-up task: import nagen, resolve the space, load the labeller. None when ready, else
    ``("space" | "labeller", why)``: what the worker could not resolve or unpickle."""
    _warm_up()
    import nagen.spaces

    try:
        nagen.spaces.get(space)
    except Exception as e:  # noqa: BLE001 - reported to the caller as a named error, before any label
        # typically a space registered in a notebook or in __main__: the parent knows it, a fresh worker does not
        return "space", f"{type(e).__name__}: {e}"
    try:
        _worker_labeller(key, blob)
    except Exception as e:  # noqa: BLE001 - reported to the caller as a named error
        return "labeller", f"{type(e).__name__}: {e}"
    return None


def _label_task(token: int, key: str, blob: bytes | None, arch: str, space: SpaceRef, objectives: list[str]) -> LabelOutcome | None:
    """One label in a worker; its clock starts (reported as ``token``) once the labeller is loaded.

    ``blob`` is None when the worker is expected to hold the labeller ``key`` already (loaded by
    :func:`_prepare`); one that does not returns None, and the caller sends the task again with the blob.
    """
    if blob is None and _worker["key"] != key:
        return None
    try:
        labeller = _worker_labeller(key, blob)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - the pool's warm-up loaded it, so this is unexpected
        return LabelOutcome(None, f"could not unpickle the labeller in a worker process: {type(e).__name__}: {e}")
    if _worker["starts"] is not None:
        _worker["starts"].put(token)
    return run_labeller(labeller, arch, space, objectives)


class ProcessExecutor(Executor):
    """A local pool of spawned worker processes.

    Each worker unpickles and warms up the labeller (:meth:`~nagen.labellers.Labeller.warm_up`,
    e.g. loading a table) before its first label, outside any label's time. At most
    ``workers`` labels are in flight, and each label's timeout counts from when it starts
    running in its worker. A worker that dies (``os._exit``, a segfault, out of memory) fails
    only the label that killed it: the labels in flight with it are relabelled, each alone on
    a fresh pool, and only one that kills its worker again, alone, fails.

    Args:
        workers: pool size (default 2).
        timeout: seconds per label; a late label's worker is killed and the pool restarted.
    """

    def __init__(self, workers: int = 2, timeout: float | None = None) -> None:
        super().__init__(timeout)
        self.workers = check_int(workers, "workers", 1)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._starts: Any = None  # the pool's start-report queue (one per pool: a killed worker may corrupt it)
        self._ready: tuple[str, str] | None = None  # (labeller key, space) the pool's workers have loaded
        self._tokens = itertools.count()

    def check(self, labeller: Labeller, space: SpaceRef) -> None:
        """As :meth:`Executor.check`, and the labeller must pickle here and unpickle in a worker.

        Starts the pool (as the first ``run`` would) to try the labeller in a real worker.

        Raises:
            InvalidArgumentError: the labeller's own check failed, or it cannot be pickled
                (a lambda, a nested function) or unpickled in a worker (e.g. defined in a notebook),
                or the workers die while starting or loading it (twice; e.g. a script read from stdin).
        """
        super().check(labeller, space)
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        if isinstance(main, str) and not os.path.exists(main):
            # spawned workers re-run the main script by its path: a script read from stdin ("<stdin>")
            # has none, so each worker dies at start and every label of the budget would fail
            raise InvalidArgumentError(
                f"worker processes cannot start: they re-run the main script {main!r}, which is not a file (a script "
                "read from standard input?); run it from a .py file or use executor='inline'"
            )
        key, blob = self._pickle(labeller)
        for _ in range(2):  # a worker killed once (by the OS, say) gets a second, fresh pool
            try:
                if self._get_pool(labeller, key, blob, space) is not None:
                    return
            except _StartTimeout as e:
                raise InvalidArgumentError(f"{e}; nothing was labelled. executor='inline' runs the labeller in this process") from None
            self._kill_pool()
        guard = ""
        if isinstance(main, str):
            # the usual culprit: spawned workers re-import the main script, and an unguarded one starts its study again there
            guard = (
                f" If {os.path.basename(main)!r} starts the study at its top level, put that code under "
                "`if __name__ == \"__main__\":` (worker processes re-import the main script)."
            )
        raise InvalidArgumentError(
            f"worker processes died twice while starting or loading the labeller {labeller!r} ({_DIED}); nothing was "
            f"labelled.{guard} Their error is printed above; executor='inline' runs the labeller in this process"
        )

    def _pickle(self, labeller: Labeller) -> tuple[str, bytes]:
        try:
            blob = pickle.dumps(labeller, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - PicklingError, AttributeError, TypeError by object kind
            raise InvalidArgumentError(_unpicklable(labeller, e, "cannot be pickled")) from e
        return hashlib.blake2b(blob, digest_size=16).hexdigest(), blob

    def _get_pool(self, labeller: Labeller, key: str, blob: bytes, space: SpaceRef) -> cf.ProcessPoolExecutor | None:
        """The pool, its workers ready for this labeller; None when a worker died loading it.

        Raises:
            InvalidArgumentError: a worker cannot resolve the space or unpickle the labeller.
            _StartTimeout: the workers did not load the labeller within the start grace (pool killed).
        """
        if self._pool is not None and self._ready == (key, space):
            return self._pool
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # not fork: forking torch/OpenMP threads can deadlock
            self._starts = ctx.SimpleQueue()
            self._pool = cf.ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self._starts,)
            )
        # start every worker and load nagen and the labeller there before any label's clock starts:
        # a spawned interpreter takes seconds to import torch, and a table a second to load
        try:
            futures = [self._pool.submit(_prepare, key, blob, space) for _ in range(self.workers)]
        except BrokenProcessPool:
            return None
        grace = self._grace()
        try:
            _, late = cf.wait(futures, timeout=grace)
        except KeyboardInterrupt:  # as in _run: Ctrl-C does not reach the workers themselves
            self._kill_pool()
            raise
        if late:  # a warm_up() that hangs (a stalled download) would block the study for ever
            self._kill_pool()
            raise _StartTimeout(
                f"worker processes did not load the labeller {labeller!r} within {grace:g} s (the start grace: "
                f"{_GRACE_RULE}); does its warm_up() or unpickling hang?"
            )
        for f in futures:
            if f.exception() is not None:
                return None
            failure = f.result()
            if failure is not None:
                self._kill_pool()
                what, why = failure
                if what == "space":
                    name = getattr(space, "name", space)
                    raise InvalidArgumentError(
                        f"space {name!r} is not known in a worker process ({why}): a space "
                        "registered in a notebook or a script's __main__ is not registered in the workers. Define and "
                        "register it in an importable module (imported by the labeller's module), or use executor='inline'"
                    )
                raise InvalidArgumentError(_unpicklable(labeller, _WorkerError(why), "could not be unpickled in a worker process"))
        self._ready = (key, space)
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool, self._starts, self._ready = self._pool, None, None, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        if hasattr(os, "killpg"):
            # each worker leads its own process group (_init_worker): kill the processes its label started too
            own = os.getpgrp()
            for p in procs:
                try:
                    if p.pid is not None and p.pid != own and os.getpgid(p.pid) == p.pid:
                        os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass  # gone already, or not yet in its own group (it has started nothing)
        kill = getattr(pool, "kill_workers", None)  # Python >= 3.14
        if kill is not None:
            kill()
        else:
            # Python < 3.14 has no public way to stop a running task; kill its worker processes
            for p in procs:
                p.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, labeller: Labeller, archs: list[str], space: SpaceRef, objectives: list[str]) -> list[LabelOutcome]:
        try:
            return self._run_rounds(labeller, archs, space, objectives)
        except KeyboardInterrupt:
            # workers lead their own process groups (_init_worker), so a terminal's Ctrl-C does not
            # reach them: stop their labels here, or the interpreter's exit would wait for them
            self._kill_pool()
            raise

    def _run_rounds(self, labeller: Labeller, archs: list[str], space: SpaceRef, objectives: list[str]) -> list[LabelOutcome]:
        """:meth:`_run`: rounds on fresh pools until every label has an outcome."""
        key, blob = self._pickle(labeller)
        out: list[LabelOutcome | None] = self._slots(len(archs))
        todo = list(range(len(archs)))
        suspects: deque[int] = deque()  # in flight when a worker died: any of them may have killed it
        stalls = 0
        while todo or suspects:
            if suspects:
                # alone, a label that kills its worker again is the culprit; a transient crash passes
                i = suspects.popleft()
                self._round(labeller, key, blob, archs, [i], space, objectives, out)
                if out[i] is None:
                    out[i] = LabelOutcome(None, f"worker process died while labelling this architecture, also when relabelled alone ({_DIED})")
                continue
            crashed, unfinished = self._round(labeller, key, blob, archs, todo, space, objectives, out)
            # a pool that keeps breaking with nothing in flight would otherwise loop for ever
            stalls = stalls + 1 if not crashed and unfinished == todo else 0
            if stalls >= 3:
                for i in unfinished:
                    out[i] = LabelOutcome(None, f"worker processes kept dying before this label could run ({_DIED})")
                unfinished = []
            suspects.extend(crashed)
            todo = unfinished
        return _filled(out)

    def _round(
        self,
        labeller: Labeller,
        key: str,
        blob: bytes,
        archs: list[str],
        indices: list[int],
        space: SpaceRef,
        objectives: list[str],
        out: list[LabelOutcome | None],
    ) -> tuple[list[int], list[int]]:
        """Label ``indices`` on one pool into ``out``; returns (in flight when a worker died, not yet run).

        Ends early, killing the pool, when a worker dies or a label runs out of time.
        """
        try:
            pool = self._get_pool(labeller, key, blob, space)
        except _StartTimeout as e:
            for i in indices:
                out[i] = LabelOutcome(None, str(e))
            return [], []
        if pool is None:
            self._kill_pool()
            for i in indices:
                out[i] = LabelOutcome(None, f"worker process died while loading the labeller ({_DIED})")
            return [], []
        timeout = self.timeout
        grace = self._grace()
        waiting = deque(indices)
        # labels to send with the pickled labeller: their worker did not hold it (see _label_task)
        resend: set[int] = set()
        flight: dict[cf.Future, tuple[int, int, float]] = {}  # future -> (index, start token, submitted at)
        started: dict[int, float] = {}  # token -> when its start report arrived
        while waiting or flight:
            broken = False
            while waiting and len(flight) < self.workers:
                token = next(self._tokens)
                # only the key: every worker loaded the labeller at pool start, and a large one
                # (a dataset, a table) would otherwise be pickled to a worker again for every label
                payload = blob if waiting[0] in resend else None
                try:
                    f = pool.submit(_label_task, token, key, payload, archs[waiting[0]], space, objectives)
                except BrokenProcessPool:
                    broken = True
                    break
                flight[f] = (waiting.popleft(), token, time.monotonic())
            if not broken:
                wait_for = None
                if timeout is not None:
                    self._drain_starts(started)
                    ends = [started[t] + timeout if t in started else s + grace for _, t, s in flight.values()]
                    wait_for = max(0.0, min(ends) - time.monotonic())
                    if any(t not in started for _, t, _ in flight.values()):
                        wait_for = min(wait_for, _POLL)
                done, _ = cf.wait(list(flight), timeout=wait_for, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    if isinstance(f.exception(), BrokenProcessPool):
                        broken = True
                        continue
                    i, _, _ = flight.pop(f)
                    try:
                        result = f.result()
                    except KeyboardInterrupt:
                        # raised by the labeller inside its worker; a user's Ctrl-C interrupts this process
                        # itself (its own signal), so this one fails only the trial
                        out[i] = LabelOutcome(None, "labeller raised KeyboardInterrupt in its worker process")
                        continue
                    # any BaseException (asyncio.CancelledError, a custom one), not only Exception: raised
                    # here it would stop the study, and the trial would be proposed and raise again
                    except BaseException as e:  # noqa: BLE001 - e.g. a result that could not be sent back
                        out[i] = LabelOutcome(None, f"worker process failed: {type(e).__name__}: {_first_line(e)}".rstrip(": "))
                        continue
                    if result is None:  # this worker did not hold the labeller: send it along this time
                        resend.add(i)
                        waiting.appendleft(i)
                    else:
                        out[i] = result
            if broken:
                # every label in flight may have killed the worker; one that finished first keeps its outcome
                suspects = []
                for f, (i, _, _) in flight.items():
                    if f.done() and not f.cancelled() and f.exception() is None and f.result() is not None:
                        out[i] = f.result()
                    else:
                        suspects.append(i)
                self._kill_pool()
                return suspects, list(waiting)
            if timeout is None:
                continue
            self._drain_starts(started)
            now = time.monotonic()
            late = [f for f, (_, t, s) in flight.items() if now >= (started[t] + timeout if t in started else s + grace)]
            if late:
                for f in late:
                    i, t, _ = flight.pop(f)
                    reason = (
                        f"label exceeded the {timeout:g} s timeout"
                        if t in started
                        else f"label did not start within {grace:g} s (stuck loading the labeller in its worker?)"
                    )
                    out[i] = LabelOutcome(None, reason, float(timeout))
                # killing is the only way to stop a running label; the others in flight run again
                self._kill_pool()
                return [], [i for i, _, _ in flight.values()] + list(waiting)
        return [], []

    def _drain_starts(self, started: dict[int, float]) -> None:
        while self._starts is not None and not self._starts.empty():
            started[self._starts.get()] = time.monotonic()

    def abort(self) -> None:
        """Kill the workers (and the labels they run) now; the next ``run`` starts a new pool."""
        self._kill_pool()

    def close(self) -> None:
        """Shut the pool down (waits for labels in flight; :meth:`abort` does not)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._starts, self._ready = None, None, None


class _StartClock:
    """A Ray actor: when each label task started, on one clock whatever node it ran on."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}

    def mark(self, token: int) -> None:
        """Record that label ``token`` starts now."""
        self.started[token] = time.monotonic()

    def elapsed(self, tokens: list[int]) -> dict[int, float]:
        """Seconds each started label of ``tokens`` has been running."""
        now = time.monotonic()
        return {t: now - self.started[t] for t in tokens if t in self.started}


def _ray_prepare(labeller: Labeller, space: SpaceRef) -> tuple[str, str] | None:
    """Preflight task: import nagen and resolve the space in a Ray worker (Ray has loaded the
    labeller as the argument). None when ready, else ``("space", why)``."""
    _warm_up()
    import nagen.spaces

    try:
        nagen.spaces.get(space)
    except Exception as e:  # noqa: BLE001 - reported to the caller as a named error, before any label
        return "space", f"{type(e).__name__}: {e}"
    return None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _first_line(e: BaseException) -> str:
    """The first line of ``e``'s message, without terminal colour codes ("" when it has none):
    failure reasons stay one line where Ray and tracebacks give pages."""
    text = _ANSI.sub("", str(e)).strip()
    return text.splitlines()[0].strip() if text else ""


def _ray_reason(ray: Any, e: BaseException) -> str:
    """One line for a failed Ray task: a task error's cause (not Ray's coloured, multi-line traceback)."""
    cause = getattr(e, "cause", None) if isinstance(e, ray.exceptions.RayTaskError) else None
    err = cause if isinstance(cause, BaseException) else e
    first = _first_line(err)
    return f"ray task failed: {type(err).__name__}: {first}" if first else f"ray task failed: {type(err).__name__}"


#: seconds to wait for a Ray cluster's host:port to accept a connection before giving up on it
CONNECT_TIMEOUT = 5.0


def _probe(address: str) -> None:
    """Raise ExecutorConnectionError now if ``host:port`` accepts no connection (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return  # not host:port: Ray's own parser says what is wrong
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ExecutorConnectionError(
            f'executor="ray" could not connect to the Ray cluster at address {address!r}: no connection to it within '
            f"{CONNECT_TIMEOUT:g} s ({type(e).__name__}: {e}); is a cluster running there (ray start --head), and is "
            "the address right ('auto', 'host:6379', 'ray://host:10001')? address=None starts a local one"
        ) from e


def _ray_label_task(clock: Any, token: int, labeller: Labeller, arch: str, space: SpaceRef, objectives: list[str]) -> LabelOutcome:
    """One label in a Ray worker; its clock starts (reported to ``clock``) once nagen and the labeller are loaded."""
    _warm_up()
    _warm(labeller)
    if clock is not None:
        import ray

        ray.get(clock.mark.remote(token))  # wait: the clock must start before the label does
    return run_labeller(labeller, arch, space, objectives)


class RayExecutor(Executor):
    """Labels as Ray tasks, locally or on a cluster.

    Each label's timeout counts from when its task starts running (after Ray scheduled it and
    its worker loaded nagen and warmed up the labeller), not from when it was submitted.

    A label task that has not started ``max(60 s, 10 x timeout)`` after its batch last made
    progress (no free CPU on the cluster) fails, as on the process pool.

    Args:
        address: a cluster address for ``ray.init`` (``"auto"``, ``"host:6379"``,
            ``"ray://host:10001"``); ``None``: the cluster ``RAY_ADDRESS`` names when it is set (as
            ``ray job submit`` does), else a new local Ray instance with ``num_cpus`` CPUs (even
            when a cluster runs on this machine).
        num_cpus: CPUs of the local instance (default 2; not allowed when connecting).
        timeout: seconds per label; late tasks are cancelled.

    Raises:
        MissingDependencyError: Ray is not installed (or Ray Client, for a ``ray://`` address).
        ExecutorConnectionError: Ray could not start, or could not reach ``address``.
        InvalidArgumentError: ``num_cpus`` is not a positive integer, or ``address`` not a string.

    Warns:
        IgnoredSettingWarning: ``address``/``num_cpus`` are ignored: Ray is already initialised in this
            process, or ``num_cpus`` was given with an ``address``.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, timeout: float | None = None) -> None:
        super().__init__(timeout)
        try:
            import ray
        except ImportError as e:
            raise MissingDependencyError('executor="ray" needs Ray: pip install "ray[default]"') from e
        self._ray = ray
        if num_cpus is not None:
            num_cpus = check_int(num_cpus, "num_cpus", 1)
        if ray.is_initialized():
            given = [f"{k}={v!r}" for k, v in (("address", address), ("num_cpus", num_cpus)) if v is not None]
            if given:
                warnings.warn(
                    f"RayExecutor: Ray is already initialised in this process, so it labels on that Ray instance and "
                    f"ignores {', '.join(given)}; call ray.shutdown() first for a new one",
                    IgnoredSettingWarning,
                    stacklevel=2,
                )
            self._started = False
        else:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
            if address is None and os.environ.get("RAY_ADDRESS", "").strip():
                # Ray's own convention (`ray job submit` names the cluster to its driver this way): join it
                address = os.environ["RAY_ADDRESS"].strip()
            if address is None:
                # "local": a new instance, never a cluster that merely runs on this machine (ray.init() would
                # join it, and refuse num_cpus)
                kwargs.update(address="local", num_cpus=2 if num_cpus is None else num_cpus)
            else:
                if not isinstance(address, str) or not address.strip():
                    raise InvalidArgumentError(f"RayExecutor: address must be a Ray address string or None, got {address!r}")
                if num_cpus is not None:  # Ray itself refuses it when connecting
                    warnings.warn(
                        f"RayExecutor: num_cpus={num_cpus} sizes a local Ray instance (address=None) and is ignored: "
                        f"the cluster at address {address!r} has its own CPUs",
                        IgnoredSettingWarning,
                        stacklevel=2,
                    )
                kwargs["address"] = address
                if address.startswith("ray://"):
                    import importlib.util

                    if importlib.util.find_spec("grpc") is None:
                        raise MissingDependencyError(
                            f'executor="ray" with address {address!r} (a "ray://" address) needs Ray Client: '
                            'pip install "ray[client]"; or use the cluster\'s "host:6379" address on one of its nodes'
                        )
                elif address not in ("auto", "local") and "://" not in address:
                    _probe(address)
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:  # Ray's own: a page of text
                where = f"the Ray cluster at address {address!r}" if address is not None else "a local Ray instance"
                hint = (
                    "; is a cluster running there (ray start --head), and is the address right ('auto', 'host:6379', "
                    "'ray://host:10001')? address=None starts a local one"
                    if address is not None
                    else ""
                )
                first = _first_line(e)
                raise ExecutorConnectionError(f'executor="ray" could not connect to {where}: {type(e).__name__}: {first}{hint}') from e
            self._started = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_label_task)
        self._preflight = ray.remote(num_cpus=1, max_retries=0)(_ray_prepare)  # a label's resources: it must start as one would
        self._prepared: list[tuple[Any, SpaceRef]] = []  # (labeller, space) pairs whose preflight passed
        self._clock: Any = None
        self._tokens = itertools.count()
        self._inflight: list[Any] = []

    def check(self, labeller: Labeller, space: SpaceRef) -> None:
        """As :meth:`Executor.check`, the labeller must serialise for Ray, and one Ray worker must
        load it and resolve the space (a preflight task, as a label would run).

        Raises:
            InvalidArgumentError: the labeller's own check failed, Ray cannot serialise it, or a
                worker cannot load it or does not know the space (registered only in this process).
            ExecutorConnectionError: no worker started the preflight task within the start grace
                (``max(60 s, 10 x timeout)``; no limit without a timeout), e.g. a cluster without free CPUs.
        """
        super().check(labeller, space)
        ref = self._put(labeller)
        if any(lab is labeller and sp == space for lab, sp in self._prepared):
            return
        ray = self._ray
        task = self._preflight.remote(ref, space)
        grace = self._grace()
        try:
            failure = ray.get(task, timeout=grace)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(task, force=True)
            raise ExecutorConnectionError(
                f"no Ray worker ran a first task (loading the labeller {labeller!r}) within {grace:g} s (the start "
                f"grace: {_GRACE_RULE}); does the Ray cluster have a free CPU for label tasks (each takes one)?"
            ) from None
        except ray.exceptions.RayError as e:  # the labeller could not be deserialised (or its worker died)
            raise InvalidArgumentError(
                f"labeller {labeller!r} could not be loaded in a Ray worker ({_ray_reason(ray, e).removeprefix('ray task failed: ')}); "
                "its class or function must be importable on the workers (a module-level one in an installed or "
                "shipped module, see Ray's runtime_env), or pass executor='inline'"
            ) from None
        if failure is not None:
            name = getattr(space, "name", space)
            raise InvalidArgumentError(
                f"space {name!r} is not known in a Ray worker ({failure[1]}): a space registered in a notebook or a "
                "script's __main__ is not registered in the workers. Define and register it in an importable module "
                "(imported by the labeller's module), or use executor='inline'"
            )
        self._prepared.append((labeller, space))

    def _put(self, labeller: Labeller) -> Any:
        try:
            # cloudpickle first: its error names the culprit in one line, ray.put's in a page
            self._ray.cloudpickle.dumps(labeller)
            return self._ray.put(labeller)
        except Exception as e:  # noqa: BLE001 - PicklingError, TypeError, Ray's wrappers
            # Ray serialises lambdas and nested functions; what fails is something the labeller holds
            raise InvalidArgumentError(
                f"labeller {labeller!r} cannot be serialised for Ray: {type(e).__name__}: {_ANSI.sub('', str(e)).strip()[:500]}; "
                "something it holds (a lock, an open file or connection, a generator, a CUDA context) cannot be "
                "pickled: hold plain data and open such resources in warm_up(), or pass executor='inline'"
            ) from e

    def _run(self, labeller: Labeller, archs: list[str], space: SpaceRef, objectives: list[str]) -> list[LabelOutcome]:
        ray = self._ray
        lab = self._put(labeller)
        if self.timeout is not None and self._clock is None:
            self._clock = ray.remote(num_cpus=0)(_StartClock).remote()
        clock = self._clock if self.timeout is not None else None
        tokens = [next(self._tokens) for _ in archs]
        refs = [self._remote.remote(clock, t, lab, a, space, objectives) for t, a in zip(tokens, archs)]
        index = {r: i for i, r in enumerate(refs)}
        out: list[LabelOutcome | None] = self._slots(len(archs))
        pending = list(refs)
        self._inflight = pending  # abort() cancels what is still pending
        grace = self._grace()
        # all tasks are submitted at once and queue for CPUs, so a task's start grace counts from the
        # batch's last progress (a start or an end), not from its submission
        progress, n_started = time.monotonic(), 0
        while pending:
            wait_for = None
            if clock is not None:
                running = ray.get(clock.elapsed.remote([tokens[index[r]] for r in pending]))
                now = time.monotonic()
                if len(running) > n_started:
                    progress = now
                n_started = len(running)
                late = [r for r in pending if running.get(tokens[index[r]], 0.0) >= self.timeout]
                for r in late:
                    ray.cancel(r, force=True)
                    out[index[r]] = LabelOutcome(None, f"label exceeded the {self.timeout:g} s timeout", float(self.timeout))
                if grace is not None and now - progress >= grace:
                    # nothing started or ended for the whole grace: no worker will take these (no free CPU)
                    stuck = [r for r in pending if r not in late and tokens[index[r]] not in running]
                    for r in stuck:
                        ray.cancel(r, force=True)
                        out[index[r]] = LabelOutcome(
                            None,
                            f"label did not start within {grace:g} s (no Ray worker with a free CPU took it?)",
                            float(self.timeout),
                        )
                    late += stuck
                pending = [r for r in pending if r not in late]
                if not pending:
                    break
                left = [self.timeout - running[tokens[index[r]]] for r in pending if tokens[index[r]] in running]
                # a task not started yet has no deadline: poll until it reports its start
                wait_for = min(left) if len(left) == len(pending) else min([_POLL * 4, *left])
            ready, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, wait_for) if wait_for is not None else None)
            for r in ready:
                progress = time.monotonic()
                try:
                    out[index[r]] = ray.get(r)
                except BaseException as e:  # noqa: BLE001 - worker death, cancellation, a labeller's BaseException
                    if isinstance(e, KeyboardInterrupt) and not isinstance(e, ray.exceptions.RayError):
                        raise  # the user's own Ctrl-C, not a task's error
                    out[index[r]] = LabelOutcome(None, _ray_reason(ray, e))
            self._inflight = pending
        self._inflight = []
        return _filled(out)

    def abort(self) -> None:
        """Cancel (force) the label tasks still in flight; Ray itself stays up for the next ``run``."""
        for r in self._inflight:
            try:
                self._ray.cancel(r, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone: nothing left to stop
                pass
        self._inflight = []

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a cluster it joined is left alone)."""
        self._clock = None
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


def get_executor(executor: str | Executor | None = "process", *, timeout: float | None = None, **options: Any) -> Executor:
    """An executor from a name (``"process"``, ``"inline"``, ``"ray"``) or an ``Executor`` (returned as is).

    ``options`` go to the constructor (``workers=`` for process, ``address=``/``num_cpus=`` for ray).

    Raises:
        InvalidSpecError: unknown name (the message lists the choices).
        UnknownOptionError: an option the executor does not take.
        InvalidArgumentError: a bad ``timeout``, ``workers`` or ``num_cpus``.
    """
    if isinstance(executor, Executor):
        return executor
    name = executor or "process"
    check_executor_options(name, options)
    return _KINDS[name](timeout=timeout, **options)


_KINDS: dict[str, type[Executor]] = {"process": ProcessExecutor, "inline": InlineExecutor, "ray": RayExecutor}


def check_executor_options(name: Any, options: dict[str, Any], error: type[Exception] = InvalidArgumentError) -> None:
    """Refuse an unknown executor ``name``, an option it does not take, or a bad ``workers``
    count, before any executor is made (Ray is not imported).

    Raises:
        InvalidSpecError: unknown name (the message lists the choices).
        UnknownOptionError: a mistyped option (``wrokers=2``) or one the executor ignores
            (``workers=`` for ``"inline"``).
        error: ``workers`` is not a positive integer.
    """
    if not isinstance(name, str) or name not in _KINDS:
        raise InvalidSpecError(f"could not resolve executor {name!r} among choices {choices_hint(EXECUTORS)}")
    check_options(_KINDS[name], options, f"executor {name!r}", exclude=("timeout",))
    if name == "process" and "workers" in options:
        check_int(options["workers"], "workers", 1, error)
