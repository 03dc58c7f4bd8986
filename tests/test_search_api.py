"""nagen.search: the JSON contract of `nagen search`, methods, storage and resuming."""

from __future__ import annotations

import json

import pytest

from nagen.errors import InvalidSpecError
from nagen.search_api import search


@pytest.mark.parametrize("method", ["re", "random"])
def test_json_contract_and_determinism(method, nb201):
    out = search(space="nb201", objective="cifar10_test", budget=6, seed=2, method=method).to_dict()
    # what was searched comes with the labels, so files of several runs can be grouped by method
    assert set(out) == {"history", "best", "space", "objective", "direction", "method", "seed", "setup"}
    assert out["setup"] == {"batch_size": 1}  # no surrogate: these methods do not use one
    assert (out["space"], out["objective"], out["direction"], out["method"], out["seed"]) == ("nb201", "cifar10_test", "max", method, 2)
    assert len(out["history"]) == 6
    for item in out["history"]:
        assert set(item) == {"arch", "value"} and isinstance(item["value"], float)
        assert nb201.query(item["arch"], "cifar10_test") == item["value"]  # label = table value
    assert out["best"] == max(out["history"], key=lambda h: h["value"])
    json.dumps(out)
    assert search(objective="cifar10_test", budget=6, seed=2, method=method).to_dict() == out
    # the default searches the cheap proxy, never the test column a search only reports
    assert search(budget=2, seed=2, method=method).objective == "cifar10_valid_12ep"


def test_bo_search_with_storage_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = search(budget=4, seed=0, method="bo", storage=url, study="mine", n_initial=3)
    more = search(budget=5, seed=0, method="bo", storage=url, study="mine", n_initial=3)
    assert more.history[:4] == first.history and len(more.history) == 5
    assert more.study == "mine"


def test_minimised_objective_and_errors():
    out = search(objective="params", budget=5, method="random", seed=0)
    assert out.best[1] == min(v for _, v in out.history)
    assert out.to_dict()["direction"] == "min"  # what 'nagen plot trace' needs to draw a running minimum
    with pytest.raises(InvalidSpecError, match="among choices"):
        search(method="bayes")
    with pytest.raises(InvalidSpecError, match="method 're' does not apply to a transfer search"):
        search(objective="cifar10_test", budget=2, transfer_from="cifar100_test", method="re")
    with pytest.raises(InvalidSpecError, match="names no source metric"):
        search(objective="cifar10_test", budget=2, transfer_from=[])
    # a reported metric stays unseen until the end: it cannot be the search's prior
    with pytest.raises(InvalidSpecError, match=r"report metrics \['cifar10_test'\] are also transfer sources"):
        search(objective="cifar10_valid_12ep", budget=2, transfer_from="cifar10_test", report="cifar10_test")


def test_bad_counts_are_refused_before_the_study_is_created(tmp_path):
    """A rejected budget or batch size writes no storage file (nor computes a transfer prior)."""
    from nagen.errors import InvalidArgumentError

    db = tmp_path / "s.db"
    for kw in ({"budget": -1}, {"budget": 2.0}, {"budget": True}, {"budget": 2, "batch_size": 0}):
        with pytest.raises(InvalidArgumentError, match="must be a (non-negative|positive) integer"):
            search(method="random", storage=f"sqlite:///{db}", **kw)
        assert not db.exists(), kw


def test_malformed_arguments_raise_named_errors():
    from nagen.errors import InvalidArgumentError, UnknownOptionError

    with pytest.raises(UnknownOptionError, match=r"nagen.search takes no option\(s\) \['n_inital'\](; did you mean [^;]*)?; its options are \[.*'n_initial'"):
        search(budget=2, method="random", n_inital=3)
    with pytest.raises(UnknownOptionError, match=r"\['proposer'\]"):  # search() sets it from method=
        search(budget=2, method="random", proposer="re")
    with pytest.raises(InvalidArgumentError, match="objective must be a metric name"):
        search(objective=None, budget=2, method="random")
    with pytest.raises(InvalidArgumentError, match="report must be a metric name"):
        search(budget=2, method="random", report=5)
    with pytest.raises(InvalidArgumentError, match="transfer_from must be a metric name"):
        search(budget=2, transfer_from=5)
    with pytest.raises(InvalidSpecError, match="report names an empty metric"):
        search(budget=2, method="random", report="cifar100_test,")
    for bad in (5, "", "  "):  # 5 was stored as the study's name, "" silently derived one
        with pytest.raises(InvalidArgumentError, match="study must be None or a non-empty name"):
            search(budget=2, method="random", study=bad, storage="sqlite:///:memory:")
    # a name promises a resume an in-memory study cannot give; "" would silently mean memory
    with pytest.raises(InvalidArgumentError, match="needs a storage file"):
        search(budget=2, method="random", study="mine")
    with pytest.raises(InvalidArgumentError, match="storage must be None"):
        search(budget=2, method="random", storage="  ")


def test_report_list_items_are_stripped_like_the_string_form():
    a = search(budget=2, method="random", report=[" cifar100_test"]).report
    assert a == search(budget=2, method="random", report=" cifar100_test").report and set(a) == {"cifar100_test"}


def test_transfer_search_refuses_a_fractional_seed():
    """TransferTask used int(seed): seed=1.5 silently ran (and stored) the seed-1 study."""
    with pytest.raises(InvalidSpecError, match="seed must be a non-negative integer, got 1.5"):
        search(budget=2, transfer_from="cifar100_test", seed=1.5)
    with pytest.raises(InvalidSpecError, match="got None"):
        search(budget=2, transfer_from="cifar100_test", seed=None)


