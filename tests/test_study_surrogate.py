"""A registered predictor as a study's surrogate: GNN ensembles (BANANAS-style) and a user's own predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nagen.predictors as P
from nagen.errors import InvalidSpecError
from nagen.labellers import TableLabeller
from nagen.study import Study, load_study

TINY = {"epochs": 30, "hidden": 16, "layers": 2, "members": 2}


def _study(url, name, **kw):
    kw.setdefault("surrogate", "gnn")
    kw.setdefault("surrogate_options", TINY)
    return Study(
        "nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), storage=url, name=name, seed=0,
        executor="inline", n_initial=4, initial="random", **kw,
    )


def test_gnn_ensemble_study_labels_better_than_its_random_start(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    st = _study(url, "gnn")
    st.optimize(16, batch_size=2)
    vals = [t.values["cifar10_test"] for t in st.history]
    assert len(vals) == 16 and len({t.hash for t in st.history}) == 16
    # the model's picks (after the 4 random ones) beat the random start on average, by a wide margin
    assert np.mean(vals[4:]) > np.mean(vals[:4]) + 3.0
    cfg = st.storage.study_config("gnn")
    assert cfg["surrogate"] == "gnn" and cfg["surrogate_options"] == TINY
    # re-opened, it keeps its surrogate and continues
    again = load_study("gnn", url, executor="inline")
    assert again.surrogate == "gnn" and again._surrogate_options == TINY
    again.optimize(18, batch_size=2)
    assert len(again.history) == 18


def test_same_seed_same_picks(tmp_path) -> None:
    a = _study(f"sqlite:///{tmp_path / 'a.db'}", "x")
    a.optimize(8, batch_size=2)
    b = _study(f"sqlite:///{tmp_path / 'b.db'}", "x")
    b.optimize(8, batch_size=2)
    assert [t.arch for t in a.history] == [t.arch for t in b.history]


def test_a_users_predictor_is_a_surrogate(tmp_path) -> None:
    class NearestConvs(P.Predictor):
        """k-nearest neighbours on the number of each op: a user's predictor, no seed argument."""

        def __init__(self, space, k: int = 3):
            super().__init__(space)
            self.k = k

        def _count(self, archs):
            return np.array([[a.ops.count(op) for op in self.space.vocab] for a in archs], dtype=float)

        def _fit(self, archs, y):
            self.X, self.y = self._count(archs), y

        def _predict(self, archs):
            d = ((self._count(archs)[:, None] - self.X[None]) ** 2).sum(-1)
            near = np.argsort(d, 1)[:, : self.k]
            return P.Prediction(self.y[near].mean(1))

    P.register("test_nearest_convs", overwrite=True)(NearestConvs)
    try:
        st = _study("sqlite:///:memory:", "knn", surrogate="test_nearest_convs", surrogate_options={"k": 2})
        st.optimize(10, batch_size=2)
        assert len(st.history) == 10 and len({t.hash for t in st.history}) == 10
    finally:
        P.registry.remove("test_nearest_convs")


def test_a_gp_predictor_is_used_as_it_is() -> None:
    st = _study("sqlite:///:memory:", "path", surrogate="gp_path", surrogate_options=None)
    st.optimize(7, batch_size=1)
    assert len(st.history) == 7
    from nagen.study import _make_surrogate
    from nagen.predictors.gp import GPPredictor

    assert isinstance(_make_surrogate("gp_path", st.space, 0), GPPredictor)


def test_two_objectives_with_gnn_ensembles() -> None:
    st = Study(
        "nb201", ["cifar10_test:max", "params:min"], TableLabeller("nb201", ["cifar10_test", "params"]),
        storage="sqlite:///:memory:", seed=0, executor="inline", n_initial=4, surrogate="gnn", surrogate_options=TINY,
    )
    st.optimize(10, batch_size=2)
    assert len(st.history) == 10 and 1 <= len(st.front) <= 10


@pytest.mark.parametrize(
    "surrogate, options, match",
    [
        ("gnm", None, "registered predictor"),
        ("acquisition", None, "registered predictor"),
        ("ensemble", None, "name the predictor the ensemble copies"),
        ("meta", None, "meta-trained first"),
        ("latency", None, "meta-trained first"),
        ("gnn", {"epoch": 3}, "epochs"),
        ("gnn", {"seed": 3}, "seed"),
        ("gp", {"epochs": 3}, "takes none"),
        ("gp_path", {"members": 3}, "GP"),
        ("gnn", [("epochs", 3)], "must be a dict"),
    ],
)
def test_bad_surrogates_are_refused_before_any_label(tmp_path, surrogate, options, match) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    with pytest.raises(InvalidSpecError, match=match):
        _study(url, "bad", surrogate=surrogate, surrogate_options=options)
    assert not (tmp_path / "bad.db").exists()  # nothing written


# ----------------------------------------------------------------------------- CLI
from cli_run import run_cli as _cli  # noqa: E402


def test_cli_search_with_a_gnn_ensemble(capsys) -> None:
    argv = ["search", "--objective", "cifar10_test", "--budget", "7", "--quiet", "--json", "--surrogate", "gnn",
            "--surrogate-options", json.dumps({"epochs": 10, "hidden": 8, "layers": 1, "members": 2})]
    assert _cli(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["history"]) == 7 and out["method"] == "bo"


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--surrogate", "gnm"], "registered predictor"),
        (["--surrogate", "gnn", "--surrogate-options", "{bad"], "JSON object"),
        (["--surrogate", "gnn", "--surrogate-options", "[1]"], "JSON object"),
        (["--surrogate", "gnn", "--method", "re"], "apply to --method bo"),
        (["--surrogate-options", '{"epochs": 3}'], "takes none"),
    ],
)
def test_cli_bad_surrogate_flags(capsys, extra, match) -> None:
    assert _cli(["search", "--objective", "cifar10_test", "--budget", "3", "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1  # one line


def test_an_exact_cost_is_no_surrogate() -> None:
    """It once passed: every pick was then the largest network, whatever the objective."""
    from nagen.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="'exact_cost' cannot serve.*learns nothing from labels"):
        Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), surrogate="exact_cost", storage=":memory:")


def test_zero_cost_surrogate_is_one_member_at_the_table_seed() -> None:
    """Seeded copies of the zero-cost predictor recomputed every candidate's proxies each round
    (minutes per label on NB201); one member at its default seed reads the shipped table."""
    from nagen.predictors.ensemble import EnsemblePredictor
    from nagen.predictors.zero_cost import NB201_TABLE_SEED

    import nagen.spaces

    archs = nagen.spaces.get("nb201").sample(12, 0)
    ens = EnsemblePredictor("nb201", predictor="zero_cost", members=5, seed=3).fit(archs, np.arange(12.0))
    assert ens.members == 1 and [m.seed for m in ens.nets] == [NB201_TABLE_SEED]
    st = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), surrogate="zero_cost", storage=":memory:", seed=0)
    st.optimize(8)
    assert len(st.trials) == 8 and len({t.arch for t in st.trials}) == 8
