"""Fixes from the stop-32 reviews: keyword names, storage URLs, labeller values, identities, orphaned trials."""

from __future__ import annotations

import functools
import os
import sys
import sqlite3

import pytest

import nagen
import nagen.spaces
from nagen.constraints import ConstraintError
from nagen.errors import InvalidArgumentError, UnknownBenchmarkError, UnknownMetricError, UnknownOptionError
from nagen.executors import InlineExecutor, ProcessExecutor
from nagen.labellers import CallableLabeller, TableLabeller
from nagen.storage import DuplicateStudyError, SQLiteStorage, StorageError, owner_id
from nagen.study import Study

NB201 = nagen.spaces.get("nb201")


def huge(arch):
    return 10**400  # an int no float holds


def scaled(arch, k=1.0):
    return k * sum(op == "nor_conv_3x3" for op in arch.ops)


def interrupts(arch):
    raise KeyboardInterrupt


def convs(arch):
    return float(sum(op == "nor_conv_3x3" for op in arch.ops))


# ------------------------------------------------------------------ space= by keyword (a regression of named_options)
def test_space_is_a_keyword_of_every_entry_point() -> None:
    assert len(nagen.generate(space="nb201", n=2, method="random")) == 2
    st = Study(space="nb201", objectives="cifar10_test", labeller=TableLabeller("nb201", "cifar10_test"), storage="sqlite:///:memory:")
    assert st.space is NB201
    assert nagen.TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_test", space="nb201").space is NB201


def test_did_you_mean_for_options_and_metrics() -> None:
    with pytest.raises(UnknownOptionError, match="did you mean 'guide_labels'"):
        nagen.generate(n=2, guide_label=3)
    with pytest.raises(UnknownMetricError, match="did you mean 'cifar10_valid_12ep'"):
        nagen.search("nb201", "cifar10_valid", budget=2)
    with pytest.raises(UnknownMetricError, match=r"give the metric alone \('cifar10_test'\)"):
        nagen.search("nb201", "cifar10_test:max", budget=2)


def test_search_refuses_zero_labels_and_a_missing_table_says_so_once() -> None:
    with pytest.raises(InvalidArgumentError, match="budget"):
        nagen.search("nb201", "cifar10_test", budget=0)
    with pytest.raises(UnknownBenchmarkError) as err:
        nagen.search("nb101", "acc", budget=3)
    assert str(err.value).count("benchmark=") == 1


def test_constraint_tuples_are_shown_as_text() -> None:
    with pytest.raises(ConstraintError, match=r"constraint 'params<=0(\.0)?'"):
        nagen.generate(n=2, method="random", constraints={"params": 0})


# ------------------------------------------------------------------ storage URLs
@pytest.mark.parametrize("url", ["", "  "])
def test_a_blank_storage_is_refused(url) -> None:
    with pytest.raises(StorageError, match="names no file"):
        Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage=url)


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for url in ("~/a.db", "sqlite:///~/b.db"):
        assert SQLiteStorage(url).path == str(tmp_path / url[-4:])
    assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists()


def test_another_applications_database_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE trials (x INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a nagen study database"):
        Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage=f"sqlite:///{path}")
    assert path.read_bytes() == before  # no WAL switch, no nagen tables


