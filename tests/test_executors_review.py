"""Executors and labellers after a review: BaseExceptions, leaked grandchildren, label shapes,
hung warm-ups, re-sent labellers, Ray preflight, start grace and addresses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

import nagen
import nagen.executors
import nagen.spaces
from nagen.errors import InvalidArgumentError
from nagen.executors import ExecutorConnectionError, InlineExecutor, ProcessExecutor, _label_task
from nagen.labellers import CallableLabeller, Labeller, TrainingLabeller, run_labeller
from test_executor_robustness import GOOD, GOOD2, ONE_POOL, TWO_POOLS, _digits

TESTS = os.path.dirname(os.path.abspath(__file__))


# module-level so that spawned workers can unpickle them
class Stop(BaseException):
    """A labeller's own BaseException (not an Exception)."""


def cancels_on_pools(arch):
    """asyncio.CancelledError (a BaseException) on cells with an avg-pool, else a value."""
    if "avg_pool_3x3" in arch.ops:
        raise asyncio.CancelledError("an awaited training step was cancelled")
    return float(arch.ops.count("nor_conv_3x3"))


def raises_stop(arch):
    raise Stop("custom BaseException")


def interrupts(arch):
    raise KeyboardInterrupt


def starts_a_child(arch):
    """Shells out to a 'training' child that outlives any timeout; writes the child's pid first."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(os.environ["NAGEN_TEST_CHILD"], "w") as f:
        f.write(str(child.pid))
    child.wait()
    return 1.0


class HangsWarming(Labeller):
    """warm_up() never returns (a stalled download)."""

    def warm_up(self):
        time.sleep(1000)

    def label(self, arch, space):
        return 1.0


class Offset(Labeller):
    """Count of 3x3 convolutions plus ``offset``, holding ``size`` bytes of data."""

    def __init__(self, offset: float, size: int = 0) -> None:
        self.offset = offset
        self.data = np.ones(size // 8)

    def label(self, arch, space):
        return arch.ops.count("nor_conv_3x3") + self.offset


# 1 --------------------------------------------------------------------------------------------
def test_a_labellers_base_exception_fails_its_trial_only():
    """asyncio.CancelledError escaped optimize(): the trial was released, proposed again, and raised again."""
    st = nagen.Study("nb201", "v", CallableLabeller(cancels_on_pools), storage="sqlite:///:memory:", name="b",
                     seed=0, executor="inline", proposer="random")
    st.optimize(6)
    states = [t.state for t in st.trials]
    assert len(states) == 6 and "failed" in states and "complete" in states
    failed = [t for t in st.trials if t.state == "failed"][0]
    assert failed.reason == "labeller raised asyncio.exceptions.CancelledError: an awaited training step was cancelled"
    o = run_labeller(CallableLabeller(raises_stop), GOOD, "nb201", ["v"])
    assert not o.ok and "Stop: custom BaseException" in o.reason
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C still stops the study
        run_labeller(CallableLabeller(interrupts), GOOD, "nb201", ["v"])


@pytest.mark.slow  # a spawned worker imports torch
def test_a_labellers_base_exception_fails_its_trial_on_the_process_pool():
    with ProcessExecutor(workers=1) as ex:
        out = ex.run(CallableLabeller(raises_stop), [GOOD], "nb201", ["v"])
        assert not out[0].ok and "Stop: custom BaseException" in out[0].reason
        out = ex.run(CallableLabeller(cancels_on_pools), [ONE_POOL, GOOD], "nb201", ["v"])
    assert "CancelledError" in out[0].reason and out[1].values == {"v": 6.0}


def test_a_ray_task_error_is_one_line_without_colours():
    ray = pytest.importorskip("ray")
    from nagen.executors import _ray_reason

    e = ray.exceptions.RayTaskError("_ray_label_task", "\x1b[36mray::_ray_label_task()\x1b[39m\nTraceback ...\n  File x", Stop("custom"))
    assert _ray_reason(ray, e) == "ray task failed: Stop: custom"


# 2 --------------------------------------------------------------------------------------------
@pytest.mark.slow  # a spawned worker imports torch
def test_a_timeout_kills_the_processes_a_label_started(tmp_path, monkeypatch):
    """The pool killed the worker and left its `subprocess` child running, re-parented to init."""
    marker = tmp_path / "child"
    monkeypatch.setenv("NAGEN_TEST_CHILD", str(marker))
    with ProcessExecutor(workers=1, timeout=1.0) as ex:
        out = ex.run(CallableLabeller(starts_a_child), [GOOD], "nb201", ["v"])
    assert "timeout" in out[0].reason
    child = int(marker.read_text())
    try:
        deadline = time.time() + 5
        while time.time() < deadline and _alive(child):
            time.sleep(0.1)
        assert not _alive(child), "the label's child process outlived the killed worker"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie is gone, awaiting its reaper
    except OSError:
        return False


# 3 --------------------------------------------------------------------------------------------
class OneHot(Dataset):
    """Items (image, one-hot label): no labels attribute, so only reading an item shows their shape."""

    def __init__(self) -> None:
        self.base = _digits(1)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return x, torch.nn.functional.one_hot(y, 2)


def test_training_labeller_takes_a_column_of_labels_and_refuses_other_shapes():
    """Validation labels of shape (N, 1) broadcast against the predictions: accuracies far over 100 %."""
    opts = {"C": 4, "N": 1, "in_channels": 1}
    data = _digits(1)
    column = TensorDataset(data.tensors[0], data.tensors[1].reshape(-1, 1))
    flat = TrainingLabeller(data, data, 2, epochs=1, batch_size=4, build_options=opts)
    col = TrainingLabeller(column, column, 2, epochs=1, batch_size=4, build_options=opts, space="nb201")
    a, b = (InlineExecutor().run(lab, [GOOD], "nb201", ["valid_acc"])[0] for lab in (flat, col))
    assert a.ok and b.ok and b.values == a.values and 0 <= b.values["valid_acc"] <= 100
    two = TensorDataset(data.tensors[0], torch.stack([data.tensors[1]] * 2, 1))
    with pytest.raises(InvalidArgumentError, match=r"valid needs one class index per example.*shape \(8, 2\)"):
        TrainingLabeller(data, two, 2, build_options=opts)
    lab = TrainingLabeller(data, OneHot(), 2, epochs=1, batch_size=4, build_options=opts)
    with pytest.raises(InvalidArgumentError, match=r"valid needs one class index.*shape \(2,\).*argmax"):
        lab.check("nb201")
    o = run_labeller(lab, GOOD, "nb201", ["valid_acc"])  # label() alone (unchecked) refuses too
    assert not o.ok and "valid needs one class index per example" in o.reason


# 10 -------------------------------------------------------------------------------------------
def test_training_labeller_refuses_the_meta_device():
    data = _digits(1)
    with pytest.raises(InvalidArgumentError, match=r"device 'meta' holds no data.*'cpu'"):
        TrainingLabeller(data, data, 2, build_options={"C": 4, "N": 1, "in_channels": 1}, device="meta", space="nb201")


# 7 --------------------------------------------------------------------------------------------
@pytest.mark.slow  # spawned workers import torch
def test_a_hung_warm_up_fails_after_the_start_grace(monkeypatch):
    """_get_pool waited for the workers' warm-up without a limit: run() and check() blocked for ever."""
    monkeypatch.setattr(nagen.executors, "_START_GRACE", 3.0)
    ex = ProcessExecutor(workers=1, timeout=0.1)
    try:
        t = time.monotonic()
        out = ex.run(HangsWarming(), [GOOD], "nb201", ["v"])
        assert not out[0].ok and "did not load the labeller" in out[0].reason and "within 3 s" in out[0].reason
        with pytest.raises(InvalidArgumentError, match=r"did not load the labeller.*within 3 s.*warm_up"):
            ex.check(HangsWarming(), "nb201")
        assert time.monotonic() - t < 30
    finally:
        ex.abort()


