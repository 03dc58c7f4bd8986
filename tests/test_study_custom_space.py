"""Studies on a user's space that is not registered (a spec dict or a JSON spec file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nagen.spaces
from nagen.labellers import CallableLabeller
from nagen.study import Study, _enumerated, load_study

SPEC = json.loads((Path(__file__).parent.parent / "examples/spaces/tiny_dag.json").read_text())


def score(arch) -> float:
    # module level: the process executor pickles the labeller to its workers
    return float(sum(op == "conv3x3" for op in arch.ops) + 0.1 * len(arch.ops))


def test_an_unregistered_space_is_referenced_by_itself_and_cached_by_its_spec() -> None:
    a = nagen.spaces.from_spec(dict(SPEC, name="unreg_tiny"))
    b = nagen.spaces.from_spec(dict(SPEC, name="unreg_tiny", max_edges=5))
    assert "unreg_tiny" not in nagen.spaces.names()
    assert nagen.spaces.reference(a) is a and nagen.spaces.reference(nagen.spaces.get("nb201")) == "nb201"
    # one name, two spaces: the enumeration cache must not hand one the other's cells
    assert nagen.spaces.cache_key(a) != nagen.spaces.cache_key(b)
    assert len(_enumerated(a)[0]) != len(_enumerated(b)[0])


def test_re_registering_a_name_does_not_reuse_the_old_spaces_caches() -> None:
    # a notebook cell run again with one more op: the candidate pool of the old space was reused
    # (by name), so the new op was never proposed, or the old cells were refused as unknown
    spec = {"name": "rereg_tiny", "num_nodes": 5, "topology": "fixed", "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]],
            "network": {"C": 2, "N": 1, "input_shape": [3, 8, 8]}}
    nagen.spaces.register_space(nagen.spaces.from_spec(dict(spec, ops=["conv3x3", "avgpool3x3"])))
    try:
        old = nagen.spaces.get("rereg_tiny")
        assert len(_enumerated(old)[0]) < 8
        nagen.spaces.register_space(nagen.spaces.from_spec(dict(spec, ops=["conv3x3", "avgpool3x3", "skip"])), overwrite=True)
        new = nagen.spaces.get("rereg_tiny")
        assert nagen.spaces.cache_key(new) != nagen.spaces.cache_key(old)
        assert any("skip" in a.ops for a in _enumerated(new)[0])
        st = Study("rereg_tiny", "acc", CallableLabeller(lambda a: float(a.ops.count("skip"))), proposer="bo",
                   storage="sqlite://", executor="inline", n_initial=2, seed=0)
        st.optimize(6)
        assert st.best.values["acc"] >= 1.0
    finally:
        nagen.spaces.registry.remove("rereg_tiny")


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_a_study_on_an_unregistered_space_labels_and_reopens(tmp_path, executor) -> None:
    # optimize used to fail resolving the space by name in the executor ("could not resolve search space")
    sp = nagen.spaces.from_spec(dict(SPEC, name="unreg_study"))
    url = f"sqlite:///{tmp_path}/s.db"
    st = Study(sp, "acc", CallableLabeller(score), storage=url, name="s", executor=executor, seed=1)
    st.optimize(8)
    assert len(st.history) == 8 and all(t.state == "complete" for t in st.trials)
    assert all(t.values["acc"] == score(sp.parse(t.arch)) for t in st.history)
    # load_study rebuilds the space from the stored spec (it is in no registry) and continues
    again = load_study("s", storage=url, labeller=CallableLabeller(score), executor="inline")
    assert again.space == sp and [t.arch for t in again.history] == [t.arch for t in st.history]
    again.optimize(10)
    assert len(again.history) == 10


def test_a_spec_file_path_works_as_the_space_of_a_study(tmp_path) -> None:
    path = tmp_path / "my_space.json"
    path.write_text(json.dumps(dict(SPEC, name="file_space")))
    st = Study(str(path), "acc", CallableLabeller(score), storage=f"sqlite:///{tmp_path}/f.db", proposer="re", executor="inline")
    st.optimize(5)
    assert len(st.history) == 5 and st.space.name == "file_space"


@pytest.mark.slow  # starting a local Ray instance
def test_ray_workers_receive_an_unregistered_space(tmp_path) -> None:
    pytest.importorskip("ray")
    import os
    import subprocess
    import sys

    # its own interpreter: Ray start-up and shutdown stay out of the test process
    code = f"""
