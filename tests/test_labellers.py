"""Labellers (table, callable, real training) and executors (inline, process pool, Ray)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

import nagen.spaces
from nagen.errors import InvalidSpecError, UnknownMetricError
from nagen.executors import InlineExecutor, ProcessExecutor, get_executor
from nagen.labellers import CallableLabeller, TableLabeller, TrainingLabeller, run_labeller

NB201 = nagen.spaces.get("nb201")
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


# module-level so that spawned workers can unpickle them
def n_convs(arch):
    return float(sum(op.startswith("nor_conv") for op in arch.ops))


def flaky(arch):
    convs = n_convs(arch)
    if convs == 0:
        raise RuntimeError("no conv, no label")
    if convs == 1:
        return float("nan")
    return {"wrong_name": convs} if convs == 2 else convs


def slow(arch):
    time.sleep(30 if "avg_pool_3x3" in arch.ops else 0.0)
    return 1.0


def test_table_labeller(nb201):
    lab = TableLabeller("nb201", ["cifar10_test", "params"])
    out = lab.label(NB201.parse(CELL), NB201)
    assert out["cifar10_test"] == pytest.approx(94.373333)
    assert lab.directions() == {"cifar10_test": "max", "params": "min"}
    assert lab.spec() == {"kind": "table", "benchmark": "nb201", "metric": ["cifar10_test", "params"]}
    assert TableLabeller(nb201, "cifar10_test").spec() is None  # a Benchmark object cannot be rebuilt by name
    with pytest.raises(UnknownMetricError, match="available metrics"):
        TableLabeller("nb201", "cifar11_test")
    for bad in (None, 5, ["cifar10_test", None]):  # None used to be a bare "'NoneType' object is not iterable"
        with pytest.raises(UnknownMetricError, match="a metric name or a list of them"):
            TableLabeller("nb201", bad)


def test_run_labeller_turns_every_failure_into_a_reason():
    def outcome(ops):
        return run_labeller(CallableLabeller(flaky), NB201.format(NB201.from_op_ids(ops)), "nb201", ["acc"])

    assert "no conv, no label" in outcome([0, 0, 0, 0, 0, 0]).reason
    assert "nan" in outcome([3, 0, 0, 0, 0, 0]).reason
    assert "missing ['acc']" in outcome([3, 3, 0, 0, 0, 0]).reason
    ok = outcome([3, 3, 3, 0, 0, 0])
    assert ok.ok and ok.values == {"acc": 3.0}


def test_training_labeller_really_trains_on_digits():
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)  # 1 x 8 x 8 images
    y = torch.tensor(y)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, valid = TensorDataset(X[idx[:400]], y[idx[:400]]), TensorDataset(X[idx[400:700]], y[idx[400:700]])
    opts = {"C": 4, "N": 1, "in_channels": 1}  # nb201 builder, tiny: 2 reductions take 8x8 to 2x2
    lab = TrainingLabeller(train, valid, 10, epochs=3, batch_size=50, lr=0.1, build_options=opts)
    conv = lab.label(NB201.parse(CELL), NB201)["valid_acc"]
    empty = lab.label(NB201.from_op_ids([0] * 6), NB201)["valid_acc"]  # all-'none' cell: no signal passes
    assert conv > 35.0  # far above chance (10 %, 300 held-out digits): it learnt
    assert empty < conv


def test_training_labeller_takes_float64_images_and_a_last_batch_of_one():
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    from nagen.spaces import get

    X, y = load_digits(return_X_y=True)
    # float64 images and int32 labels, as numpy gives them: the check passed but every trial failed
    X = torch.tensor(X[:81] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.tensor(y[:81], dtype=torch.int32)
    train, valid = TensorDataset(X[:65], y[:65]), TensorDataset(X[65:], y[65:])
    lab = TrainingLabeller(train, valid, 10, epochs=1, batch_size=32, build_options={"C": 4, "N": 1, "in_channels": 1})
    lab.check(NB201)
    assert 0.0 <= lab.label(NB201.parse(CELL), NB201)["valid_acc"] <= 100.0
    # 65 = 2 x 32 + 1: a last batch of one image fails mbv3's BatchNorm at 1x1 in training mode
    mbv3 = get("mbv3")
    lab = TrainingLabeller(train, valid, 10, epochs=1, batch_size=32, build_options={"in_channels": 1})
    assert 0.0 <= lab.label(mbv3.sample(1, 0)[0], mbv3)["valid_acc"] <= 100.0


def test_labeller_arguments_are_checked_by_name():
    from torch.utils.data import TensorDataset

    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="needs a callable"):
        CallableLabeller(5)
    data = TensorDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    for options, name in [({"num_classes": "ten"}, "num_classes"), ({"num_classes": 2.7}, "num_classes"),
                          ({"num_classes": 1}, "num_classes"), ({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr")]:
        with pytest.raises(InvalidArgumentError, match=name):
            TrainingLabeller(data, data, **{"num_classes": 2, **options})


def test_inline_executor_timeout_is_checked():
    ex = InlineExecutor(timeout=0.01)
    archs = [NB201.format(a) for a in NB201.sample(2, 0)]
    out = ex.run(CallableLabeller(lambda a: time.sleep(0.05) or 1.0), archs, "nb201", ["v"])
    assert all(not o.ok and "timeout" in o.reason for o in out)


def test_process_executor_kills_late_labels_and_continues():
    fast = NB201.format(NB201.from_op_ids([3, 3, 3, 3, 3, 3]))
    late = NB201.format(NB201.from_op_ids([4, 3, 3, 3, 3, 3]))
    with ProcessExecutor(workers=2, timeout=5.0) as ex:  # worker start-up is not counted
        t0 = time.perf_counter()
        out = ex.run(CallableLabeller(slow), [fast, late, fast], "nb201", ["v"])
        assert time.perf_counter() - t0 < 28  # the 30 s label was not waited for
        assert [o.ok for o in out] == [True, False, True]
        assert "timeout" in out[1].reason
        again = ex.run(CallableLabeller(n_convs), [fast], "nb201", ["v"])  # the pool was restarted
        assert again[0].values == {"v": 6.0}


def test_get_executor_names():
    assert isinstance(get_executor("inline"), InlineExecutor)
    with pytest.raises(InvalidSpecError, match="among choices"):
        get_executor("dask")


@pytest.mark.slow  # starting a local Ray instance
def test_ray_executor_local_two_cpus():
    pytest.importorskip("ray")
    import subprocess
    import sys

    # its own interpreter: Ray start-up and shutdown stay out of the test process
    code = f"""
