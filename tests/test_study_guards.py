"""Study guards: labeller identity, stale peers, conflicting or bad arguments refused before any label."""

from __future__ import annotations

import math
import socket
import sys
import types
import warnings

import pytest
import torch
from torch.utils.data import IterableDataset, TensorDataset

import nagen.benchmarks
import nagen.spaces
from nagen.errors import InvalidArgumentError, InvalidSpecError, UnknownOptionError
from nagen.executors import ExecutorConnectionError, InlineExecutor, RayExecutor
from nagen.labellers import CallableLabeller, TableLabeller, TrainingLabeller
from nagen.storage import DuplicateStudyError, SQLiteStorage
from nagen.study import (
    DiffusionProposer,
    EvolutionProposer,
    IgnoredSettingWarning,
    OPGFNProposer,
    PoolProposer,
    SpaceExhaustedError,
    Study,
    StudyError,
    load_study,
)

NB201 = nagen.spaces.get("nb201")


def ones(arch):
    return 1.0


def convs(arch):
    return float(sum(op.startswith("nor_conv") for op in arch.ops))


def nan(arch):
    return float("nan")


def _study(labeller, url="sqlite:///:memory:", **kw):
    kw.setdefault("proposer", "random")
    kw.setdefault("executor", "inline")
    return Study("nb201", "acc", labeller, storage=url, **kw)


