"""Studies: BO rounds, failures, multi-objective, resuming after SIGKILL, two processes on one study."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nagen.benchmarks
import nagen.spaces
from nagen.errors import InvalidArgumentError, InvalidSpecError
from nagen.labellers import CallableLabeller, TableLabeller
from nagen.storage import DuplicateStudyError
from nagen.study import Study, StudyError, load_study, round_seed

NB201 = nagen.spaces.get("nb201")


def n_convs(arch):
    convs = sum(op.startswith("nor_conv") for op in arch.ops)
    if convs == 0:
        raise RuntimeError("no conv")
    return float("nan") if convs == 6 else float(convs)


def _unique(study):
    hashes = [t.hash for t in study.trials]
    return len(hashes) == len(set(hashes))


def test_bo_study_labels_new_cells_and_resumes_by_name(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    lab = TableLabeller("nb201", "cifar10_test")
    st = Study("nb201", "cifar10_test", lab, storage=url, name="c10", seed=3, executor="inline", n_initial=3)
    st.optimize(6, batch_size=2)
    assert len(st.history) == 6 and _unique(st)
    assert all(t.state == "complete" for t in st.history)
    assert st.best.values["cifar10_test"] == max(t.values["cifar10_test"] for t in st.history)
    first = [t.arch for t in st.history]
    # re-open by name (labeller rebuilt from storage) and pay for two more labels
    again = load_study("c10", url, executor="inline")
    again.optimize(8)
    assert [t.arch for t in again.history[:6]] == first
    assert len(again.history) == 8 and _unique(again)
    with pytest.raises(DuplicateStudyError, match="seed"):
        Study("nb201", "cifar10_test", lab, storage=url, name="c10", seed=4)


def test_failures_are_recorded_and_the_study_continues():
    st = Study(
        "nb201", "v", CallableLabeller(n_convs), proposer="random", storage="sqlite:///:memory:", seed=0, executor="inline"
    )
    st.optimize(40)
    failed = [t for t in st.history if t.state == "failed"]
    assert len(st.history) == 40 and failed
    assert {t.reason.split(":")[0] for t in failed} <= {"labeller raised RuntimeError", "labeller returned nan for 'v'"}
    assert _unique(st)


@pytest.mark.parametrize("method", ["re", "random"])
def test_direct_methods(method):
    st = Study(
        "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer=method,
        storage="sqlite:///:memory:", seed=1, executor="inline",
    )
    st.optimize(25)
    assert len(st.history) == 25 and _unique(st)


def test_multi_objective_front():
    lab = TableLabeller("nb201", ["cifar10_test", "params"])
    st = Study(
        "nb201", ["cifar10_test", "params"], lab, storage="sqlite:///:memory:", seed=0, executor="inline", n_initial=4,
        max_acquisition_pool=64, mc_samples=32,  # small: this checks the wiring, not the optimiser
    )
    assert st.directions == ["max", "min"]
    st.optimize(6, batch_size=2)  # the last round runs qLogNEHVI
    front = st.front
    assert front and _unique(st)
    for a in front:
        for b in st.history:
            assert not (b.values["cifar10_test"] > a.values["cifar10_test"] and b.values["params"] < a.values["params"])
    with pytest.raises(Exception, match="front"):
        st.best


def test_opgfn_proposer_when_available():
    pytest.importorskip("nagen.generators.opgfn")
    st = Study(
        "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="opgfn",
        storage="sqlite:///:memory:", seed=0, executor="inline", n_initial=3,
    )
    st.optimize(4)
    assert len(st.history) == 4 and _unique(st)


@pytest.mark.parametrize("surrogate", ["gp_wl", "gp_wl+zc"])
def test_wl_surrogate_runs_and_is_deterministic(surrogate):
    def picks(seed):
        st = Study(
            "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage="sqlite:///:memory:", seed=seed,
            executor="inline", n_initial=3, surrogate=surrogate, max_acquisition_pool=64, mc_samples=32,
        )
        st.optimize(6)  # three rounds of qLogNEI on WL count features over the whole NB201 pool
        assert len(st.history) == 6 and _unique(st)
        assert all(t.state == "complete" for t in st.history)
        return [t.arch for t in st.history]

    assert picks(0) == picks(0)


@pytest.mark.parametrize("guide", ["mean", "acquisition"])
def test_diffusion_proposer_with_a_small_generator(guide, monkeypatch):
    from nagen.generators.diffusion import DiffusionGenerator
    from nagen.study import _DIFFUSION_CACHE

    # a tiny, briefly trained generator stands in for the full one (the proposer caches per space)
    key = ("nb201", 0)
    saved = _DIFFUSION_CACHE.get(key)
    _DIFFUSION_CACHE[key] = DiffusionGenerator("nb201", hidden=16, layers=1, seed=0).fit(NB201.sample(200, 0), steps=20)
    try:
        from nagen.study import DiffusionProposer

        seen: list[str] = []
        draws: set[int] = set()
        real = DiffusionGenerator.sample

        def spy(self, n, *, guides=(), **kw):
            seen.extend(type(g.predictor).__name__ for g in guides)
            draws.update(g.predictor.mc_samples for g in guides if hasattr(g.predictor, "mc_samples"))
            return real(self, n, guides=guides, **kw)

        monkeypatch.setattr(DiffusionGenerator, "sample", spy)
        st = Study(
            "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"),
            proposer=DiffusionProposer(pool_size=40, steps=5, guide=guide), storage="sqlite:///:memory:", seed=0,
            executor="inline", n_initial=3, mc_samples=32,
        )
        st.optimize(4)
        assert len(st.history) == 4 and _unique(st)
        # the guide is the study's own acquisition (its quasi-MC draws too), or the GP's posterior mean;
        # the stored config says which
        assert set(seen) == {"AcquisitionPredictor" if guide == "acquisition" else "GPPredictor"}
        assert draws == ({32} if guide == "acquisition" else set())
        assert st._config()["proposer"].get("guide", "mean") == guide
    finally:
        if saved is None:
            _DIFFUSION_CACHE.pop(key, None)
        else:
            _DIFFUSION_CACHE[key] = saved


def test_bad_arguments():
    lab = TableLabeller("nb201", "cifar10_test")
    with pytest.raises(InvalidSpecError, match="among choices"):
        Study("nb201", "cifar10_test", lab, proposer="nope", storage="sqlite:///:memory:")
    with pytest.raises(InvalidSpecError, match="n_initial"):
        Study("nb201", "cifar10_test", lab, storage="sqlite:///:memory:", n_initial=1)
    assert round_seed(0, 5) == round_seed(0, 5) != round_seed(0, 6)
    for key, value in (("mc_samples", 0), ("n_initial", 2.7), ("n_initial", "abc"), ("max_acquisition_pool", 0), ("seed", None), ("seed", -1)):
        with pytest.raises(InvalidSpecError, match=key):
            Study("nb201", "cifar10_test", lab, storage="sqlite:///:memory:", **{key: value})
    for bad_name in (5, "", "  "):  # 5 used to be stored as the name, "" to become a made-up default name
        with pytest.raises(InvalidSpecError, match="name must be a non-empty string"):
            Study("nb201", "cifar10_test", lab, storage="sqlite:///:memory:", name=bad_name)
    # the labeller says what it returns: an objective it cannot label is refused before any label is paid
    with pytest.raises(InvalidSpecError, match=r"objectives \['cifar10_test'\] are not among the labeller's \['cifar10_valid_12ep'\]"):
        Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_valid_12ep"), storage="sqlite:///:memory:")


def test_a_new_study_needs_a_labeller_and_a_stored_one_reopens_with_its_directions(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with pytest.raises(StudyError, match="a new study needs a labeller"):
        Study("nb201", "cifar10_test", None, storage=url, name="new")
    lab = TableLabeller("nb201", "cifar10_test")
    with pytest.raises(InvalidSpecError):
        Study("nb201", "cifar10_test", lab, storage=url, name="new", proposer="nope")
    with pytest.raises(InvalidSpecError, match="upper bound must be > 0"):
        Study("nb201", "cifar10_test", lab, storage=url, name="new", constraints=["params<=-5"])
    assert not (tmp_path / "l.db").exists()  # a rejected call writes nothing, not even an empty database
    # nothing was stored, so the corrected call works
    Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage=url, name="new", executor="inline")
    # a minimised objective: its direction comes from the stored labeller when re-opened without one
    lat = Study("nb201", "lat_pixel3_ms", TableLabeller("nb201", "lat_pixel3_ms"), storage=url, name="lat", executor="inline")
    assert lat.directions == ["min"]
    again = Study("nb201", "lat_pixel3_ms", None, storage=url, name="lat", executor="inline")
    assert again.directions == ["min"] and again.labeller is not None


def test_default_executor_is_inline_for_table_lookups(monkeypatch):
    import nagen.executors as E

    seen = []
    real = E.get_executor
    monkeypatch.setattr(E, "get_executor", lambda spec, **kw: (seen.append(spec), real(spec, **kw))[1])
    Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="random", storage="sqlite:///:memory:").optimize(2)
    assert seen == ["inline"]  # a pool of spawned workers would only add seconds of start-up to lookups


def test_zero_cost_initial_pool_is_capped(monkeypatch):
    """A huge n_initial must not make every initial round rank 20 x n_initial cells."""
    import nagen.study as S

    asked = []
    real = S.ProposalContext.random
    monkeypatch.setattr(S.ProposalContext, "random", lambda self, n, salt=0: (asked.append(n), real(self, n, salt))[1])
    st = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage="sqlite:///:memory:", n_initial=1000)
    st.optimize(2)
    assert asked and max(asked) == S.ZC_POOL_MAX


def test_unmeetable_constraint_is_named():
    st = Study(
        "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="random",
        storage="sqlite:///:memory:", executor="inline", constraints=["params<=1"],
    )
    with pytest.raises(StudyError, match=r"no unlabelled architecture meets the constraints \['params<=1"):
        st.optimize(3)


class _Interrupting:
    """Labels from the table but raises KeyboardInterrupt (a user's Ctrl-C) on one call."""

    def __init__(self, at):
        self.calls, self.at = 0, at
        self.table = nagen.benchmarks.load("nb201")

    def __call__(self, arch):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.table.query(arch, "cifar10_test")


def test_interrupted_optimize_loses_no_label():
    """Ctrl-C mid-label in a live process: the next optimize() labels the interrupted trial."""
    fn = _Interrupting(at=3)
    st = Study("nb201", "cifar10_test", CallableLabeller(fn), proposer="random", storage="sqlite:///:memory:", seed=0, executor="inline")
    with pytest.raises(KeyboardInterrupt):
        st.optimize(6)
    assert [t.state for t in st.trials] == ["complete", "complete", "running"]
    st.optimize(6)
    assert len(st.history) == 6 and all(t.state == "complete" for t in st.trials)
    # ... and the same labels, in the same order, as a run that was never interrupted
    ref = Study("nb201", "cifar10_test", CallableLabeller(_Interrupting(at=-1)), proposer="random",
                storage="sqlite:///:memory:", seed=0, executor="inline").optimize(6)
    assert [t.arch for t in st.history] == [t.arch for t in ref.history]


CHILD = """
import sys, time
import nagen.benchmarks
from nagen.labellers import CallableLabeller
from nagen.study import Study

TABLE = nagen.benchmarks.load("nb201")

def label(arch):
    time.sleep({sleep})  # slow enough to be killed mid-label
    return TABLE.query(arch, "cifar10_test")

st = Study("nb201", "cifar10_test", CallableLabeller(label), storage=sys.argv[1], name="k", seed=7,
           executor="inline", n_initial=3)
st.optimize({budget}, batch_size=2)
"""


def _complete(db):
    try:
        with sqlite3.connect(db, timeout=30) as c:
            return c.execute("SELECT COUNT(*) FROM trials WHERE state = 'complete'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _run_child(tmp_path, db, budget, sleep):
    script = tmp_path / f"child_{sleep}.py"
    script.write_text(textwrap.dedent(CHILD.format(budget=budget, sleep=sleep)))
    return subprocess.Popen([sys.executable, str(script), f"sqlite:///{db}"], stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # three interpreters, each importing torch and BoTorch
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    budget = 9
    # uninterrupted reference, same code path, its own database
    ref_db = tmp_path / "ref.db"
    ref = _run_child(tmp_path, ref_db, budget, 0.0)
    # the victim: killed with SIGKILL while labelling, after some labels were committed
    db = tmp_path / "kill.db"
    victim = _run_child(tmp_path, db, budget, 0.4)
    deadline = time.time() + 120
    while _complete(db) < 4 and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    time.sleep(0.15)  # inside the next label's sleep
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert ref.wait(timeout=180) == 0, ref.stderr.read()
    killed_at = _complete(db)
    assert 4 <= killed_at < budget
    # resume: the same code, which adopts the killed process's reserved trials
    resumed = _run_child(tmp_path, db, budget, 0.0)
    assert resumed.wait(timeout=180) == 0, resumed.stderr.read()
    from nagen.storage import SQLiteStorage

    a = SQLiteStorage(ref_db).trials("k")
    b = SQLiteStorage(db).trials("k")
    assert [(t.number, t.arch, t.state, t.values) for t in b] == [(t.number, t.arch, t.state, t.values) for t in a]
    assert len(b) == budget and len({t.hash for t in b}) == budget


@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path):
    db = tmp_path / "two.db"
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent(CHILD.format(budget=12, sleep=1.0)).replace('executor="inline", n_initial=3', 'executor="inline", n_initial=3, proposer="re"'))
    # labels of ~1 s keep both processes labelling even when one starts seconds after the other
    procs = [subprocess.Popen([sys.executable, str(script), f"sqlite:///{db}"], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=240) == 0, p.stderr.read()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = c.execute("SELECT number, hash, state, owner FROM trials WHERE study = 'k'").fetchall()
    assert len(rows) == 12
    assert len({r[1] for r in rows}) == 12  # no architecture labelled twice
    assert {r[2] for r in rows} == {"complete"}
    assert sorted(r[0] for r in rows) == list(range(12))
    assert len({r[3] for r in rows}) == 2  # both processes labelled


def conv3_share(arch):
    return sum(op == "conv3x3-bn-relu" for op in arch.ops) / len(arch.ops)


def test_bo_pool_on_a_space_too_large_to_enumerate(monkeypatch):
    # NB101 cannot be enumerated: the pool is mutations plus random cells, and it must hold pool_size
    # candidates for the acquisition to choose from, not the batch size the round asks for
    from nagen.study import PoolProposer

    seen = []
    acquire = Study._acquire
    monkeypatch.setattr(Study, "_acquire", lambda self, ctx, pool, q: seen.append(len(pool)) or acquire(self, ctx, pool, q))
    st = Study(
        "nb101", "share", CallableLabeller(conv3_share), proposer=PoolProposer(pool_size=50),
        storage="sqlite:///:memory:", seed=0, executor="inline", n_initial=3, surrogate="gp_wl", initial="random",
    )
    st.optimize(6, batch_size=1)
    assert len(st.history) == 6 and _unique(st)
    assert len(seen) == 3 and all(n >= 40 for n in seen), seen


class _ThirdInterrupted:
    """A labeller whose third label is interrupted (Ctrl-C while it runs); remembers every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, arch):
        self.calls.append(str(arch))
        if len(self.calls) == 3:
            raise KeyboardInterrupt
        return float(len(self.calls))


def test_each_label_of_a_batch_is_committed_as_it_finishes():
    lab = _ThirdInterrupted()
    st = Study("nb201", "y", CallableLabeller(lab), proposer="random", storage="sqlite:///:memory:", seed=0, executor="inline")
    with pytest.raises(KeyboardInterrupt):
        st.optimize(3, batch_size=3)
    # the two labels paid before the interrupt are kept; only the interrupted one is labelled again
    assert [t.state for t in st.trials] == ["complete", "complete", "running"]
    st.optimize(3, batch_size=3)
    assert [t.state for t in st.trials] == ["complete"] * 3
    assert len(lab.calls) == 4 and lab.calls[3] == lab.calls[2]


def test_an_executor_passed_in_is_aborted_on_interrupt_but_left_open():
    from nagen.executors import InlineExecutor

    class Recording(InlineExecutor):
        def __init__(self):
            super().__init__()
            self.events = []

        def abort(self):
            self.events.append("abort")

        def close(self):
            self.events.append("close")

    ex = Recording()
    st = Study("nb201", "y", CallableLabeller(_ThirdInterrupted()), proposer="random", storage="sqlite:///:memory:", seed=0, executor=ex)
    st.optimize(2)
    assert ex.events == []  # the caller's executor: the caller closes it
    with pytest.raises(KeyboardInterrupt):
        st.optimize(4)
    assert ex.events == ["abort"]


def test_bad_executor_settings_are_refused_before_the_study_is_stored(tmp_path):
    from nagen.errors import UnknownOptionError

    url = f"sqlite:///{tmp_path / 'bad.db'}"
    lab = TableLabeller("nb201", "cifar10_test")
    for options, error, match in [
        ({"timeout": -1}, InvalidSpecError, "timeout"),
        ({"timeout": "5"}, InvalidSpecError, "timeout"),
        ({"executor": "bogus"}, InvalidSpecError, "executor 'bogus'"),
        ({"executor": "process", "executor_options": {"wrokers": 2}}, UnknownOptionError, "wrokers"),
        ({"executor": "inline", "executor_options": {"workers": 2}}, UnknownOptionError, "workers"),
        ({"executor": "process", "executor_options": {"workers": "two"}}, InvalidSpecError, "workers"),
    ]:
        with pytest.raises(error, match=match):
            Study("nb201", "cifar10_test", lab, storage=url, **options)
    assert not (tmp_path / "bad.db").exists()
    for objectives in (5, None):
        with pytest.raises(InvalidSpecError, match="objectives must be"):
            Study("nb201", objectives, lab, storage="sqlite:///:memory:")


def test_diffusion_guidance_needs_a_differentiable_surrogate():
    lab = TableLabeller("nb201", "cifar10_test")
    with pytest.raises(InvalidSpecError, match="gradient"):
        Study("nb201", "cifar10_test", lab, proposer="diffusion", surrogate="gp_wl", storage="sqlite:///:memory:")
    from nagen.study import DiffusionProposer

    # unguided samples need no gradient
    Study("nb201", "cifar10_test", lab, proposer=DiffusionProposer(guidance=0), surrogate="gp_wl", storage="sqlite:///:memory:")
    with pytest.raises(InvalidSpecError, match=r"guide must be one of \('mean', 'acquisition'\), got 'ucb'"):
        DiffusionProposer(guide="ucb")
    with pytest.raises(InvalidSpecError, match="gradient"):  # the acquisition guide needs the same gradient
        Study("nb201", "cifar10_test", lab, proposer=DiffusionProposer(guide="acquisition"), surrogate="gp_wl",
              storage="sqlite:///:memory:")


def test_reopen_without_labeller_or_name_and_load_study_errors(tmp_path):
    from nagen.storage import StudyNotFoundError

    url = f"sqlite:///{tmp_path / 's.db'}"
    first = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="random", storage=url, seed=0)
    first.optimize(2)
    # the same arguments without the (stored) labeller re-open it under its default name
    again = Study("nb201", "cifar10_test", proposer="random", storage=url, seed=0)
    assert again.name == first.name and len(again.trials) == 2
    again.optimize(3)
    assert len(first.trials) == 3
    with pytest.raises(StudyNotFoundError, match="no study database"):
        load_study(first.name, f"sqlite:///{tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(InvalidArgumentError, match=r"cannot set \['seed'\]"):
        load_study(first.name, url, seed=1)


def test_trials_of_a_run_gone_on_another_machine_can_be_handed_back():
    st = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="random",
               storage="sqlite:///:memory:", seed=0, executor="inline")
    st.optimize(2)
    # a process on another machine reserved one more and died there: it cannot be checked from here
    (arch,) = NB201.sample(1, 99)
    st.storage.reserve(st.name, [(NB201.format(arch), arch.canonical_hash())], budget=3, owner="elsewhere:4242:7")
    with pytest.warns(UserWarning, match=r"still running on \['elsewhere'\].*release_host\('elsewhere'\)"):
        st.optimize(3)
    assert [t.state for t in st.trials] == ["complete", "complete", "running"]
    assert st.release_host("elsewhere") == 1
    st.optimize(3)  # adopts and labels it, as after a kill on this machine
    assert [t.state for t in st.trials] == ["complete"] * 3 and st.trials[2].arch == NB201.format(arch)
    with pytest.raises(InvalidArgumentError, match="host"):
        st.release_host("elsewhere:4242")


def test_proxy_initial_design_only_for_maximised_objectives():
    # synflow's best cells are the large ones: the right start for accuracy, nearly the worst for latency
    # alone; a front of accuracy against latency starts from both (half the proxy's best, half random)
    acc = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage="sqlite:///:memory:")
    lat = Study("nb201", "lat_pixel3_ms", TableLabeller("nb201", "lat_pixel3_ms"), storage="sqlite:///:memory:")
    both = Study("nb201", ["cifar10_test", "lat_pixel3_ms"], TableLabeller("nb201", ["cifar10_test", "lat_pixel3_ms"]),
                 storage="sqlite:///:memory:")
    assert (acc.initial, lat.initial, both.initial) == ("zc", "random", "zc+random")
    assert lat.directions == ["min"]


def test_multi_objective_prefilter_keeps_the_posterior_mean_front():
    import torch

    from nagen.multiobjective import non_dominated

    objs = ["cifar10_test", "lat_pixel3_ms"]
    st = Study("nb201", objs, TableLabeller("nb201", objs), storage="sqlite:///:memory:", seed=0, executor="inline",
               n_initial=6, max_acquisition_pool=60, initial="random", surrogate="gp")
    st.optimize(6)
    ctx = st.context()
    ctx.surrogates = st._fit_surrogates(ctx)
    pool = NB201.sample(400, 5)
    X = ctx.surrogates[0].features(pool)
    idx = st._prefilter(ctx, pool, X)
    assert len(idx) <= 60 and len(set(idx.tolist())) == len(idx) and idx.tolist() == sorted(idx.tolist())
    with torch.no_grad():
        means = np.stack([p.model.posterior(X).mean.reshape(-1).numpy() for p in ctx.surrogates], 1)
    front = np.flatnonzero(non_dominated(means, ["max", "max"]))  # signed: both maximised
    # the posterior-mean front is kept whole (the hypervolume maximiser is usually on it), and each
    # objective's best mean too
    assert len(front) <= 60 and set(front.tolist()) <= set(idx.tolist())
    assert {int(np.argmax(means[:, 0])), int(np.argmax(means[:, 1]))} <= set(idx.tolist())


def test_reopening_keeps_the_stored_initial_design_and_finds_minimised_studies(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    lab = TableLabeller("nb201", "lat_pixel3_ms")
    # a study stored when initial="auto" still meant synflow for minimised objectives too
    with pytest.warns(UserWarning, match="no effect with proposer 'random'"):  # stored, though random never reads it
        old = Study("nb201", "lat_pixel3_ms", lab, proposer="random", storage=url, seed=0, initial="zc")
    old.optimize(2)
    again = Study("nb201", "lat_pixel3_ms", lab, proposer="random", storage=url, seed=0)  # initial="auto"
    assert again.name == old.name and again.initial == "zc" and len(again.trials) == 2
    named = Study("nb201", "lat_pixel3_ms", proposer="random", storage=url, seed=0, name=old.name)  # no labeller
    assert named.directions == ["min"] and named.initial == "zc"
    # without labeller and name: the stored (table) labeller says the objective is minimised
    found = Study("nb201", "lat_pixel3_ms", proposer="random", storage=url, seed=0)
    assert found.name == old.name and found.directions == ["min"]
    new = Study("nb201", "lat_pixel3_ms", lab, proposer="random", storage="sqlite:///:memory:", seed=0)
    assert new.initial == "random"


def test_objectives_from_any_iterable_and_old_style_executors():
    from nagen.executors import InlineExecutor

    st = Study("nb201", np.array(["cifar10_test", "params"]), TableLabeller("nb201", ["cifar10_test", "params"]),
               storage="sqlite:///:memory:", proposer="random")
    assert st.objectives == ["cifar10_test", "params"]
    assert Study("nb201", {"cifar10_test": "max"}.keys(), TableLabeller("nb201", "cifar10_test"),
                 storage="sqlite:///:memory:", proposer="random").objectives == ["cifar10_test"]

    class OldStyle(InlineExecutor):  # overrides run() with the signature executors had before on_outcome
        def run(self, labeller, archs, space, objectives):
            return super().run(labeller, archs, space, objectives)

    ex = OldStyle()
    st = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer="random",
               storage="sqlite:///:memory:", executor=ex)
    st.optimize(3, batch_size=2)
    assert [t.state for t in st.trials] == ["complete"] * 3
    # an inline executor passed in survives an interrupted optimize (abort stops nothing, closes nothing)
    st2 = Study("nb201", "y", CallableLabeller(_ThirdInterrupted()), proposer="random", storage="sqlite:///:memory:",
                executor=InlineExecutor())
    with pytest.raises(KeyboardInterrupt):
        st2.optimize(4)
    st2.optimize(4)
    assert [t.state for t in st2.trials] == ["complete"] * 4


def test_proxy_features_are_computed_once_and_equal_a_fresh_computation(monkeypatch):
    """The zero-cost inputs of a study's GP are cached per architecture: the same rows as an
    uncached computation, in the asked order (duplicates included), each computed once."""
    import numpy as np

    import nagen.spaces
    import nagen.study as S
    from nagen.predictors.zero_cost import ZeroCostPredictor

    space = nagen.spaces.get("nb201")
    archs = space.sample(30, 5)
    S._proxy_features(space, [])  # the fixed scale, from 2,000 samples, is not what is counted
    monkeypatch.setattr(S, "_PROXY_CACHE", {})
    asked = []
    real = ZeroCostPredictor.features
    monkeypatch.setattr(ZeroCostPredictor, "features", lambda self, a: asked.extend(a) or real(self, a))
    first = S._proxy_features(space, archs[:20])
    second = S._proxy_features(space, [archs[25], *archs[:20], archs[25], archs[29]])
    assert len(asked) == 20 + 2  # the 20 once, then only the two new ones (archs[25] once)
    monkeypatch.setattr(S, "_PROXY_CACHE", {})
    fresh = S._proxy_features(space, [archs[25], *archs[:20], archs[25], archs[29]])
    assert np.array_equal(second, fresh) and np.array_equal(first, fresh[1:21])
    assert S._proxy_features(space, []).shape == (0, 2)
