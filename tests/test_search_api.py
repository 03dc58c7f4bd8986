"""nagen.search: the JSON contract of `nagen search`, methods, storage and resuming."""

from __future__ import annotations

import json

import pytest

from nagen.errors import InvalidSpecError
from nagen.search_api import search


@pytest.mark.parametrize("method", ["re", "random"])
def test_json_contract_and_determinism(method, nb201):
    out = search(space="nb201", objective="cifar10_test", budget=6, seed=2, method=method).to_json()
    assert set(out) == {"history", "best"}
    assert len(out["history"]) == 6
    for item in out["history"]:
        assert set(item) == {"arch", "value"} and isinstance(item["value"], float)
        assert nb201.query(item["arch"], "cifar10_test") == item["value"]  # label = table value
    assert out["best"] == max(out["history"], key=lambda h: h["value"])
    json.dumps(out)
    assert search(budget=6, seed=2, method=method).to_json() == out


def test_bo_search_with_storage_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = search(budget=4, seed=0, method="bo", storage=url, study="mine", n_initial=3)
    more = search(budget=5, seed=0, method="bo", storage=url, study="mine", n_initial=3)
    assert more.history[:4] == first.history and len(more.history) == 5
    assert more.study == "mine"


def test_minimised_objective_and_errors():
    out = search(objective="params", budget=5, method="random", seed=0)
    assert out.best[1] == min(v for _, v in out.history)
    with pytest.raises(InvalidSpecError, match="among choices"):
        search(method="bayes")
    with pytest.raises(InvalidSpecError, match="method 're' does not apply to a transfer search"):
        search(objective="cifar10_test", budget=2, transfer_from="cifar100_test", method="re")
    with pytest.raises(InvalidSpecError, match="names no source metric"):
        search(objective="cifar10_test", budget=2, transfer_from=[])
    # a reported metric stays unseen until the end: it cannot be the search's prior
    with pytest.raises(InvalidSpecError, match=r"report metrics \['cifar10_test'\] are also transfer sources"):
        search(objective="cifar10_valid_12ep", budget=2, transfer_from="cifar10_test", report="cifar10_test")
