"""Executors and labellers against hostile labellers: crashes, sys.exit, unpicklable, slow, misconfigured, wrong types."""

from __future__ import annotations

import os
import sys
import time
import types

import numpy as np
import pytest
import torch

import nagen
import nagen.spaces
from nagen.errors import InvalidArgumentError
from nagen.executors import InlineExecutor, ProcessExecutor
from nagen.labellers import CallableLabeller, Labeller, TableLabeller, TrainingLabeller, run_labeller

NB201 = nagen.spaces.get("nb201")


def cell(*ops: int) -> str:
    return NB201.format(NB201.from_op_ids(list(ops)))


GOOD, GOOD2 = cell(3, 3, 3, 3, 3, 3), cell(2, 3, 3, 3, 3, 3)
ONE_POOL, TWO_POOLS = cell(4, 3, 3, 3, 3, 3), cell(4, 4, 3, 3, 3, 3)


# module-level so that spawned workers can unpickle them
class Crashy(Labeller):
    """Kills its worker on cells with one avg-pool (always) or two (only the first time: a transient crash)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def label(self, arch, space):
        pools = arch.ops.count("avg_pool_3x3")
        if pools == 1:
            os._exit(1)
        if pools == 2:
            try:
                open(self.marker, "x").close()
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return float(arch.ops.count("nor_conv_3x3"))


def sleepy(arch):
    """0 s, 0.7 s or 1.6 s by the number of avg-pools."""
    time.sleep({0: 0.0, 1: 0.7}.get(arch.ops.count("avg_pool_3x3"), 1.6))
    return 1.0


def exits(arch):
    sys.exit(3)


def interrupts(arch):
    raise KeyboardInterrupt


# 1 -------------------------------------------------------------------------------------------
def test_a_crashing_worker_fails_only_its_own_label(tmp_path):
    lab = Crashy(str(tmp_path / "crashed-once"))
    with ProcessExecutor(workers=2) as ex:
        out = ex.run(lab, [TWO_POOLS, ONE_POOL, GOOD, GOOD2], "nb201", ["v"])
    assert [o.ok for o in out] == [True, False, True, True], [o.reason for o in out]
    assert "worker process died" in out[1].reason and "alone" in out[1].reason
    assert out[0].values == {"v": 4.0} and out[3].values == {"v": 5.0}  # the transient crash was relabelled


# 2 -------------------------------------------------------------------------------------------
def test_sys_exit_in_a_labeller_fails_the_trial_and_ctrl_c_still_stops():
    o = run_labeller(CallableLabeller(exits), GOOD, "nb201", ["v"])
    assert not o.ok and "SystemExit: 3" in o.reason
    st = nagen.Study("nb201", "v", CallableLabeller(exits), storage="sqlite:///:memory:", name="exits", seed=0,
                     executor="inline", proposer="random")
    st.optimize(3)
    assert [t.state for t in st.trials] == ["failed"] * 3
    with pytest.raises(KeyboardInterrupt):
        run_labeller(CallableLabeller(interrupts), GOOD, "nb201", ["v"])
    with pytest.raises(KeyboardInterrupt):
        InlineExecutor().run(CallableLabeller(interrupts), [GOOD], "nb201", ["v"])


# 3 -------------------------------------------------------------------------------------------
def test_an_unpicklable_labeller_is_refused_before_anything_is_labelled(monkeypatch):
    ex = ProcessExecutor(workers=1)
    lab = CallableLabeller(lambda a: 1.0)
    with pytest.raises(InvalidArgumentError, match=r"(?s)CallableLabeller.*module-level.*executor='inline'"):
        ex.run(lab, [GOOD], "nb201", ["v"])
    with pytest.raises(InvalidArgumentError, match="executor='inline'"):
        ex.check(lab, "nb201")
    assert ex._pool is None  # refused in this process: no worker was started
    assert InlineExecutor().run(lab, [GOOD], "nb201", ["v"])[0].values == {"v": 1.0}

    # picklable here, not in a worker (e.g. a function defined in a notebook): found in a worker's warm-up
    ghost = types.ModuleType("nagen_ghost_module")
    exec("def score(arch):\n    return 1.0\n", ghost.__dict__)
    monkeypatch.setitem(sys.modules, "nagen_ghost_module", ghost)
    with ex, pytest.raises(InvalidArgumentError, match="could not be unpickled in a worker"):
        ex.run(CallableLabeller(ghost.score), [GOOD], "nb201", ["v"])


# 4 + 5 ---------------------------------------------------------------------------------------
def test_each_label_gets_its_own_timeout_from_when_it_starts():
    with ProcessExecutor(workers=2, timeout=1.0) as ex:
        out = ex.run(CallableLabeller(sleepy), [GOOD, GOOD, GOOD, TWO_POOLS], "nb201", ["v"])
        assert [o.ok for o in out] == [True, True, True, False]  # 1.6 s of its own is over 1 s
        assert "timeout" in out[3].reason
        # two waves of 0.7 s labels on two workers: waiting in the queue is not the label's time
        out = ex.run(CallableLabeller(sleepy), [ONE_POOL] * 4, "nb201", ["v"])
        assert all(o.ok for o in out), [o.reason for o in out]


def test_table_loading_is_warm_up_not_label_time(nb201):
    with ProcessExecutor(workers=2, timeout=0.5) as ex:
        out = ex.run(TableLabeller("nb201", "cifar10_test"), [GOOD, GOOD2, ONE_POOL, TWO_POOLS], "nb201", ["cifar10_test"])
    assert all(o.ok for o in out), [o.reason for o in out]
    assert out[0].values["cifar10_test"] == pytest.approx(nb201.query(GOOD, "cifar10_test"))


# 6 -------------------------------------------------------------------------------------------
def _digits(channels: int):
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(8, channels, 8, 8, generator=g), torch.arange(8) % 2)


def test_training_labeller_refuses_bad_build_options_up_front():
    data = _digits(1)
    with pytest.raises(InvalidArgumentError, match=r"(?s)'in_chanels'.*'in_channels'"):
        TrainingLabeller(data, data, 2, build_options={"C": 4, "N": 1, "in_chanels": 1}, space="nb201")
    with pytest.raises(InvalidArgumentError, match=r"(?s)1 channel.*'in_channels': 1"):
        TrainingLabeller(data, data, 2, build_options={"C": 4, "N": 1}, space="nb201")
    TrainingLabeller(data, data, 2, build_options={"C": 4, "N": 1, "in_channels": 1}, space="nb201")  # fine
    # without space=, the executor checks before labelling anything
    lab = TrainingLabeller(data, data, 2, build_options={"C": 4, "N": 1, "in_chanels": 1})
    with pytest.raises(InvalidArgumentError, match="in_chanels"):
        InlineExecutor().run(lab, [GOOD], "nb201", ["valid_acc"])


# 7 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, kind", [(True, "bool"), ("85.3", "str"), ({"v": "1e3"}, "str"), (np.bool_(True), "bool"), (None, "NoneType")]
)
def test_a_label_that_is_not_a_real_number_fails(value, kind):
    o = run_labeller(CallableLabeller(lambda a: value), GOOD, "nb201", ["v"])
    assert not o.ok and f"returned {kind}" in o.reason and "real number" in o.reason


def test_real_numbers_of_any_kind_are_labels():
    for value in (3, 2.5, np.float32(1.5), np.int64(7), {"v": np.float64(0.25)}):
        o = run_labeller(CallableLabeller(lambda a: value), GOOD, "nb201", ["v"])
        assert o.ok and isinstance(o.values["v"], float), o.reason


@pytest.mark.slow  # a local Ray instance, in its own interpreter
def test_ray_timeouts_count_from_each_tasks_start():
    pytest.importorskip("ray")
    import subprocess

    code = """
