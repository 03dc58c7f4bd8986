"""``pareto`` on a user's table: cost objectives the table lacks are counted by the space, and a
table that labels only part of the space keeps every search to its rows (or is refused up front)."""

from __future__ import annotations

import numpy as np
import pytest

import nagen
import nagen.benchmarks as B
import nagen.spaces
from nagen.benchmarks import Benchmark
from nagen.errors import InvalidArgumentError
from nagen.multiobjective import UnknownObjectiveError


@pytest.fixture(scope="module")
def space():
    return nagen.spaces.get("nb201")


@pytest.fixture(scope="module")
def accuracy_only(space):
    """A complete NB201 table with one accuracy column and no cost column."""
    full = B.load("nb201")
    tab = Benchmark("acc_only_test", space, list(full.archs), {"acc": full.values("cifar10_test")})
    B.register_loader("acc_only_test", lambda: tab, overwrite=True)
    return tab


@pytest.fixture(scope="module")
def partial(space):
    """300 random NB201 cells with their accuracy and params (a user's own measurements)."""
    full = B.load("nb201")
    archs = list({space.format(a): a for a in space.sample(300, 11)}.values())
    tab = Benchmark("partial_test", space, archs, {"acc": full.query_many(archs, "cifar10_test")})
    B.register_loader("partial_test", lambda: tab, overwrite=True)
    return tab


@pytest.mark.parametrize("method", ["random", "evolution", "bo"])
def test_params_are_counted_when_the_table_has_none(space, accuracy_only, method) -> None:
    r = nagen.pareto(space, ["acc:max", "params:min"], budget=12, seed=0, method=method, benchmark="acc_only_test")
    assert len(r.history) == 12
    for h in r.history:
        assert h["values"]["params"] == space.cost(h["arch"])["params"]
    # the default reference point of a counted cost: 1.1 x its maximum over the table's rows
    assert r.ref_point["params"] == pytest.approx(1.1 * B.load("nb201").values("params").max())
    assert r.front and r.hypervolume > 0


def test_exact_costs_false_asks_the_table_only(accuracy_only) -> None:
    with pytest.raises(UnknownObjectiveError, match="unknown metric 'params'"):
        nagen.pareto("nb201", ["acc:max", "params:min"], budget=5, method="random", benchmark="acc_only_test", exact_costs=False)


@pytest.mark.parametrize("method", ["random", "bo"])
def test_a_partial_table_keeps_the_search_to_its_rows(space, partial, method) -> None:
    r = nagen.pareto(space, ["acc:max", "params:min"], budget=15, seed=1, method=method, benchmark="partial_test")
    assert len(r.history) == 15
    assert all(space.parse(h["arch"]) in partial for h in r.history)
    assert len({space.parse(h["arch"]).canonical_hash() for h in r.history}) == 15


@pytest.mark.parametrize("method", ["opgfn", "evolution"])
def test_whole_space_methods_are_refused_on_a_partial_table(partial, method) -> None:
    with pytest.raises(InvalidArgumentError, match=r"labels \d+ of the 15,625 architectures.*method='bo' or 'random'"):
        nagen.pareto("nb201", ["acc:max", "params:min"], budget=10, method=method, benchmark="partial_test")


def test_a_benchmark_object_is_taken_by_pareto_and_generate(tmp_path) -> None:
    """README and error messages say ``benchmark=`` takes a ``Benchmark.from_csv``; only search did."""
    sp = nagen.spaces.from_spec({"name": "bm_object", "ops": ["conv3x3", "skip", "zero"], "num_nodes": 5, "topology": "fixed",
                                 "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]})
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.csv"
    path.write_text("arch,acc,lat_ms\n" + "".join(
        f'"{sp.format(a)}",{rng.uniform(50, 90):.3f},{rng.uniform(1, 5):.3f}\n' for a in sp.enumerate()))
    table = Benchmark.from_csv(path, sp)
    r = nagen.pareto(sp, ["acc:max", "lat_ms:min"], benchmark=table, budget=10, seed=0, method="random")
    assert len(r.history) == 10
    for h in r.history:
        assert h["values"]["acc"] == table.query(h["arch"], "acc")
    out = nagen.generate(sp, n=3, method="opgfn", guide="acc", benchmark=table, guide_labels=10, seed=0)
    assert len(out) == 3 and 0 < out.labels_used <= 10
    # a table of another space is refused before any label
    with pytest.raises(InvalidArgumentError, match="labels space 'bm_object', not space 'nb201'"):
        nagen.pareto("nb201", ["acc:max", "lat_ms:min"], benchmark=table, budget=5)