import nagen.spaces
from nagen.executors import RayExecutor
from nagen.labellers import CallableLabeller
import test_labellers as T
sp = nagen.spaces.get("nb201")
ex = RayExecutor(address=None, num_cpus=2, timeout=60)
try:
    out = ex.run(CallableLabeller(T.flaky), [sp.format(sp.from_op_ids(i)) for i in ([3]*6, [0]*6)], "nb201", ["acc"])
    print(out[0].values, out[1].reason)
finally:
    ex.close()
"""
    import os

    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "{'acc': 6.0} labeller raised RuntimeError: no conv, no label" in r.stdout


def test_import_nagen_stays_light():
    import subprocess
    import sys

    code = "import sys, nagen, nagen.study, nagen.storage, nagen.search_api; print(sorted(m for m in ('ray', 'botorch') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stderr


def test_one_direction_without_an_objective_name_is_the_single_objectives():
    # refused with "needs exactly one objective", though the docstring offered directions="max"
    from nagen.errors import InvalidSpecError
    from nagen.study import Study

    lab = CallableLabeller(lambda a: 1.0, directions="min")
    assert Study("nb201", "score", lab, storage="sqlite://").directions == ["min"]
    with pytest.raises(InvalidSpecError, match="is for a single objective"):
        Study("nb201", ["a", "b"], lab, storage="sqlite://")