# ------------------------------------------------------------------ labels
def test_a_label_too_large_for_a_float_fails_its_trial_inline(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    st = Study("nb201", "acc", CallableLabeller(huge, "acc"), proposer="random", storage=url, name="h", executor="inline")
    st.optimize(2)
    assert [t.state for t in st.trials] == ["failed", "failed"]
    assert "does not fit a float" in st.trials[0].reason
    st.optimize(3)  # it used to crash, and every resume crashed again on the same trial
    assert len(st.trials) == 3


def test_bound_arguments_are_part_of_a_labellers_identity(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    a = Study("nb201", "acc", CallableLabeller(functools.partial(scaled, k=1.0), "acc"), proposer="random", storage=url)
    b = Study("nb201", "acc", CallableLabeller(functools.partial(scaled, k=100.0), "acc"), proposer="random", storage=url)
    c = Study("nb201", "acc", CallableLabeller(functools.partial(scaled, k=1.0), "acc"), proposer="random", storage=url)
    assert a.name != b.name and a.name == c.name
    plain = CallableLabeller(scaled, "acc").identity()
    assert "bound" not in plain  # plain functions keep the names their studies were stored under


def test_a_worker_labeller_raising_keyboardinterrupt_fails_only_its_trial() -> None:
    with ProcessExecutor(workers=1) as ex:
        out = ex.run(CallableLabeller(interrupts), [NB201.format(NB201.sample(1, seed=0)[0])], "nb201", ["v"])
    assert not out[0].ok and "KeyboardInterrupt" in out[0].reason


# ------------------------------------------------------------------ trials this process orphaned
def test_an_orphaned_trial_of_this_process_is_labelled_by_the_next_optimize(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    st = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="random", storage=url, name="o", executor="inline", seed=0)
    st.optimize(2)
    # an interrupt between reserving and labelling leaves a running trial owned by this (live) process
    arch = NB201.sample(50, seed=9)[-1]
    st.storage.reserve("o", [(NB201.format(arch), arch.canonical_hash())], owner=owner_id())
    st.optimize(4)
    assert [t.state for t in st.trials] == ["complete"] * 4


def test_a_second_interrupt_during_abort_still_releases_the_trials(tmp_path) -> None:
    class Interrupted(InlineExecutor):
        calls = 0

        def _run(self, *args, **kwargs):
            Interrupted.calls += 1
            if Interrupted.calls == 3:
                raise KeyboardInterrupt
            return super()._run(*args, **kwargs)

        def abort(self):
            raise KeyboardInterrupt  # the user pressed Ctrl-C again

    url = f"sqlite:///{tmp_path / 'k.db'}"
    st = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="random", storage=url, name="k", executor=Interrupted(), seed=0)
    with pytest.raises(KeyboardInterrupt):
        st.optimize(6)
    again = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="random", storage=url, name="k", executor="inline", seed=0)
    again.optimize(6)
    assert [t.state for t in again.trials] == ["complete"] * 6

    ref = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="random", storage="sqlite:///:memory:", name="k",
                executor="inline", seed=0)
    ref.optimize(6)
    assert [t.arch for t in again.trials] == [t.arch for t in ref.trials]  # as an uninterrupted run


def test_a_study_recreated_under_an_open_object_gets_none_of_its_labels(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    a = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="random", storage=url, name="d", executor="inline", seed=0)
    a.optimize(2)
    a.storage.delete_study("d")
    b = Study("nb201", "v", CallableLabeller(convs, "v"), proposer="re", storage=url, name="d", executor="inline", seed=5)
    b.optimize(2)
    with pytest.raises(DuplicateStudyError, match="re-created"):
        a.optimize(4)
    assert len(b.trials) == 2


def _scaled_by(scale: float):
    def f(arch):
        return scale * len(arch.ops)

    return f


class _Scorer:
    def __init__(self, k: float, data: object) -> None:
        self.k, self.data = k, data

    def __call__(self, arch):
        return self.k * len(arch.ops)


def test_closures_lambdas_and_objects_with_unstable_reprs_do_not_share_a_study() -> None:
    """``make(1.0)`` and ``make(-1000.0)`` resumed one study and mixed their labels."""
    ident = lambda fn: CallableLabeller(fn, "acc").identity()  # noqa: E731
    assert ident(_scaled_by(1.0)) != ident(_scaled_by(-1000.0))
    assert ident(_scaled_by(1.0)) == ident(_scaled_by(1.0))  # stable across instances (and runs)
    one, two = (lambda a: 1.0), (lambda a: 2.0)
    assert ident(one) != ident(two)
    data = object()  # its repr holds an address: only the address is left out
    assert ident(_Scorer(1.0, data)) != ident(_Scorer(-1000.0, data))
    assert ident(_Scorer(1.0, data)) == ident(_Scorer(1.0, object()))


def _with_set():
    names = {"conv", "pool", "skip", "none", "c1x1"}

    def f(arch):
        return float(sum(op in names for op in arch.ops))

    return f


def _with_tuple_keys():
    table = {(0, 1): 0.5, "x": 1.0}

    def f(arch):
        return table[(0, 1)]

    return f


def _decorated():
    @functools.wraps(scaled)
    def wrapper(*a, **k):
        return scaled(*a, **k)

    return wrapper


def test_a_closures_identity_is_stable_across_processes_and_ignores_unplain_captures() -> None:
    """Captured sets (hash-seeded order), modules (install paths) and non-string dict keys made the
    identity unstable or crashed; a decorator's wrapper (it captures a function) keeps its old name."""
    import subprocess

    code = ("import sys; sys.path.insert(0, {!r}); import test_review_robustness as t; "
            "from nagen.labellers import CallableLabeller; print(CallableLabeller(t._with_set(), 'acc').identity()['bound'])")
    here = os.path.dirname(os.path.abspath(__file__))
    seen = {subprocess.run([sys.executable, "-c", code.format(here)], env={**os.environ, "PYTHONHASHSEED": str(h)},
                           capture_output=True, text=True, check=True).stdout.strip() for h in (1, 2)}
    assert len(seen) == 1
    assert "bound" in CallableLabeller(_with_tuple_keys(), "acc").identity()
    assert "bound" not in CallableLabeller(_decorated(), "acc").identity()
