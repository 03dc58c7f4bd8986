"""Transfer tasks: consensus prior + GP (leave-one-source-out choice), meta-predictor (tiny config), caches, search."""

from __future__ import annotations

import numpy as np
import pytest

from nagen.errors import InvalidSpecError, NagenError, UnknownMetricError
from nagen.transfer import TransferTask

TINY = {"hidden": 16, "layers": 2, "heads": 2, "inducing": 4, "steps_per_epoch": 4, "query_size": 16}


def _task(tmp_path, seed=0, **kw):
    kw.setdefault("method", "meta")
    return TransferTask(
        ["cifar100_test", "imagenet16_test"], "cifar10_test", "nb201",
        seed=seed, epochs=1, cache_dir=tmp_path, meta_options=TINY, **kw,
    )


GP = {"w0": 0.5, "sw": 0.5, "sf": 1.0, "l": 2.0, "sn": 0.3}


def test_meta_transfer_search_caches_and_starts_from_the_zero_shot_argmax(tmp_path, nb201, monkeypatch):
    task = _task(tmp_path)
    study = task.search(budget=4)
    hist = study.history
    assert len(hist) == 4 and len({t.hash for t in hist}) == 4
    assert task.cache_path.is_file()
    # the first label is the argmax of the meta-prediction before any target label
    prop = task.proposer()
    ctx = study.context([])
    pool = prop.candidates(ctx)
    assert hist[0].arch == nb201.space.format(pool[int(np.argmax(prop.zero_shot(pool)))])
    # a second task with the same sources and seed loads the cached model instead of meta-training
    from nagen.predictors.meta import MetaPredictor

    def boom(*a, **k):
        raise AssertionError("meta-trained again despite the cache")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)
    again = _task(tmp_path).search(budget=4)
    assert [t.arch for t in again.history] == [t.arch for t in hist]  # deterministic


def test_transfer_task_validation(tmp_path):
    with pytest.raises(NagenError, match="also a source"):
        TransferTask(["cifar10_test"], "cifar10_test", cache_dir=tmp_path)
    with pytest.raises(UnknownMetricError, match="available metrics"):
        TransferTask(["cifar1000_test"], "cifar10_test", cache_dir=tmp_path)


def test_consensus_search_starts_from_the_sources_borda_argmax_and_is_deterministic(tmp_path, nb201, monkeypatch):
    from nagen.predictors.meta import MetaPredictor

    def boom(*a, **k):
        raise AssertionError("the consensus method meta-trained although every cell has source values")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)
    task = _task(tmp_path, method="consensus", gp=GP)
    study = task.search(budget=5)
    hist = study.history
    assert len({t.hash for t in hist}) == 5
    # first label: best mean rank over the two source columns (Borda), among the study's candidates
    prop = task.proposer()
    pool = prop.candidates(study.context([]))
    ranks = [np.argsort(np.argsort(-nb201.query_many(pool, m), kind="stable"), kind="stable") for m in task.sources]
    assert hist[0].arch == nb201.space.format(pool[int(np.argmin(ranks[0] + ranks[1]))])
    # only paid labels: the proposals depend on the labels, the same labels give the same proposals
    again = _task(tmp_path, method="consensus", gp=GP).search(budget=5)
    assert [t.arch for t in again.history] == [t.arch for t in hist]
    # another target: the same first two labels (consensus order), then the GP on its labels takes over
    other = TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_valid_12ep", "nb201", cache_dir=tmp_path, gp=GP)
    assert [t.arch for t in other.search(budget=2).history] == [t.arch for t in hist][:2]
    from nagen.transfer import _posterior

    c = task.consensus()
    lab = np.argsort(-c.g)[:3]
    up, down = (_posterior(GP, c.F, c.g, c.P, lab, np.array(y)) for y in ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]))
    assert np.argmax(np.where(np.isin(np.arange(len(up)), lab), -np.inf, up)) != np.argmax(
        np.where(np.isin(np.arange(len(down)), lab), -np.inf, down)
    )