def test_device_samples_without_a_latency_constraint_is_refused() -> None:
    # it used to be accepted and silently spend nothing (a forgotten latency constraint went unnoticed)
    import nagen
    from nagen.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="device_samples=4 needs a device latency constraint"):
        nagen.search("nb201", "cifar10_test", budget=2, method="random", constraints=["params<=1e6"], device_samples=4)


def test_a_budget_beyond_the_space_is_refused_or_labels_everything():
    import json as _json
    from pathlib import Path

    import numpy as np

    import nagen.benchmarks
    import nagen.spaces
    from nagen.errors import InvalidArgumentError

    spec = _json.loads((Path(__file__).parent.parent / "examples/spaces/tiny_dag.json").read_text())
    spec = dict(spec, name="tiny_budget_test", ops=["conv3x3", "skip", "conv1x1"], num_nodes=4, min_nodes=3, max_edges=5)
    sp = nagen.spaces.register_space(nagen.spaces.from_spec(spec), overwrite=True)
    archs = list(sp.enumerate())
    distinct = len({a.canonical_hash() for a in archs})
    assert distinct < len(archs)  # equivalent cells: fewer distinct architectures than rows
    values = np.random.default_rng(0).random(len(archs))
    nagen.benchmarks.register_loader(sp.name, lambda: nagen.benchmarks.Benchmark(sp.name, sp, archs, {"acc": values}), overwrite=True)
    with pytest.raises(InvalidArgumentError, match="exceeds"):
        search(space=sp.name, objective="acc", budget=len(archs) + 1, method="random")
    with pytest.warns(UserWarning, match="exhausted"):
        out = search(space=sp.name, objective="acc", budget=len(archs), method="random")
    assert len(out.history) == distinct  # every distinct architecture, each once
    assert out.best[1] == max(v for _, v in out.history)


def test_json_names_the_method_the_study_ran_and_omits_what_a_hand_built_result_does_not_know():
    from nagen.search_api import SearchResult

    # a transfer search runs its own proposer: recorded as "transfer", not as the default "bo"
    out = search(objective="cifar10_test", budget=2, seed=1, transfer_from="cifar100_test").to_dict()
    assert (out["method"], out["seed"], out["objective"]) == ("transfer", 1, "cifar10_test")
    assert SearchResult([("a", 1.0)], ("a", 1.0)).to_dict() == {"history": [{"arch": "a", "value": 1.0}], "best": {"arch": "a", "value": 1.0}}


def test_evolution_and_re_name_the_same_method_in_search_and_pareto() -> None:
    # pareto called it "evolution", search "re": each refused the other's name
    import nagen
    from nagen.search_api import search

    a = search(objective="cifar10_test", budget=4, method="re", seed=3)
    b = search(objective="cifar10_test", budget=4, method="evolution", seed=3)
    assert a.history == b.history and b.method == "re"
    p = nagen.pareto("nb201", objectives=["cifar10_test:max", "params:min"], budget=6, method="re", seed=0)
    q = nagen.pareto("nb201", objectives=["cifar10_test:max", "params:min"], budget=6, method="evolution", seed=0)
    assert [h for h in p.history] == [h for h in q.history] and p.method == "evolution"


def test_to_json_is_a_string_as_for_pareto_results(tmp_path) -> None:
    # it used to return the dict, so open(f, "w").write(res.to_json()) failed
    import json

    res = search(objective="cifar10_test", budget=3, seed=0, method="random")
    (tmp_path / "r.json").write_text(res.to_json())
    assert json.loads((tmp_path / "r.json").read_text()) == res.to_dict() and res.to_json(indent=1).startswith("{\n")


def test_search_labels_from_a_users_table_given_as_benchmark(tmp_path) -> None:
    # search used to look a table up only under the space's own name, whatever the user registered
    import nagen.benchmarks
    import nagen.spaces
    from nagen.benchmarks import Benchmark
    from nagen.errors import UnknownBenchmarkError

    nb = nagen.benchmarks.load("nb201")
    idx = list(range(0, 15625, 300))
    path = tmp_path / "t.csv"
    path.write_text("arch,acc\n" + "\n".join(f"{nb.space.format(nb.archs[i])},{nb.values('cifar10_test')[i]}" for i in idx) + "\n")
    table = Benchmark.from_csv(str(path), "nb201", name="mine")
    out = search("nb201", "acc", budget=8, benchmark=table, method="re", report="acc")
    rows = {nb.space.format(nb.archs[i]) for i in idx}
    assert len(out.history) == 8 and all(a in rows for a, _ in out.history)  # only the table's cells
    assert out.report == {"acc": out.best[1]}
    sp = nagen.spaces.from_spec(json.loads((__import__("pathlib").Path(__file__).parent.parent / "examples/spaces/tiny_dag.json").read_text()))
    with pytest.raises(UnknownBenchmarkError, match="benchmark="):
        search(sp, "acc", budget=3)
    with pytest.raises(Exception, match="labels space 'nb201', not the searched space 'tiny_dag'"):
        search(sp, "acc", budget=3, benchmark=table)


def test_a_misspelled_study_option_is_a_named_error() -> None:
    from nagen.errors import UnknownOptionError
    from nagen.study import Study

    with pytest.raises(UnknownOptionError, match=r"Study takes no option\(s\) \['n_inital'\].*'n_initial'"):
        Study("nb201", "cifar10_test", n_inital=3, storage="sqlite:///:memory:")


def test_resuming_with_a_smaller_budget_says_so(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = search(space="nb201", objective="cifar10_test", budget=6, seed=0, method="random", storage=url, study="s")
    with pytest.warns(UserWarning, match="already holds 6 labels, more than the budget 4"):
        again = search(space="nb201", objective="cifar10_test", budget=4, seed=0, method="random", storage=url, study="s")
    assert again.history == first.history