import nagen.spaces
from nagen.executors import RayExecutor
from nagen.labellers import CallableLabeller
import test_executor_robustness as T
ex = RayExecutor(address=None, num_cpus=2, timeout=1.0)
try:
    out = ex.run(CallableLabeller(T.sleepy), [T.GOOD] * 7 + [T.TWO_POOLS], "nb201", ["v"])
    print(sum(o.ok for o in out[:7]), out[7].reason)
finally:
    ex.close()
"""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "7 label exceeded the 1 s timeout" in r.stdout, r.stdout  # 1.6 s of its own, not 8 s for the batch


def test_executor_arguments_are_checked_by_name():
    from nagen.errors import UnknownOptionError
    from nagen.executors import get_executor

    with pytest.raises(InvalidArgumentError, match="timeout"):
        get_executor("inline", timeout="5")
    with pytest.raises(InvalidArgumentError, match="workers"):
        get_executor("process", workers="two")
    with pytest.raises(InvalidArgumentError, match="workers"):
        get_executor("process", workers=1.7)
    with pytest.raises(UnknownOptionError, match="wrokers"):
        get_executor("process", wrokers=2)
    with pytest.raises(UnknownOptionError, match="workers"):
        get_executor("inline", workers=4)


def test_outcomes_are_reported_as_they_arrive():
    seen = []
    out = InlineExecutor().run(CallableLabeller(sleepy), [GOOD, ONE_POOL], "nb201", ["v"], on_outcome=lambda i, o: seen.append((i, o.ok)))
    assert seen == [(0, True), (1, True)] and len(out) == 2


# module-level so that spawned workers can unpickle it
def pid_then_sleep(arch):
    """Writes its worker's pid where NAGEN_TEST_PIDS says, then sleeps far longer than the test."""
    with open(os.environ["NAGEN_TEST_PIDS"], "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(120)
    return 1.0


PARENT = """
import sys
sys.path.insert(0, {tests!r})
from test_executor_robustness import GOOD, GOOD2, pid_then_sleep
from nagen.executors import ProcessExecutor
from nagen.labellers import CallableLabeller
if __name__ == "__main__":  # spawned workers re-import this script
    with ProcessExecutor(workers=2) as ex:
        ex.run(CallableLabeller(pid_then_sleep), [GOOD, GOOD2], "nb201", ["v"])
"""


@pytest.mark.slow  # two spawned workers import torch
def test_workers_exit_when_their_study_process_is_killed(tmp_path, monkeypatch):
    import signal
    import subprocess

    pids = tmp_path / "pids"
    monkeypatch.setenv("NAGEN_TEST_PIDS", str(pids))
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(tests=os.path.dirname(__file__)))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
            time.sleep(0.2)
        workers = [int(p) for p in pids.read_text().split()]
        assert len(workers) == 2
    finally:
        parent.send_signal(signal.SIGKILL)  # no pool shutdown can run
        parent.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie (exited, not yet reaped by its new parent) is gone too
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return True

    deadline = time.time() + 20
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if alive(p)]
    for p in left:  # never leave sleepers behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, "workers outlived their killed parent"


class DiesOnLoad(Labeller):
    """Kills every worker that unpickles it (as a worker that cannot start at all)."""

    def __init__(self) -> None:
        self.marker = 1  # pickle calls __setstate__ only for a non-empty state

    def __setstate__(self, state):
        os._exit(3)

    def label(self, arch, space):
        return 1.0


def test_workers_that_die_loading_the_labeller_are_refused_up_front(monkeypatch):
    """Every label of the budget used to become a permanent failed trial ('died while loading')."""
    with ProcessExecutor(workers=1) as ex, pytest.raises(InvalidArgumentError, match="died twice while starting or loading"):
        ex.check(DiesOnLoad(), "nb201")
    # a main script that is not a file (read from stdin): workers cannot re-run it
    monkeypatch.setattr(sys.modules["__main__"], "__file__", "<stdin>", raising=False)
    with pytest.raises(InvalidArgumentError, match=r"re-run the main script '<stdin>'.*executor='inline'"):
        ProcessExecutor(workers=1).check(CallableLabeller(np.negative), "nb201")