# ------------------------------------------------------------------ 1: labeller identity
def test_another_labeller_function_gets_another_study(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    a = _study(CallableLabeller(ones), url).optimize(3)
    b = _study(CallableLabeller(convs), url)
    assert b.name != a.name  # both used to be nb201-acc-random-seed0-<same hash>, b resuming a's labels
    b.optimize(3)
    assert [t.values["acc"] for t in b.history] == [convs(NB201.parse(t.arch)) for t in b.history]
    assert _study(CallableLabeller(ones), url).name == a.name  # the same labeller still resumes
    assert len(load_study(a.name, url).history) == 3  # no labeller: read only, the stored identity is kept
    with pytest.raises(DuplicateStudyError, match="labeller_id"):
        _study(CallableLabeller(convs), url, name=a.name)
    assert CallableLabeller(ones, "acc").identity() != CallableLabeller(ones, "acc", "min").identity()


def test_training_labeller_identity_covers_settings_and_data():
    x, y = torch.zeros(6, 1, 8, 8), torch.tensor([0, 1] * 3)
    data, other = TensorDataset(x, y), TensorDataset(x + 1, y)
    base = TrainingLabeller(data, data, 2).identity()
    assert base == TrainingLabeller(TensorDataset(x.clone(), y.clone()), data, 2).identity()
    assert base != TrainingLabeller(other, data, 2).identity()
    assert base != TrainingLabeller(data, data, 2, epochs=6).identity()
    assert base == TrainingLabeller(data, data, 2, threads=2).identity()  # how it runs is not what it measures
    assert base["train"]["len"] == 6 and base["train"]["hashed"] == "tensors"


def test_table_study_names_are_unchanged():
    # fixed before labeller identities existed: stored table studies are re-opened by these names
    lab = TableLabeller("nb201", "cifar10_test")
    st = Study("nb201", "cifar10_test", lab, proposer="re", storage="sqlite:///:memory:", executor="inline")
    assert st.name == "nb201-cifar10_test-re-seed0-efccedbc"
    st = Study("nb201", "cifar10_test", lab, proposer="random", seed=3, storage="sqlite:///:memory:", executor="inline")
    assert st.name == "nb201-cifar10_test-random-seed3-fb9fccd4"
    assert "labeller_id" not in st._config()


def _legacy(url, name):
    """A callable-labeller study as stored before identities: its config has no labeller_id."""
    st = _study(CallableLabeller(ones), "sqlite:///:memory:", name=name)
    cfg = st._config()
    del cfg["labeller_id"]
    store = SQLiteStorage(url)
    store.create_study(name, cfg)
    return store, cfg


def test_studies_stored_before_identities_still_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store, cfg = _legacy(url, "old")
    with pytest.warns(UserWarning, match="stored before nagen recorded which labeller"):
        st = _study(CallableLabeller(ones), url, name="old")
    st.optimize(2)
    assert store.study_config("old") == cfg  # nothing rewritten
    with pytest.warns(UserWarning, match="stored before"):
        assert len(load_study("old", url, labeller=CallableLabeller(ones), executor="inline").optimize(3).history) == 3
    assert len(load_study("old", url).history) == 3  # no labeller: read only, no warning needed
    # the old default name (no identity in its hash) is no longer found: say where it is
    legacy = Study._default_name(st, cfg)
    store.create_study(legacy, cfg)
    with pytest.warns(UserWarning, match=f"pass name='{legacy}'"):
        new = _study(CallableLabeller(ones), url)
    assert new.name != legacy


# ------------------------------------------------------------------ 2: a killed same-host peer
def test_optimize_labels_a_killed_peers_trial_before_returning(tmp_path):
    url = f"sqlite:///{tmp_path / 'peer.db'}"
    peer, calls = SQLiteStorage(url), []

    def label(arch):
        calls.append(arch)
        if len(calls) == 2:  # a same-host process reserves a trial, then dies (pid 999999 runs nothing)
            a = NB201.sample(1, 12345)[0]
            peer.reserve("peer", [(NB201.format(a), a.canonical_hash())], owner=f"{socket.gethostname()}:999999:0")
        return convs(arch)

    st = _study(CallableLabeller(label), url, name="peer").optimize(5)
    assert [t.state for t in st.trials] == ["complete"] * 5  # the peer's trial used to stay running, unlabelled
    assert len(calls) == 5


# ------------------------------------------------------------------ 3: executor object + settings
def test_executor_object_refuses_settings_it_would_ignore(tmp_path):
    for kw, word in (({"timeout": 0.05}, "timeout"), ({"executor_options": {"workers": 8}}, "executor_options")):
        with pytest.raises(InvalidSpecError, match=word):
            Study("nb201", "acc", CallableLabeller(ones), storage=f"sqlite:///{tmp_path / 'x.db'}", executor=InlineExecutor(), **kw)
    assert not (tmp_path / "x.db").exists()
    _study(CallableLabeller(ones), executor=InlineExecutor(timeout=2.0), timeout=2.0)  # the same timeout is no conflict


# ------------------------------------------------------------------ 4: a table of another space
def test_table_of_another_space_is_refused_up_front(tmp_path):
    with pytest.raises(InvalidArgumentError, match="labels architectures of space 'nb201', not of space 'nb101'"):
        Study("nb101", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage=f"sqlite:///{tmp_path / 't.db'}")
    assert not (tmp_path / "t.db").exists()


# ------------------------------------------------------------------ 5: proposer arguments
def test_proposer_arguments_are_validated_at_construction(tmp_path):
    for make, word in (
        (lambda: EvolutionProposer(population=2.7), "population"),
        (lambda: EvolutionProposer(population="x"), "population"),
        (lambda: EvolutionProposer(population=0), "population"),
        (lambda: EvolutionProposer(tournament=True), "tournament"),
        (lambda: PoolProposer(parents=None), "parents"),
        (lambda: PoolProposer(pool_size=0), "pool_size"),
        (lambda: DiffusionProposer(finetune_every=-3), "finetune_every"),
        (lambda: DiffusionProposer(guidance=math.nan), "guidance"),
        (lambda: DiffusionProposer(steps=0), "steps"),
        (lambda: OPGFNProposer(options=[1]), "options"),
    ):
        with pytest.raises(InvalidSpecError, match=word):
            make()
    with pytest.raises(UnknownOptionError, match="bogus"):
        OPGFNProposer(options={"bogus": 1})
    with pytest.raises(UnknownOptionError, match="seed"):  # the round sets it
        OPGFNProposer(options={"seed": 1})
    # a bad option value is refused on the study's space, before the study is stored or labelled
    with pytest.raises(InvalidSpecError, match="beta"):
        Study("nb201", "acc", CallableLabeller(ones), proposer=OPGFNProposer(options={"beta": -1.0}),
              storage=f"sqlite:///{tmp_path / 'o.db'}", n_initial=2)
    assert not (tmp_path / "o.db").exists()
    # valid ones keep their settings (and so their stored configs)
    assert EvolutionProposer(30, 4).config() == {"population": 30, "tournament": 4}
    assert OPGFNProposer(options={"beta": 4.0}).config() == {"pool_size": 1000, "parents": 5, "options": {"beta": 4.0}}
    assert DiffusionProposer(guidance=0, steps=5).config()["guidance"] == 0.0


# ------------------------------------------------------------------ 6: labeller arguments
def test_labeller_arguments_are_read_or_refused_by_name():
    with pytest.raises(InvalidSpecError, match=r"CallableLabeller\(fn\)"):
        Study("nb201", "acc", ones, storage="sqlite:///:memory:")
    lab = CallableLabeller(ones, objectives="acc", directions="min")
    assert lab.objectives == ("acc",) and lab.directions() == {"acc": "min"}  # "acc" used to be ('a', 'c', 'c')
    assert _study(lab).directions == ["min"]
    for kw, word in (
        ({"objectives": 5}, "objectives"),
        ({"objectives": ["a", "a"]}, "more than once"),
        ({"objectives": ["a", "b"], "directions": "max"}, "is for one objective"),
        ({"objectives": "a", "directions": "up"}, "'max' or 'min'"),
        ({"objectives": "a", "directions": {"b": "max"}}, "not among the objectives"),
        ({"directions": ["max"]}, "directions"),
    ):
        with pytest.raises(InvalidArgumentError, match=word):
            CallableLabeller(ones, **kw)
    with pytest.raises(InvalidArgumentError, match="table name"):
        TableLabeller(5, "x")
    with pytest.raises(InvalidArgumentError, match="more than once"):
        TableLabeller("nb201", ["params", "params"])


# ------------------------------------------------------------------ 7: training labeller settings
class _Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(1, 8, 8), 0


def test_training_labeller_misconfigurations_are_refused_up_front():
    data = TensorDataset(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 9]))
    opts = {"C": 4, "N": 1, "in_channels": 1}
    for kw, word in (
        ({"device": "bogus"}, "not a torch device"),
        ({"threads": 0}, "threads"),
        ({"threads": -1}, "threads"),
        ({"seed": 1.7}, "seed"),
        ({"metric": 5}, "metric"),
        ({"num_classes": 5}, "labels run from 0 to 9"),
        ({"train": _Stream()}, "map-style"),
    ):
        with pytest.raises(InvalidArgumentError, match=word):
            TrainingLabeller(**{"train": data, "valid": data, "num_classes": 10, "build_options": opts, **kw})
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError, match="not available"):
            TrainingLabeller(data, data, 10, device="cuda", build_options=opts, space="nb201")