import json, nagen.spaces
from nagen.labellers import CallableLabeller
from nagen.study import Study
import test_study_custom_space as T
sp = nagen.spaces.from_spec(dict(T.SPEC, name="unreg_ray"))
st = Study(sp, "acc", CallableLabeller(T.score), storage="sqlite:///{tmp_path}/r.db", name="r", proposer="random",
           executor="ray", executor_options={{"num_cpus": 2}}, seed=0)
st.optimize(6, batch_size=3)
print(json.dumps([[t.state, t.values.get("acc"), T.score(sp.parse(t.arch))] for t in st.trials]))
"""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(rows) == 6 and all(state == "complete" and got == want for state, got, want in rows)


def test_a_table_of_a_space_too_large_to_count_confines_the_search() -> None:
    """A user table of 300 cells of a 9-node variable space (size unknown) was searched over the
    whole space: 2-3 of 15 trials found a row, the rest failed with "no row in table"."""
    import numpy as np

    import nagen.spaces
    from nagen.benchmarks import Benchmark
    from nagen.labellers import TableLabeller
    from nagen.study import Study

    sp = nagen.spaces.from_spec(
        {"name": "big9_test", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 9, "topology": "variable", "max_edges": 12}
    )
    assert sp.size is None
    archs = list({a.canonical_hash(): a for a in sp.sample(300, 0)}.values())
    tab = Benchmark("big9_table", sp, archs, {"acc": np.random.default_rng(0).normal(90, 2, len(archs))})
    for method in ("random", "bo"):
        st = Study(sp, "acc", TableLabeller(tab, "acc"), proposer=method, storage=":memory:", seed=0, executor="inline")
        st.optimize(12)
        assert [t.state for t in st.trials] == ["complete"] * 12 and all(sp.parse(t.arch) in tab for t in st.trials)


def test_the_diffusion_proposer_takes_a_checkpoint_of_the_users_space(tmp_path) -> None:
    # it always trained its own model (minutes) on a space without a shipped checkpoint
    import warnings

    import nagen
    from nagen.errors import InvalidSpecError
    from nagen.generators.diffusion import DiffusionGenerator
    from nagen.study import DiffusionProposer

    sp = nagen.spaces.from_spec(dict(SPEC, name="ckpt_tiny"))
    path = tmp_path / "tiny.pt"
    DiffusionGenerator(sp, hidden=8, layers=1, heads=1, seed=0).fit(steps=20, batch_size=16).save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        st = Study(sp, "acc", CallableLabeller(score), proposer=DiffusionProposer(checkpoint=path, pool_size=40, finetune_every=0),
                   storage=f"sqlite:///{tmp_path}/d.db", name="d", executor="inline", n_initial=2, seed=0)
        st.optimize(4)
    assert len(st.history) == 4
    assert not [w for w in caught if "trains one now" in str(w.message)]
    again = load_study("d", storage=f"sqlite:///{tmp_path}/d.db", labeller=CallableLabeller(score), executor="inline")
    assert again.proposer.checkpoint == str(path)
    other = tmp_path / "nb201.pt"
    DiffusionGenerator("nb201", hidden=8, layers=1, heads=1, seed=0).fit(steps=2, batch_size=16).save(other)
    with pytest.raises(InvalidSpecError, match="DiffusionProposer checkpoint"):
        Study(sp, "acc", CallableLabeller(score), proposer=DiffusionProposer(checkpoint=other), storage="sqlite://")
    with pytest.raises(InvalidSpecError, match="no such file"):
        DiffusionProposer(checkpoint=tmp_path / "missing.pt")
    with pytest.raises(InvalidSpecError, match="goes with method='diffusion'"):
        nagen.search("nb201", "cifar10_valid_12ep", budget=2, method="re", checkpoint=other)