def test_consensus_gp_is_chosen_by_leave_one_source_out_and_cached(tmp_path, monkeypatch):
    from nagen import transfer

    monkeypatch.setattr(transfer, "_GP_GRID", [dict(GP), {**GP, "sf": 0.0, "sw": 0.0}])
    task = _task(tmp_path, method="consensus")
    choice = task.gp_choice()
    assert choice["rule"] == "leave-one-source-out" and choice["gp"] in transfer._GP_GRID
    assert sorted(map(tuple, choice["pairs"])) == [("cifar100_test", "imagenet16_test"), ("imagenet16_test", "cifar100_test")]

    def boom(self):
        raise AssertionError("leave-one-source-out recomputed despite the cache")

    monkeypatch.setattr(transfer.SourceConsensus, "choose", boom)
    assert _task(tmp_path, method="consensus").gp_choice() == choice
    one = TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path / "one")
    monkeypatch.undo()
    assert one.gp_choice()["gp"] == transfer._GP_DEFAULT


def test_consensus_falls_back_to_the_meta_predictor_without_source_values(tmp_path, nb201):
    task = _task(tmp_path, method="consensus", gp=GP)
    c = task.consensus()
    best = int(np.argmax(c.g))
    c.known[best] = False  # pretend the consensus argmax has no source value
    study = task.search(budget=3)
    assert task.cache_path.is_file()  # the meta-predictor was trained for it
    assert len({t.hash for t in study.history}) == 3
    assert np.isfinite(task.proposer().scores(study.context([]), [c.archs[best]])).all()


def test_transfer_method_validation(tmp_path):
    with pytest.raises(NagenError, match="method"):
        TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path, method="magic")
    with pytest.raises(NagenError, match="gp needs"):
        TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path, gp={"w0": 1.0})
    ok = {"w0": 0.5, "sw": 0.0, "sf": 1.0, "l": 2.0, "sn": 0.3}
    for key, bad in (("w0", float("nan")), ("l", 0.0), ("sn", -1.0), ("sf", "a")):
        with pytest.raises(InvalidSpecError, match=rf"gp\['{key}'\] must be a finite number"):
            TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path, gp={**ok, key: bad})
    with pytest.raises(InvalidSpecError, match="sources must be distinct"):
        TransferTask(["cifar100_test", "cifar100_test"], "cifar10_test", cache_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
        ({"seed": True}, "seed must be a non-negative integer"),
        ({"epochs": 0.5}, "epochs must be a positive integer"),
        ({"epochs": None}, "epochs must be a positive integer"),
        ({"gp": {**GP, "noise": 0.1}}, r"unknown \['noise'\]"),
        ({"gp": 5}, "gp must be a dict"),
        ({"task_encoding": "zzz"}, "task_encoding must be one of"),
        ({"meta_options": {"hiden": 8}}, r"takes no option\(s\) \['hiden'\]"),  # an UnknownOptionError
        ({"meta_options": [1]}, "meta_options must be a dict"),
        ({"space": "nb101"}, "holds architectures of space 'nb201', not of 'nb101'"),
        ({"benchmark": 5}, "benchmark must be a table name or a nagen.benchmarks.Benchmark"),
    ],
)
def test_transfer_task_refuses_bad_settings_up_front(tmp_path, nb201, kwargs, fragment):
    kwargs = {"benchmark": nb201, **kwargs}
    with pytest.raises(NagenError, match=fragment):
        TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path, **kwargs)


def test_transfer_task_refuses_malformed_sources(tmp_path):
    with pytest.raises(InvalidSpecError, match="at least one source"):
        TransferTask(None, "cifar10_test", cache_dir=tmp_path)
    with pytest.raises(InvalidSpecError, match=r"metric names \(strings\), got \[None\]"):
        TransferTask([None], "cifar10_test", cache_dir=tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidSpecError, match="is a file, not a folder"):
        TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path / "f")


