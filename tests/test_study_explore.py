"""Study(explore=...): the share of a surrogate study's labels chosen without the model."""

from __future__ import annotations

import pytest

import nagen.spaces
from nagen.errors import InvalidSpecError
from nagen.labellers import TableLabeller
from nagen.study import EXPLORE_MULTI, Study, _proxy_features

NB201 = nagen.spaces.get("nb201")


def _study(objectives, **kw) -> Study:
    metrics = list(objectives)
    return Study("nb201", objectives, TableLabeller("nb201", metrics), storage="sqlite:///:memory:", executor="inline", **kw)


def test_default_share_is_for_several_objectives_only() -> None:
    assert _study(["cifar10_test", "params"]).explore == EXPLORE_MULTI == 0.1
    assert _study(["cifar10_test"]).explore == 0.0
    assert _study(["cifar10_test", "params"], proposer="random").explore == 0.0  # no model to overrule
    assert _study(["cifar10_test"], explore=0.25).explore == 0.25


def test_explore_is_stored_only_when_given() -> None:
    # the default must keep the names (config hashes) of studies stored before the option existed
    assert "explore" not in _study(["cifar10_test", "params"])._config()
    st = _study(["cifar10_test"], explore=0.2)
    assert st._config()["explore"] == 0.2


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "a"])
def test_bad_share_is_refused(bad) -> None:
    with pytest.raises(InvalidSpecError, match="explore"):
        _study(["cifar10_test"], explore=bad)


def test_one_pick_in_ten_is_the_proxys_choice_and_it_follows_the_trial_count() -> None:
    st = _study(["cifar10_test", "params"], seed=3)
    ctx = st.context([])
    picks = ctx.random(10, salt=99)
    out = st._explore_picks(ctx, picks, n_trials=5)  # trials 5 -> 15: floor(1.5) - floor(0.5) = 1
    assert out[:9] == picks[:9] and out[9] != picks[9] and len(out) == 10
    # the replacement is the proxy's best of the round's 20 random cells, none of the picks
    cands = [a for a in ctx.random(20, salt=11) if a.canonical_hash() not in {p.canonical_hash() for p in picks}]
    score = _proxy_features(NB201, cands)[:, 0]
    assert out[9] == cands[int(score.argmax())]
    assert st._explore_picks(ctx, picks, n_trials=5) == out  # same round, same choice (a resume repeats it)
    one = picks[:1]
    # rounds of one: every tenth label
    assert [st._explore_picks(ctx, one, n_trials=n) == one for n in range(10, 20)] == [True] * 9 + [False]
    assert _study(["cifar10_test"])._explore_picks(ctx, picks, n_trials=5) == picks  # one objective: never


def test_a_front_of_accuracy_against_a_cost_starts_from_both_ends() -> None:
    st = _study(["cifar10_test", "params"], seed=1, n_initial=5)
    assert st.initial == "zc+random"
    assert _study(["cifar10_test"]).initial == "zc" and _study(["params"]).initial == "random"
    first = st._propose([], 10)  # the initial design: 5 cells, the proxy's best 3, then 2 random ones
    ctx = st.context([])
    cands = ctx.random(100, salt=6)
    top = sorted(range(len(cands)), key=lambda i: -_proxy_features(NB201, cands)[i, 0])[:3]
    assert len(first) == 5 and first[:3] == [cands[i] for i in top]
    assert len({a.canonical_hash() for a in first}) == 5


def test_a_multi_objective_study_stored_with_a_random_start_keeps_it(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    lab = TableLabeller("nb201", ["cifar10_test", "params"])
    old = Study("nb201", ["cifar10_test", "params"], lab, storage=url, executor="inline", initial="random")
    again = Study("nb201", ["cifar10_test", "params"], lab, storage=url, executor="inline", name=old.name)  # initial="auto"
    assert again.initial == "random"