# 9 --------------------------------------------------------------------------------------------
@pytest.mark.slow  # spawned workers import torch
def test_the_labeller_goes_to_each_worker_once_not_with_every_label(monkeypatch):
    """Every label task carried the pickled labeller (2.3 s per label for one holding 400 MB)."""
    import concurrent.futures as cf

    sent: list[tuple[str, bool]] = []  # (task, carried the labeller)
    real = cf.ProcessPoolExecutor.submit

    def submit(self, fn, *args, **kwargs):  # the real submit, recorded
        sent.append((fn.__name__, any(isinstance(a, bytes) for a in args)))
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(cf.ProcessPoolExecutor, "submit", submit)
    lab = Offset(0.0, size=1 << 20)
    archs = [GOOD, GOOD2, ONE_POOL, TWO_POOLS] * 2
    with ProcessExecutor(workers=2) as ex:
        out = ex.run(lab, archs, "nb201", ["v"])
        assert [o.values["v"] for o in out[:4]] == [6.0, 5.0, 5.0, 4.0]
        labels = [carried for name, carried in sent if name == "_label_task"]
        assert len(labels) >= 8 and sum(labels) <= 2, sent  # at most once per worker that missed the warm-up
        lab.offset = 10.0  # a labeller changed between runs must not run stale
        out = ex.run(lab, [GOOD], "nb201", ["v"])
        assert out[0].values == {"v": 16.0}
    # a worker without the labeller asks for it instead of labelling with another one
    assert _label_task(0, "not-loaded", None, GOOD, "nb201", ["v"]) is None