# ------------------------------------------------------------------ 8: device measurements
def test_two_device_samples_warn_that_none_verifies():
    kw = dict(proposer="re", storage="sqlite:///:memory:", executor="inline", constraints=["lat_pixel2_ms<=10"])
    lab = TableLabeller("nb201", "cifar10_test")
    with pytest.warns(UserWarning, match="leaves none to verify"):
        Study("nb201", "cifar10_test", lab, device_samples=2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        Study("nb201", "cifar10_test", lab, device_samples=3, **kw)


# ------------------------------------------------------------------ 9: Ray address
def test_ray_connection_failure_names_the_address(monkeypatch):
    def init(**kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setitem(sys.modules, "ray", fake)
    with pytest.raises(ExecutorConnectionError, match="address 'auto'") as e:
        RayExecutor(address="auto")
    assert isinstance(e.value, ConnectionError)


# ------------------------------------------------------------------ 10: every label failed
def test_best_says_that_every_trial_failed():
    st = _study(CallableLabeller(nan)).optimize(3)
    with pytest.raises(StudyError, match=r"all 3 finished trials failed; the first \(trial 0\) because labeller returned nan"):
        st.best


# ------------------------------------------------------------------ 11: settings a direct method ignores
def test_direct_methods_warn_about_surrogate_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with pytest.warns(IgnoredSettingWarning, match="initial='zc', n_initial=4 has no effect with proposer 're'"):
        st = _study(CallableLabeller(ones), url, proposer="re", initial="zc", n_initial=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredSettingWarning)
        _study(CallableLabeller(ones), proposer="re")
        _study(CallableLabeller(ones), proposer="random", n_initial=0)
        _study(CallableLabeller(ones), proposer="bo", initial="random", n_initial=3)
        load_study(st.name, url)  # the stored values are not news


def test_objective_direction_suffix_is_read_not_kept_in_the_name() -> None:
    # "score:min" used to become a metric literally named "score:min", silently maximised
    from nagen.study import _objective_spec

    assert _objective_spec("score:min", None) == (["score"], ["min"])
    assert _objective_spec("acc:max, params:min", None) == (["acc", "params"], ["max", "min"])
    assert _objective_spec(["a:min", ("b", "max")], None) == (["a", "b"], ["min", "max"])
    with pytest.raises(InvalidSpecError, match="'max' or 'min'"):
        _objective_spec("a:minimize", None)
    with pytest.raises(InvalidSpecError, match="needs a metric name"):
        _objective_spec(":min", None)


def test_study_minimises_an_objective_given_as_name_colon_min(tmp_path) -> None:
    lab = CallableLabeller(lambda arch, space=None: float(len(str(arch)) % 13), objectives="score")
    st = Study("nb201", "score:min", lab, proposer="random", storage=f"sqlite:///{tmp_path}/s.db", seed=0, executor="inline")
    st.optimize(8)
    assert st.objectives == ["score"] and st.directions == ["min"]
    assert st.best.values["score"] == min(t.values["score"] for t in st.history if t.state == "complete")


def test_progress_shows_latency_meta_training_before_the_study_bar(tmp_path, monkeypatch) -> None:
    # a first constrained run meta-trains the latency model for about a minute: with progress it
    # must get its own bar (progress=True), not sit inside a study bar frozen at 0%
    import nagen.constraints

    calls = []

    class Stop(Exception):
        pass

    def fake(table, metric, seed=0, progress=False):
        calls.append((metric, progress))
        raise Stop

    monkeypatch.setattr(nagen.constraints, "meta_latency_model", fake)
    st = Study(
        "nb201", "cifar100_valid_12ep", TableLabeller("nb201", "cifar100_valid_12ep"), proposer="random",
        storage=f"sqlite:///{tmp_path}/c.db", constraints=["lat_pixel2_ms<=18"], device_samples=4, executor="inline",
    )  # fmt: skip
    with pytest.raises(Stop):
        st.optimize(1, progress=True)
    assert calls == [("lat_pixel2_ms", True)]
    assert st.history == []  # nothing was labelled before the model existed


def _csv(path, values) -> str:
    nb = nagen.benchmarks.load("nb201")
    rows = [f"{nb.space.format(a)},{v}" for a, v in zip(nb.archs[: len(values)], values)]
    path.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    return str(path)


def test_custom_tables_with_one_column_name_are_different_studies(tmp_path) -> None:
    # two CSVs with an "acc" column got one study name, and the second resumed the first's labels
    from nagen.benchmarks import Benchmark

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    ta = Benchmark.from_csv(_csv(tmp_path / "a" / "t.csv", [1.0, 2.0, 3.0]), "nb201")
    tb = Benchmark.from_csv(_csv(tmp_path / "b" / "t.csv", [3.0, 2.0, 1.0]), "nb201")
    assert ta.name == tb.name
    la, lb = TableLabeller(ta, "acc"), TableLabeller(tb, "acc")
    assert la.identity() != lb.identity() and la.identity() == TableLabeller(ta, "acc").identity()
    url = f"sqlite:///{tmp_path}/s.db"
    a = Study("nb201", "acc", la, proposer="random", storage=url, executor="inline")
    b = Study("nb201", "acc", lb, proposer="random", storage=url, executor="inline")
    assert a.name != b.name


@pytest.mark.parametrize("proposer", ["bo", "re", "random"])
def test_a_study_on_a_table_of_part_of_the_space_labels_only_its_rows(tmp_path, proposer) -> None:
    # proposals used to come from the whole space: nearly every trial failed with "no row in table"
    from nagen.benchmarks import Benchmark

    nb = nagen.benchmarks.load("nb201")
    idx = list(range(0, 15625, 390))[:40]
    rows = [f"{nb.space.format(nb.archs[i])},{float(nb.values('cifar10_test')[i])}" for i in idx]
    path = tmp_path / "part.csv"
    path.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    table = Benchmark.from_csv(str(path), "nb201")
    st = Study("nb201", "acc", TableLabeller(table, "acc"), proposer=proposer, storage=f"sqlite:///{tmp_path}/p.db", executor="inline", seed=3)
    st.optimize(12)
    assert len(st.history) == 12 and not [t for t in st.trials if t.state == "failed"]
    allowed = {nb.archs[i].canonical_hash() for i in idx}
    assert all(t.hash in allowed for t in st.trials)
    # the table is exhausted cleanly: each of its distinct architectures labelled once, then a named error
    with pytest.raises(SpaceExhaustedError, match=f"the table labels {len(allowed)} distinct architectures"):
        st.optimize(45)
    assert len(st.history) == len({t.hash for t in st.trials}) == len(allowed)


def test_bad_ensemble_surrogate_options_are_refused_before_any_label(tmp_path) -> None:
    # the members are built at fit time: lr=nan used to fail after the initial labels were paid and stored
    import nagen

    db = tmp_path / "s.db"
    for options in ({"lr": float("nan"), "members": 1}, {"epochs": -1}):
        with pytest.raises(InvalidSpecError, match="lr|epochs"):
            nagen.search("nb201", "cifar10_valid_12ep", budget=8, method="bo", surrogate="gnn", surrogate_options=options,
                         storage=f"sqlite:///{db}")
        assert not db.exists()


@pytest.mark.parametrize("options, fragment", [
    ({"latency_models": 5}, "latency_models must be a"),
    ({"latency_models": {"lat_pixel2_ms": 5}}, r"latency_models\['lat_pixel2_ms'\] must be a LatencyPredictor"),
    ({"measurers": {"params": CallableLabeller(lambda a: 1.0)}}, r"measurers names \['params'\], which no device"),
    ({"measurers": {"lat_pixel2_ms": print}}, r"measurers\['lat_pixel2_ms'\] must be a Labeller"),
])
def test_measurers_and_latency_models_are_checked(options, fragment) -> None:
    # an int latency model was stored, then failed in optimize() with an AttributeError; a stray entry was ignored
    with pytest.raises(InvalidSpecError, match=fragment):
        Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage="sqlite://",
              constraints=["lat_pixel2_ms<=18"], device_samples=3, **options)


def test_a_table_column_without_any_value_is_refused(nb201) -> None:
    # search() returned an empty history and best=None, with only a warning
    import numpy as np

    import nagen
    from nagen.benchmarks import Benchmark

    archs = nb201.archs[:20]
    empty = Benchmark("guards_empty_col", nb201.space, archs, {"acc": np.full(20, np.nan), "cost": np.ones(20)})
    with pytest.raises(InvalidSpecError, match=r"no measured value of \['acc'\]"):
        nagen.search("nb201", "acc", budget=3, benchmark=empty)
    apart = Benchmark("guards_apart", nb201.space, archs,
                      {"acc": np.r_[np.full(10, np.nan), np.ones(10)], "cost": np.r_[np.ones(10), np.full(10, np.nan)]})
    with pytest.raises(InvalidSpecError, match="no row measuring every objective"):
        Study("nb201", ["acc", "cost:min"], TableLabeller(apart, ["acc", "cost"]), storage="sqlite://")


def test_a_deep_kernel_surrogate_is_refused_for_several_objectives() -> None:
    # each objective's deep GP learned its own embedding, but the joint acquisition fed every model the first one's
    with pytest.raises(InvalidSpecError, match="embeds each objective's architectures with its own network"):
        Study("nb201", ["cifar10_test", "params:min"], TableLabeller("nb201", ["cifar10_test", "params"]), surrogate="gp_deep",
              storage="sqlite://")
    assert Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), surrogate="gp_deep", storage="sqlite://")


def test_surrogates_with_other_inputs_cannot_share_an_acquisition(nb201) -> None:
    import nagen.predictors as P
    from nagen.predictors.acquisition import AcquisitionPredictor

    archs = nb201.archs[:40]
    a = P.get("gp", "nb201", encoding="deep", seed=0).fit(archs, nb201.query_many(archs, "cifar10_test"))
    b = P.get("gp", "nb201", encoding="deep", seed=0).fit(archs, -nb201.query_many(archs, "params"))
    with pytest.raises(InvalidArgumentError, match="embed architectures differently"):
        AcquisitionPredictor.from_surrogates([a, b], archs, ref_point=[0.0, -2e6])
