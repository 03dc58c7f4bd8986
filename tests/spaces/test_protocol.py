"""Every space, built-in or user-defined, honours the SearchSpace protocol (property tests)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nagen.spaces
from nagen.errors import InvalidArchitectureError, NotEnumerableError
from nagen.graph import ArchGraph

CUSTOM = {
    "fixed": {"name": "proto_fixed", "ops": ["conv3x3", "skip", "none"], "num_nodes": 5, "topology": "fixed",
              "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]},
    "variable": {"name": "proto_var", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 6,
                 "topology": "variable", "max_edges": 7},
}


def _spaces():
    out = [nagen.spaces.get(n) for n in ("nb201", "nb101", "mbv3")]
    out += [nagen.spaces.from_spec(spec) for spec in CUSTOM.values()]
    return out


SPACES = _spaces()


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_sample_encode_decode_format_round_trip(space, seed) -> None:
    archs = space.sample(8, seed)
    assert archs == space.sample(8, seed)
    X, A = space.encode(archs)
    assert X.shape == (8, space.max_nodes, len(space.vocab)) and A.shape == (8, space.max_nodes, space.max_nodes)
    assert torch.equal(A, torch.triu(A, 1))
    assert space.decode(X, A) == archs
    for a in archs:
        assert space.validate(a) is a
        assert space.parse(space.format(a)) == a
        assert space.parse(a.to_string()) == a
        assert ArchGraph.from_string(a.to_string()) == a


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_neighbours_are_valid_single_edits(space) -> None:
    a = space.sample(1, 11)[0]
    nbrs = space.neighbours(a)
    assert nbrs and a not in nbrs
    for b in nbrs:
        assert space.is_valid(b)
        op_changes = sum(x != y for x, y in zip(a.ops, b.ops)) if a.num_nodes == b.num_nodes else None
        edge_changes = len(set(a.edges) ^ set(b.edges))
        assert (op_changes == 1 and edge_changes == 0) or (op_changes in (0, None) and edge_changes >= 1)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_enumerate_or_refuse(space) -> None:
    if space.size is not None and space.size <= 100_000:
        items = list(space.enumerate())
        assert len(items) == space.size == len(set(items))
    else:
        with pytest.raises(NotEnumerableError, match="use sample"):
            space.enumerate()


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_rejects_foreign_architectures(space) -> None:
    with pytest.raises(InvalidArchitectureError):
        space.validate(ArchGraph(["input"] + ["not_an_op"] * 2 + ["output"], [(0, 1), (1, 2), (2, 3)]))
    with pytest.raises(InvalidArchitectureError):
        space.validate(42)  # type: ignore[arg-type]


def test_missing_optional_dependency_is_named(monkeypatch) -> None:
    import sys

    from nagen.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "dgl", None)  # makes `import dgl` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"nagen\[dgl\]"):
        ArchGraph.from_string("input;conv<0;output<1").to_dgl()


def test_a_graph_accepted_by_one_space_is_still_checked_by_another() -> None:
    """validate() remembers the last space that accepted a graph, never lends that to another space,
    and the memory is not pickled."""
    import pickle

    nb201 = nagen.spaces.get("nb201")
    small = nagen.spaces.from_spec(
        {"name": "memo_test", "ops": ["nor_conv_3x3", "skip_connect"], "num_nodes": 8, "topology": "variable", "max_edges": 3}
    )
    cell = nb201.sample(1, 0)[0]
    assert nb201.validate(cell) is cell and nb201.validate(cell) is cell
    with pytest.raises(InvalidArchitectureError):
        small.validate(cell)  # other ops and too many edges: refused although nb201 accepted it
    assert nb201.validate(cell) is cell
    again = pickle.loads(pickle.dumps(cell))
    assert again == cell and again._validated_by is None


def test_builtin_spaces_copy_and_pickle_to_the_registered_instance() -> None:
    """Generators compare spaces by identity: a deep-copied or unpickled predictor must keep the registry's space."""
    import copy
    import pickle

    import nagen.spaces

    for name in nagen.spaces.names():
        space = nagen.spaces.get(name)
        if type(space).__module__ == "nagen.spaces.custom":
            continue
        assert copy.deepcopy(space) is space
        assert pickle.loads(pickle.dumps(space)) is space


def test_unregistered_instance_still_copies_as_an_object() -> None:
    """Only the registry's own instance pickles by name; a second instance stays a distinct object."""
    import copy

    import nagen.spaces

    other = type(nagen.spaces.get("nb201"))()
    dup = copy.deepcopy(other)
    assert dup is not other and dup is not nagen.spaces.get("nb201")
    assert dup.name == "nb201"


def test_guide_from_a_deep_copied_predictor_steers_the_shipped_generator() -> None:
    """A predictor copied with ``copy.deepcopy`` (a common way to keep a fitted one) still guides."""
    import copy

    import nagen
    import nagen.benchmarks
    from nagen.generators.guidance import Guide
    from nagen.predictors import get as get_predictor

    table = nagen.benchmarks.load("nb201")
    archs = list(table.archs[:40])
    pred = get_predictor("gnn", "nb201", epochs=2, seed=0).fit(archs, table.query_many(archs, "cifar10_test"))
    res = nagen.generate("nb201", n=4, guide=[Guide(copy.deepcopy(pred), weight=1.0)], seed=0)
    assert len(res) == 4
