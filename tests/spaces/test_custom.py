"""Tests of user-defined spaces made from a plain spec (``nagen.spaces.custom``)."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nagen.spaces
from nagen.errors import InvalidArchitectureError, InvalidSpecError, NagenError
from nagen.graph import ArchGraph
from nagen.spaces.custom import CustomSpace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spaces" / "tiny_dag.json"
TINY_NET = {"C": 4, "N": 1, "input_shape": [3, 8, 8], "num_classes": 7}


def fixed_spec(**overrides: Any) -> dict[str, Any]:
    spec = {
        "name": "fixed_test",
        "ops": ["conv3x3", "conv1x1", "skip"],
        "num_nodes": 5,
        "topology": "fixed",
        "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [1, 4], [3, 4]],
        "network": dict(TINY_NET),
    }
    spec.update(overrides)
    return spec


def variable_spec(**overrides: Any) -> dict[str, Any]:
    spec = {
        "name": "variable_test",
        "ops": ["conv3x3", "maxpool3x3"],
        "num_nodes": 6,
        "topology": "variable",
        "max_edges": 8,
        "min_nodes": 3,
        "network": dict(TINY_NET),
    }
    spec.update(overrides)
    return spec


@pytest.fixture(params=["fixed", "variable"])
def space(request: pytest.FixtureRequest) -> CustomSpace:
    return CustomSpace.from_spec(fixed_spec() if request.param == "fixed" else variable_spec())


def on_every_path(arch: ArchGraph) -> bool:
    """Independent (networkx) check that every node is on an input -> output path."""
    g = arch.to_networkx()
    out = arch.num_nodes - 1
    reach = nx.descendants(g, 0) | {0}
    coreach = nx.ancestors(g, out) | {out}
    return set(g.nodes) == reach & coreach


# ---------------------------------------------------------------------- loading and identity
def test_from_dict_and_from_json_file_agree(tmp_path: Path) -> None:
    spec = variable_spec()
    path = tmp_path / "space.json"
    path.write_text(json.dumps(spec))
    a = CustomSpace.from_spec(spec)
    b = CustomSpace.from_spec(path)
    c = CustomSpace.from_spec(str(path))
    assert a == b == c and hash(a) == hash(b)
    assert nagen.spaces.from_spec(spec) == a


def test_spec_is_normalised_and_round_trips() -> None:
    s = CustomSpace.from_spec(variable_spec(network={"C": 8}))
    spec = s.spec
    assert spec["network"] == {"C": 8, "N": 5, "input_shape": [3, 32, 32], "num_classes": 10}
    assert spec["buildable"] is True and spec["description"] == ""
    assert CustomSpace.from_spec(spec) == s
    spec["ops"].append("skip")  # a copy: the space does not change
    assert s.ops == ("conv3x3", "maxpool3x3") and s.spec["ops"] == ["conv3x3", "maxpool3x3"]
    # defaults are filled in, so an explicit default gives an equal space
    assert CustomSpace.from_spec(variable_spec(min_nodes=3)) == CustomSpace.from_spec(
        {k: v for k, v in variable_spec().items() if k != "min_nodes"}
    )
    # fixed edges are sorted
    f = CustomSpace.from_spec(fixed_spec(edges=[[3, 4], [0, 1], [1, 4], [0, 2], [2, 3], [1, 3]]))
    assert f == CustomSpace.from_spec(fixed_spec())
    assert CustomSpace.from_spec(variable_spec()) != CustomSpace.from_spec(variable_spec(max_edges=9))


def test_attributes_follow_the_spec() -> None:
    s = CustomSpace.from_spec(variable_spec(description="hello"))
    assert (s.name, s.ops, s.max_nodes, s.fixed_topology) == ("variable_test", ("conv3x3", "maxpool3x3"), 6, False)
    assert s.vocab == ("input", "conv3x3", "maxpool3x3", "output")
    assert s.default_input_shape == (3, 8, 8) and s.default_num_classes == 7
    assert s.description == "hello"
    assert CustomSpace.from_spec(fixed_spec()).description  # an automatic one when none is given
    d = s.describe()
    assert d["topology"] == "variable" and d["spec"] == s.spec and d["size"] == s.size


def test_to_json_round_trips(tmp_path: Path) -> None:
    s = CustomSpace.from_spec(fixed_spec())
    path = s.to_json(tmp_path / "out.json")
    assert CustomSpace.from_spec(path) == s
    assert json.loads(path.read_text()) == s.spec


def test_to_json_failure_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.json"
    path.write_text("old contents")

    def boom(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        CustomSpace.from_spec(fixed_spec()).to_json(path)
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_pickle_round_trip() -> None:
    s = CustomSpace.from_spec(variable_spec())
    t = pickle.loads(pickle.dumps(s))
    assert t == s and t.sample(5, rng=3) == s.sample(5, rng=3)


def test_register_in_one_line(unique_name: str) -> None:
    space = nagen.spaces.register_space(nagen.spaces.from_spec(variable_spec(name=unique_name)))
    assert nagen.spaces.get(unique_name) is space
    assert unique_name in nagen.spaces.names()
    assert len(nagen.spaces.get(unique_name).sample(3, rng=0)) == 3


def test_example_spec_loads(unique_name: str) -> None:
    s = nagen.spaces.from_spec(EXAMPLE)
    assert isinstance(s, CustomSpace) and s.name == "tiny_dag"
    assert s.size is not None and s.size == sum(1 for _ in s.enumerate())
    assert all(s.is_valid(a) for a in s.sample(50, rng=0))
    # register a copy under a unique name so other tests (or users) can still take "tiny_dag"
    nagen.spaces.register_space(CustomSpace.from_spec({**s.spec, "name": unique_name}))
    assert nagen.spaces.get(unique_name).size == s.size


# ---------------------------------------------------------------------- both topologies
def test_samples_valid_and_deterministic(space: CustomSpace) -> None:
    a = space.sample(300, rng=11)
    assert a == space.sample(300, rng=11)
    assert a != space.sample(300, rng=12)
    assert all(space.is_valid(x) for x in a)
    assert all(on_every_path(x) for x in a)
    assert len(set(a)) > 10
    assert space.sample(0, rng=0) == []


def test_encode_decode_round_trip(space: CustomSpace) -> None:
    archs = space.sample(64, rng=1)
    X, A = space.encode(archs)
    assert X.shape == (64, space.max_nodes, len(space.vocab)) and A.shape == (64, space.max_nodes, space.max_nodes)
    assert space.decode(X, A) == archs
    assert [space.parse(space.format(a)) for a in archs] == archs


def test_neighbours_are_valid(space: CustomSpace) -> None:
    for arch in space.sample(10, rng=2):
        nb = space.neighbours(arch)
        assert nb and arch not in nb
        assert all(space.is_valid(x) for x in nb)


def test_build_forward_shape(space: CustomSpace) -> None:
    arch = space.sample(1, rng=4)[0]
    net = space.build(arch)
    y = net(torch.randn(2, 3, 8, 8))
    assert y.shape == (2, 7)
    net = space.build(arch, num_classes=3, C=2, N=1, in_channels=1)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    cost = space.cost(arch)
    assert cost["params"] > 0 and cost["flops"] > 0
    with pytest.raises(ValueError, match="C must be a positive integer"):
        space.build(arch, C=0)


def test_sampling_is_fast() -> None:
    s = CustomSpace.from_spec(variable_spec(num_nodes=8, max_edges=12))
    t = time.perf_counter()
    s.sample(2000, rng=0)
    assert 2000 / (time.perf_counter() - t) > 1000


# ---------------------------------------------------------------------- fixed topology
def test_fixed_size_and_enumeration_order() -> None:
    s = CustomSpace.from_spec(fixed_spec())
    assert s.size == 3**3
    archs = list(s.enumerate())
    assert len(archs) == len(set(archs)) == 27
    assert [a.ops[1:-1] for a in archs] == list(itertools.product(s.ops, repeat=3))
    assert all(a.edges == ((0, 1), (0, 2), (1, 3), (1, 4), (2, 3), (3, 4)) for a in archs)


def test_fixed_rejects_other_topologies() -> None:
    s = CustomSpace.from_spec(fixed_spec())
    good = s.sample(1, rng=0)[0]
    with pytest.raises(InvalidArchitectureError, match="fixed DAG"):
        s.validate(good.with_edge(0, 3))
    with pytest.raises(InvalidArchitectureError, match="fixed DAG"):
        s.validate(ArchGraph(["input", "skip", "output"], [(0, 1), (1, 2)]))


# ---------------------------------------------------------------------- variable topology
def brute_force_size(num_nodes: int, min_nodes: int, max_edges: int, n_ops: int) -> int:
    total = 0
    for n in range(min_nodes, num_nodes + 1):
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        ops = ["input", *["conv3x3"] * (n - 2), "output"]
        for mask in itertools.product((0, 1), repeat=len(pairs)):
            edges = [p for p, m in zip(pairs, mask) if m]
            if len(edges) <= max_edges and on_every_path(ArchGraph(ops, edges)):
                total += n_ops ** (n - 2)
    return total


@pytest.mark.parametrize(("num_nodes", "min_nodes", "max_edges"), [(5, 3, 10), (5, 3, 5), (5, 4, 6), (4, 4, 3)])
def test_variable_size_matches_brute_force(num_nodes: int, min_nodes: int, max_edges: int) -> None:
    s = CustomSpace.from_spec(
        variable_spec(num_nodes=num_nodes, min_nodes=min_nodes, max_edges=max_edges, ops=["conv3x3", "skip"])
    )
    assert s.size == brute_force_size(num_nodes, min_nodes, max_edges, 2)
    archs = list(s.enumerate())
    assert len(archs) == len(set(archs)) == s.size
    assert all(s.is_valid(a) for a in archs)


def test_variable_size_unknown_above_seven_nodes() -> None:
    assert CustomSpace.from_spec(variable_spec(num_nodes=7)).size is not None
    assert CustomSpace.from_spec(variable_spec(num_nodes=8)).size is None


def test_variable_sampler_covers_the_small_space() -> None:
    """Every architecture can be drawn (the sampler has full support)."""
    s = CustomSpace.from_spec(variable_spec(num_nodes=5, max_edges=6, ops=["skip"]))
    assert set(s.sample(5000, rng=0)) == set(s.enumerate())


def test_variable_rejects_invalid_architectures() -> None:
    s = CustomSpace.from_spec(variable_spec(min_nodes=4, max_edges=5))
    ok = ArchGraph(["input", "conv3x3", "conv3x3", "output"], [(0, 1), (1, 2), (2, 3)])
    assert s.is_valid(ok)
    with pytest.raises(InvalidArchitectureError, match="at least 4 nodes"):
        s.validate(ArchGraph(["input", "conv3x3", "output"], [(0, 1), (1, 2)]))
    with pytest.raises(InvalidArchitectureError, match="at most 5 edges"):
        s.validate(ArchGraph(["input", "conv3x3", "conv3x3", "output"], [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]))
    with pytest.raises(InvalidArchitectureError, match=r"nodes \[2\] lie on no input->output path"):
        s.validate(ArchGraph(["input", "conv3x3", "conv3x3", "output"], [(0, 1), (1, 3), (0, 2)]))
    with pytest.raises(InvalidArchitectureError, match="output is not reachable"):
        s.validate(ArchGraph(["input", "conv3x3", "conv3x3", "output"], [(0, 1), (1, 2)]))
    with pytest.raises(InvalidArchitectureError, match="at most 6 nodes"):
        s.validate(ArchGraph(["input", *["conv3x3"] * 5, "output"], [(k, k + 1) for k in range(6)]))


def test_tight_edge_budget_still_samples() -> None:
    """A 32-node chain is the only topology; rejection sampling could never find it."""
    s = CustomSpace.from_spec(variable_spec(num_nodes=32, min_nodes=32, max_edges=31))
    for arch in s.sample(20, rng=0):
        assert arch.edges == tuple((k, k + 1) for k in range(31))


@settings(max_examples=40, deadline=None)
@given(
    num_nodes=st.integers(3, 12),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_variable_specs_sample_valid(num_nodes: int, data: st.DataObject, seed: int) -> None:
    min_nodes = data.draw(st.integers(3, num_nodes))
    max_edges = data.draw(st.integers(min_nodes - 1, num_nodes * (num_nodes - 1) // 2))
    s = CustomSpace.from_spec(variable_spec(num_nodes=num_nodes, min_nodes=min_nodes, max_edges=max_edges))
    assert CustomSpace.from_spec(s.spec) == s
    for arch in s.sample(20, rng=seed):
        assert s.is_valid(arch) and on_every_path(arch)
        assert min_nodes <= arch.num_nodes <= num_nodes and len(arch.edges) <= max_edges
    X, A = s.encode(s.sample(8, rng=seed))
    assert s.decode(X, A) == s.sample(8, rng=seed)


# ---------------------------------------------------------------------- bad specs
def _without(spec: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != key}


BAD_SPECS = {
    "missing name": (_without(variable_spec(), "name"), "'name' is missing"),
    "missing ops": (_without(variable_spec(), "ops"), "'ops' is missing"),
    "missing num_nodes": (_without(variable_spec(), "num_nodes"), "'num_nodes' is missing"),
    "missing topology": (_without(variable_spec(), "topology"), "'topology' is missing"),
    "name uppercase": (variable_spec(name="MySpace"), r"key 'name' must be .*\[a-z0-9_\]\+.*got 'MySpace'"),
    "name not str": (variable_spec(name=3), "key 'name'"),
    "name empty": (variable_spec(name=""), "key 'name'"),
    "name trailing newline": (variable_spec(name="myspace\n"), "key 'name'"),
    "ops empty": (variable_spec(ops=[]), "key 'ops' must be a non-empty list"),
    "ops a string": (variable_spec(ops="conv3x3"), "key 'ops' must be a non-empty list"),
    "ops bad chars": (variable_spec(ops=["conv 3x3"], buildable=False), "bad entry 'conv 3x3'"),
    "ops not str": (variable_spec(ops=["conv3x3", 5]), "bad entry 5"),
    "duplicate ops": (variable_spec(ops=["conv3x3", "skip", "conv3x3"]), "'conv3x3' is listed twice"),
    "reserved input": (variable_spec(ops=["conv3x3", "input"]), "reserved 'input'"),
    "reserved output": (variable_spec(ops=["output"], buildable=False), "reserved 'input' and 'output'"),
    "unknown op when buildable": (variable_spec(ops=["conv3x3", "myconv"]), r"\['myconv'\] cannot be built.*buildable"),
    "num_nodes too small": (variable_spec(num_nodes=2), r"key 'num_nodes' must be an integer from 3 to 32.*got 2"),
    "num_nodes too large": (variable_spec(num_nodes=33), "key 'num_nodes'.*got 33"),
    "num_nodes float": (variable_spec(num_nodes=6.0), "key 'num_nodes'.*got 6.0"),
    "num_nodes bool": (variable_spec(num_nodes=True), "key 'num_nodes'.*got True"),
    "bad topology": (variable_spec(topology="dag"), r"key 'topology' must be one of \['fixed', 'variable'\], got 'dag'"),
    "unknown key": (variable_spec(nodes=5), r"unknown key\(s\) \['nodes'\]; allowed keys are \['name'"),
    "typo key hint": (variable_spec(max_edge=5), "did you mean 'max_edges'"),
    "min_nodes too small": (variable_spec(min_nodes=2), "key 'min_nodes' must be an integer from 3 to 6"),
    "min_nodes above num_nodes": (variable_spec(min_nodes=7), "key 'min_nodes'.*got 7"),
    "max_edges < needed": (variable_spec(min_nodes=5, max_edges=3), r"key 'max_edges' must be an integer from 4 to 15.*got 3"),
    "max_edges too many": (variable_spec(max_edges=16), "key 'max_edges'.*got 16"),
    "max_edges str": (variable_spec(max_edges="9"), "key 'max_edges'.*got '9'"),
    "edges on variable": (variable_spec(edges=[[0, 1]]), r"\['edges'\] only apply to topology 'fixed'"),
    "max_edges on fixed": (fixed_spec(max_edges=5), r"\['max_edges'\] only apply to topology 'variable'"),
    "min_nodes on fixed": (fixed_spec(min_nodes=3), r"\['min_nodes'\] only apply to topology 'variable'"),
    "fixed without edges": (_without(fixed_spec(), "edges"), "topology 'fixed' requires key 'edges'"),
    "edges empty": (fixed_spec(edges=[]), "key 'edges' must be a list of \\[i, j\\] pairs"),
    "edges out of order": (fixed_spec(edges=[[0, 1], [2, 1], [1, 4]]), r"0 <= i < j < num_nodes=5.*bad edge \[2, 1\]"),
    "edge self loop": (fixed_spec(edges=[[0, 1], [1, 1]]), r"bad edge \[1, 1\]"),
    "edge out of range": (fixed_spec(edges=[[0, 1], [1, 5]]), r"bad edge \[1, 5\]"),
    "edge not a pair": (fixed_spec(edges=[[0, 1, 2]]), r"bad edge \[0, 1, 2\]"),
    "edge not ints": (fixed_spec(edges=[["0", "1"]]), "bad edge"),
    "duplicate edge": (fixed_spec(edges=[[0, 1], [1, 4], [0, 1]]), r"edge \[0, 1\] is listed twice"),
    "fixed node off every path": (
        fixed_spec(edges=[[0, 1], [0, 2], [1, 3], [1, 4], [3, 4]]),
        r"nodes \[2\] are on no such path",
    ),
    "fixed node unreachable": (fixed_spec(edges=[[0, 1], [1, 4], [2, 3], [3, 4]]), r"nodes \[2, 3\] are on no such path"),
    "fixed output unreachable": (fixed_spec(edges=[[0, 1], [1, 2], [2, 3]]), "output is not reachable from the input"),
    "description not str": (variable_spec(description=1), "key 'description' must be a string"),
    "buildable not bool": (variable_spec(buildable="yes"), "key 'buildable' must be true or false"),
    "network not dict": (variable_spec(network=[16]), "key 'network' must be a dict"),
    "network unknown key": (variable_spec(network={"channels": 16}), r"section 'network': unknown key.*'channels'"),
    "network C zero": (variable_spec(network={"C": 0}), "key 'network.C'.*got 0"),
    "network N str": (variable_spec(network={"N": "2"}), "key 'network.N'.*got '2'"),
    "network input_shape 2d": (variable_spec(network={"input_shape": [32, 32]}), "key 'network.input_shape'"),
    "network input_shape odd": (variable_spec(network={"input_shape": [3, 30, 30]}), "multiples of 4.*got \\[3, 30, 30\\]"),
    "network num_classes": (variable_spec(network={"num_classes": -1}), "key 'network.num_classes'.*got -1"),
    "not a dict": (["name"], "must be a dict"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_raises(case: str) -> None:
    spec, match = BAD_SPECS[case]
    with pytest.raises(InvalidSpecError, match=match):
        CustomSpace.from_spec(spec)


def test_bad_spec_message_names_the_space() -> None:
    with pytest.raises(InvalidSpecError, match="space spec 'variable_test': key 'num_nodes'"):
        CustomSpace.from_spec(variable_spec(num_nodes=1))


def test_unknown_op_lists_buildable_ops() -> None:
    with pytest.raises(InvalidSpecError) as e:
        CustomSpace.from_spec(variable_spec(ops=["conv7x7"]))
    assert "'conv3x3'" in str(e.value) and "'maxpool3x3'" in str(e.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError, match="does not exist"):
        CustomSpace.from_spec(tmp_path / "missing.json")
    with pytest.raises(InvalidSpecError, match="looks like JSON text"):
        CustomSpace.from_spec(json.dumps(variable_spec()))
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",')
    with pytest.raises(InvalidSpecError, match="is not valid JSON.*line 1"):
        CustomSpace.from_spec(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidSpecError, match="must hold a JSON object"):
        CustomSpace.from_spec(bad)
    bad.write_text('{"name": "x", "name": "y"}')
    with pytest.raises(InvalidSpecError, match="'name' appears twice"):
        CustomSpace.from_spec(bad)
    bad.write_text(json.dumps(variable_spec(num_nodes=2)))
    with pytest.raises(InvalidSpecError, match=r"bad\.json' \(name 'variable_test'\): key 'num_nodes'"):
        CustomSpace.from_spec(bad)


def test_unbuildable_space_samples_but_does_not_build() -> None:
    s = CustomSpace.from_spec(variable_spec(ops=["my_conv", "my.pool-2"], buildable=False))
    archs = s.sample(20, rng=0)
    assert all(s.is_valid(a) for a in archs)
    X, A = s.encode(archs)
    assert s.decode(X, A) == archs
    with pytest.raises(NagenError, match="no network builder.*buildable"):
        s.build(archs[0])
    with pytest.raises(InvalidSpecError, match="no network builder"):
        s.cost(archs[0])


def test_neighbours_keep_none_nodes_when_an_edge_removal_strands_another_node() -> None:
    # removing (1, 4) strands node 1; only it may go: the valid 'none' node 2 stays
    sp = CustomSpace.from_spec({"name": "vz", "ops": ["conv3x3", "none"], "num_nodes": 5, "topology": "variable"})
    a = ArchGraph(["input", "conv3x3", "none", "conv3x3", "output"], [(0, 1), (1, 4), (0, 2), (2, 4), (0, 3), (3, 4)])
    nbrs = sp.neighbours(a)
    assert ArchGraph(["input", "none", "conv3x3", "output"], [(0, 1), (1, 3), (0, 2), (2, 3)]) in nbrs
    # every neighbour is valid and no edit removes more than one node
    assert all(sp.is_valid(b) and b.num_nodes >= a.num_nodes - 1 for b in nbrs)
    assert ArchGraph(["input", "conv3x3", "output"], [(0, 1), (1, 2)]) not in nbrs