# (c) ------------------------------------------------------------------------------------------
NO_GUARD = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from nagen.executors import ProcessExecutor
from nagen.labellers import CallableLabeller
ProcessExecutor(workers=1).check(CallableLabeller(np.negative), "nb201")  # no __main__ guard
"""


@pytest.mark.slow  # two pools of spawned workers
def test_a_script_without_a_main_guard_is_told_so(tmp_path):
    script = tmp_path / "noguard.py"
    script.write_text(NO_GUARD.format(tests=TESTS))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert "died twice" in last and "'noguard.py'" in last and 'if __name__ == "__main__":' in last, last


# 6 --------------------------------------------------------------------------------------------
UNREACHABLE = """
import time
from nagen.executors import ExecutorConnectionError, RayExecutor
t = time.monotonic()
try:
    RayExecutor(address="127.0.0.1:1")
except ExecutorConnectionError as e:
    print("refused in", round(time.monotonic() - t), "s:", e)
import os
os.environ["RAY_ADDRESS"] = "127.0.0.1:2"  # as `ray job submit` names the cluster: address=None joins it
try:
    RayExecutor()
except ExecutorConnectionError as e:
    print("env:", e)
"""


def test_an_unreachable_ray_address_is_refused_at_once():
    """Ray retried the connection for minutes."""
    pytest.importorskip("ray")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", UNREACHABLE], capture_output=True, text=True, timeout=60, env=env)
    assert "refused in" in r.stdout and "'127.0.0.1:1'" in r.stdout and "ray start --head" in r.stdout, r.stdout + r.stderr[-2000:]
    assert int(r.stdout.split("refused in")[1].split()[0]) < 10
    assert "env: " in r.stdout and "'127.0.0.1:2'" in r.stdout.split("env: ")[1]


# 4, 5, 8, (a), (b), 1 on Ray ------------------------------------------------------------------
RAY = """
import json, warnings
import ray
import nagen.executors, nagen.spaces
from nagen.errors import InvalidArgumentError
from nagen.executors import ExecutorConnectionError, RayExecutor
from nagen.labellers import CallableLabeller
import test_executor_robustness as R
import test_executors_review as T

ex = RayExecutor(timeout=0.3)  # address=None and no RAY_ADDRESS: a new local instance
print("started", ex._started)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    RayExecutor(num_cpus=4)
print("warned", [str(x.message) for x in w])
spec = json.load(open({spec!r}))
sp = nagen.spaces.register_space(nagen.spaces.from_spec(dict(spec, name="driver_only")))
try:
    ex.check(CallableLabeller(T.cancels_on_pools), nagen.spaces.reference(sp))  # by name: registered here
except InvalidArgumentError as e:
    print("space refused:", e)
try:
    ex.check(T.Locked(), "nb201")
except InvalidArgumentError as e:
    print("unserialisable:", e)
out = ex.run(CallableLabeller(T.raises_stop), [R.GOOD], "nb201", ["v"])
print("base exception:", repr(out[0].reason))
nagen.executors._START_GRACE = 2.0


@ray.remote(num_cpus=1)
class Hog:  # holds a CPU of the Ray instance for as long as it lives
    def ready(self):
        return True


hogs = [Hog.remote() for _ in range(2)]  # every CPU taken: no label can start
ray.get([h.ready.remote() for h in hogs])
out = ex.run(CallableLabeller(T.cancels_on_pools), [R.GOOD], "nb201", ["v"])
print("never started:", out[0].reason)
try:
    ex.check(CallableLabeller(T.raises_stop), "nb201")
except ExecutorConnectionError as e:
    print("preflight:", str(e)[:80])
ex.close()
"""


class Locked(Labeller):
    """Holds a lock, which nothing can pickle."""

    def __getstate__(self):
        import threading

        return {"lock": threading.Lock()}

    def label(self, arch, space):
        return 1.0


@pytest.mark.slow  # a local Ray instance, in its own interpreter
def test_ray_executor_preflight_start_grace_and_local_address():
    pytest.importorskip("ray")
    spec = os.path.join(os.path.dirname(TESTS), "examples", "spaces", "tiny_dag.json")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", RAY.format(spec=spec)], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    assert lines["started"] == "True"
    assert "already initialised" in lines["warned"] and "num_cpus=4" in lines["warned"]
    assert "'driver_only' is not known in a Ray worker" in lines["space"]
    assert "cannot be serialised for Ray" in lines["unserialisable:"] and "lock" in lines["unserialisable:"]
    assert "not a lambda" not in lines["unserialisable:"]
    assert lines["base"] == "exception: 'labeller raised test_executors_review.Stop: custom BaseException'"
    assert lines["never"] == "started: label did not start within 3 s (no Ray worker with a free CPU took it?)"
    assert lines["preflight:"].startswith("no Ray worker ran a first task")