def test_user_tables_sharing_a_name_do_not_share_caches(tmp_path, nb201):
    """Caches were keyed by table name (and row count) only: a second ``results.csv`` with other
    numbers reused the first one's meta-trained model and leave-one-source-out choice."""
    import hashlib
    import json

    from nagen.benchmarks import Benchmark

    cols = {m: nb201.values(m)[:50] for m in ("cifar10_test", "cifar100_test", "imagenet16_test")}
    a = Benchmark("results", nb201.space, nb201.archs[:50], cols)
    b = Benchmark("results", nb201.space, nb201.archs[:50], {**cols, "cifar100_test": cols["cifar100_test"][::-1]})
    ta, tb = (TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_test", benchmark=t, cache_dir=tmp_path) for t in (a, b))
    assert ta.cache_path != tb.cache_path
    ta.gp_choice(), tb.gp_choice()
    assert len(list(tmp_path.glob("loso-*.json"))) == 2
    # the shipped table, named by its name, keeps its key: existing caches stay valid
    shipped = TransferTask(["cifar100_test"], "cifar10_test", cache_dir=tmp_path)
    digest = hashlib.sha1(json.dumps(shipped.info(), sort_keys=True).encode()).hexdigest()[:16]
    assert shipped.cache_path.name == f"meta-nb201-{digest}.pt"


def test_meta_model_learns_minimised_sources_sign_flipped(tmp_path, nb201, monkeypatch):
    # the study maximises signed values: a latency source learned raw would make the slowest cell
    # the meta-prior's first pick
    from nagen.predictors.meta import MetaPredictor

    seen = {}
    fit = MetaPredictor.meta_fit

    def spy(self, tasks, *a, **k):
        seen.update({t.name: t for t in tasks})
        return fit(self, tasks, *a, **k)

    monkeypatch.setattr(MetaPredictor, "meta_fit", spy)
    task = TransferTask(["lat_eyeriss_ms", "cifar100_test"], "lat_fpga_ms", "nb201", method="meta", seed=0, epochs=1,
                        cache_dir=tmp_path, meta_options=TINY)
    task.meta_model()
    lat, acc = seen["lat_eyeriss_ms"], seen["cifar100_test"]
    assert np.allclose(lat.values, -nb201.query_many(lat.archs, "lat_eyeriss_ms"))
    assert np.allclose(acc.values, nb201.query_many(acc.archs, "cifar100_test"))


def test_constrained_transfer_search_labels_the_best_ranked_feasible_cells(tmp_path, nb201):
    """With a constraint the greedy transfer proposer ranks only cells predicted (here: exactly) to meet it,
    instead of handing the study its unconstrained top, all over the bound, to be topped up at random."""
    from nagen.search_api import search

    bound = 4e5
    res = search(space="nb201", objective="cifar10_test", budget=4, seed=0, transfer_from=["cifar100_test"],
                 constraints=[f"params<={bound}"])  # fmt: skip
    archs = [a for a, _ in res.history]
    assert len(archs) == 4 and max(nb201.query_many(archs, "params")) <= bound
    # the first label is the source's best cell among those meeting the bound
    ok = nb201.values("params") <= bound
    src = np.where(ok, nb201.values("cifar100_test"), -np.inf)
    assert nb201.query(archs[0], "cifar100_test") == pytest.approx(src.max())
    assert res.best[1] >= np.sort(nb201.values("cifar10_test")[ok])[-200]  # well inside the feasible top


def test_greedy_transfer_proposer_filters_by_the_context_feasibility(tmp_path, nb201):
    from nagen.transfer import ConsensusProposer

    task = TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_test", cache_dir=tmp_path, gp=GP)
    prop = task.proposer()
    assert isinstance(prop, ConsensusProposer)
    from nagen.labellers import TableLabeller
    from nagen.study import Study

    ctx = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer=prop,
                storage="sqlite:///:memory:", n_initial=0).context([])  # fmt: skip
    free = prop.propose(ctx, 30)
    banned = {a.canonical_hash() for a in free[::2]}  # every other of the unconstrained top 30
    ctx.feasible = lambda archs: np.array([a.canonical_hash() not in banned for a in archs])
    got = prop.propose(ctx, 15)
    assert [a.canonical_hash() for a in got] == [a.canonical_hash() for a in free[1::2]]


def test_load_study_reopens_a_stored_transfer_study(tmp_path) -> None:
    # the CLI stores transfer searches; load_study used to refuse them ("proposer 'transfer' ... not registered")
    import nagen
    from nagen.search_api import search

    url = f"sqlite:///{tmp_path}/t.db"
    search(objective="cifar10_valid_12ep", budget=3, transfer_from=["cifar100_valid_12ep"], storage=url, study="t1")
    st = nagen.load_study("t1", storage=url, executor="inline")
    st.optimize(6)
    full = search(objective="cifar10_valid_12ep", budget=6, transfer_from=["cifar100_valid_12ep"])
    assert [t.arch for t in st.history] == [a for a, _ in full.history]


def test_transfer_from_config_refuses_incomplete_or_unregistered_tables() -> None:
    from nagen.study import StudyError
    from nagen.transfer import TransferTask

    with pytest.raises(StudyError, match="lacks"):
        TransferTask.from_config({"space": "nb201"}, "cifar10_test")
    cfg = {"space": "nb201", "table": "my_table", "sources": ["a"], "seed": 0, "epochs": 1, "task_encoding": "pairs"}
    with pytest.raises(StudyError, match="not a registered benchmark"):
        TransferTask.from_config(cfg, "cifar10_test")
