"""A space is matched to its table by identity or spec, never by name alone."""

from __future__ import annotations

import pytest

import nagen
import nagen.spaces
from nagen.errors import InvalidArgumentError, InvalidSpecError
from nagen.labellers import TableLabeller

SHADOW = {"name": "nb201", "ops": ["conv3x3", "skip"], "num_nodes": 4, "topology": "variable"}


def test_same_space_is_identity_equal_spec_or_one_builtin_class() -> None:
    nb201 = nagen.spaces.get("nb201")
    shadow = nagen.spaces.from_spec(dict(SHADOW))
    assert nagen.spaces.same_space(nb201, nb201)
    assert nagen.spaces.same_space(type(nb201)(), nb201)  # a fresh instance of the built-in class
    assert nagen.spaces.same_space(shadow, nagen.spaces.from_spec(dict(SHADOW)))  # equal specs
    assert not nagen.spaces.same_space(shadow, nb201)
    assert not nagen.spaces.same_space(shadow, nagen.spaces.from_spec({**SHADOW, "num_nodes": 5}))


def test_a_users_space_named_like_a_builtin_is_not_labelled_by_the_builtins_table(tmp_path) -> None:
    """Every label of such a search failed (ops unknown to NB201) and the CLI printed nothing, rc 0."""
    from nagen.cli import main
    from nagen.transfer import TransferTask

    shadow = nagen.spaces.from_spec(dict(SHADOW))
    with pytest.raises(InvalidArgumentError, match="another space of the same name"):
        nagen.search(shadow, "cifar10_test", budget=3, seed=0, method="random")
    with pytest.raises(InvalidArgumentError, match="another space of that name"):
        nagen.Study(shadow, ["cifar10_test"], TableLabeller("nb201", "cifar10_test"))
    with pytest.raises(InvalidSpecError, match="another space of the same name"):
        TransferTask(sources=["cifar100_test"], target="cifar10_test", space=shadow)
    path = tmp_path / "shadow.json"
    path.write_text('{"name": "nb201", "ops": ["conv3x3", "skip"], "num_nodes": 4, "topology": "variable"}')
    assert main(["search", "--space", str(path), "--objective", "cifar10_test", "--budget", "3", "--quiet"]) == 2
    # the built-in space, however obtained, still searches its own table
    assert nagen.search(type(nagen.spaces.get("nb201"))(), "cifar10_test", budget=3, seed=0, method="random").best is not None


def test_a_spec_read_twice_or_redescribed_is_the_same_space_for_its_table(tmp_path) -> None:
    """Comparing whole specs refused a table over a changed description; generate compared identity."""
    from nagen.benchmarks import Benchmark

    spec = {"name": "same_twice", "ops": ["conv3x3", "skip", "zero"], "num_nodes": 5, "topology": "fixed",
            "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]}
    a, b = nagen.spaces.from_spec(dict(spec)), nagen.spaces.from_spec({**spec, "description": "v2"})
    assert nagen.spaces.same_space(a, b)
    path = tmp_path / "t.csv"
    path.write_text("arch,acc\n" + "".join(f'"{a.format(x)}",{k}\n' for k, x in enumerate(a.enumerate())))
    table = Benchmark.from_csv(path, a)
    assert len(nagen.search(b, "acc", benchmark=table, budget=3, seed=0, method="random").history) == 3
    out = nagen.generate(b, n=2, method="opgfn", guide="acc", benchmark=table, guide_labels=8, seed=0)
    assert len(out) == 2
