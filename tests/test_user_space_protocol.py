"""A user's own SearchSpace subclass: the promise that one new module is enough."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import nagen.spaces
from nagen.errors import InvalidArchitectureError, InvalidArgumentError, InvalidSpecError
from nagen.graph import INPUT, OUTPUT, ArchGraph
from nagen.labellers import CallableLabeller, TableLabeller
from nagen.spaces.base import SearchSpace
from nagen.study import Study, load_study

OPS = ("conv3", "conv1", "skip")
EDGES = tuple((i, i + 1) for i in range(5))


def _arch(ops) -> ArchGraph:
    return ArchGraph((INPUT, *ops, OUTPUT), EDGES)


class Chain(SearchSpace):
    """input -> 4 nodes in a chain -> output, 3 ops each: 81 cells."""

    name = "chain_user"
    ops = OPS
    max_nodes = 6
    fixed_topology = True
    description = "a user's chain"

    @property
    def size(self) -> int:
        return 3**4

    def _check(self, arch) -> None:
        if arch.num_nodes != 6 or arch.edges != EDGES:
            raise InvalidArchitectureError(f"{self.name}: a chain of 6 nodes, got {arch.to_string()}")

    def _build(self, arch, num_classes, **options):
        from torch import nn

        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    def _sample_one(self, rng):
        return _arch(tuple(OPS[i] for i in rng.integers(0, 3, size=4)))

    def _enumerate(self):
        for ops in itertools.product(OPS, repeat=4):
            yield _arch(ops)


class NotListed(Chain):
    """Knows its size but cannot list its cells (enumerate() raises NotEnumerableError)."""

    name = "chain_unlisted"
    _enumerate = SearchSpace._enumerate


def convs(arch) -> float:
    # module level: process workers unpickle it by reference
    return float(sum(op == "conv3" for op in arch.ops) + 0.5 * sum(op == "conv1" for op in arch.ops))


def test_a_users_space_that_reuses_a_builtin_name_gets_none_of_that_spaces_data(tmp_path) -> None:
    # `name == "nb201"` checks used to send it to NB201's zero-cost table and shipped checkpoint
    from nagen.generators.diffusion import DiffusionGenerator
    from nagen.generators.opgfn import _op_mask_fn

    mine = type("Mine", (Chain,), {"name": "nb201"})()
    fake_mbv3 = type("FakeMbv3", (Chain,), {"name": "mbv3"})()
    assert nagen.spaces.is_space(nagen.spaces.get("nb201"), "nb201") and not nagen.spaces.is_space(mine, "nb201")
    assert nagen.spaces.reference(mine) is mine
    assert DiffusionGenerator.has_pretrained(nagen.spaces.get("nb201")) and not DiffusionGenerator.has_pretrained(mine)
    import torch

    # MobileNetV3's masks forbid skip in its first blocks; a user's "mbv3" allows every op everywhere
    assert bool(_op_mask_fn(fake_mbv3)(torch.zeros(1, 4, dtype=torch.long)).all())
    st = Study(mine, "acc", CallableLabeller(convs), proposer="bo", storage=f"sqlite:///{tmp_path}/m.db", executor="inline", n_initial=3)
    st.optimize(6)
    assert len(st.history) == 6


def test_registering_a_space_again_with_overwrite_gives_the_new_one(unique_name) -> None:
    # the instance cache used to keep returning the first class's instance
    first = nagen.spaces.register(unique_name)(type("A", (Chain,), {"name": unique_name}))
    assert type(nagen.spaces.get(unique_name)) is first
    with pytest.raises(Exception, match="overwrite=True"):
        nagen.spaces.register(unique_name)(type("B", (Chain,), {"name": unique_name}))
    second = nagen.spaces.register(unique_name, overwrite=True)(type("B", (Chain,), {"name": unique_name, "ops": ("conv3", "skip")}))
    got = nagen.spaces.get(unique_name)
    assert type(got) is second and got.ops == ("conv3", "skip")


def test_a_space_with_a_size_but_no_enumeration_is_searched_by_sampling(tmp_path) -> None:
    # the BO pool used to call enumerate() and fail inside optimize, after labels were paid
    url = f"sqlite:///{tmp_path}/n.db"
    st = Study(NotListed(), "acc", CallableLabeller(convs), proposer="bo", storage=url, name="n", executor="inline", n_initial=3)
    st.optimize(6)
    assert len(st.history) == 6
    # unregistered, so stored by its class: load_study rebuilds it rather than resolving the name
    again = load_study("n", storage=url, labeller=CallableLabeller(convs), executor="inline")
    assert type(again.space) is NotListed and len(again.history) == 6


def test_a_space_the_workers_do_not_know_is_refused_before_any_label(tmp_path, unique_name) -> None:
    # registered here, in the test, not at import: a spawned worker never sees it (as in a notebook)
    nagen.spaces.register(unique_name)(type("C", (Chain,), {"name": unique_name}))
    st = Study(unique_name, "acc", CallableLabeller(convs), proposer="random", storage=f"sqlite:///{tmp_path}/w.db", executor="process")
    with pytest.raises(InvalidArgumentError, match=f"space '{unique_name}' is not known in a worker process.*executor='inline'"):
        st.optimize(3)
    assert st.trials == []


def _mutate_generator():
    from nagen.generators.base import Generator

    class Mutate(Generator):
        """Neighbours of the fitted cells (random cells before any fit)."""

        def fit(self, archs=None, **options):
            self.parents = [self.space.validate(a) for a in archs] if archs else []
            return self

        def _sample(self, n, seed, guides, **options):
            rng = np.random.default_rng(seed)
            if not self.parents:
                return self.space.sample(n, rng)
            out = []
            while len(out) < n:
                nb = self.space.neighbours(self.parents[int(rng.integers(len(self.parents)))])
                out.append(nb[int(rng.integers(len(nb)))])
            return out

    return Mutate


def test_a_registered_generator_is_a_study_proposer_by_its_name(tmp_path, unique_name) -> None:
    # proposer= used to take only the five built-in proposer names
    import nagen.generators
    from nagen.study import GeneratorProposer

    nagen.generators.register(unique_name)(_mutate_generator())
    try:
        url = f"sqlite:///{tmp_path}/g.db"
        st = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer=unique_name, storage=url, name="g", executor="inline", n_initial=3)
        assert isinstance(st.proposer, GeneratorProposer)
        st.optimize(8)
        assert len(st.history) == 8 and all(t.state == "complete" for t in st.trials)
        again = load_study("g", storage=url, executor="inline")
        assert isinstance(again.proposer, GeneratorProposer) and again.proposer.generator == unique_name
    finally:
        nagen.generators.registry.remove(unique_name)
    with pytest.raises(InvalidSpecError, match="or a registered generator"):
        Study("nb201", "cifar10_test", proposer=unique_name, storage=f"sqlite:///{tmp_path}/h.db")
