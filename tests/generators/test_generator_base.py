"""The Generator protocol and Guide: every bad argument is a named nagen error, caught before any work."""

from __future__ import annotations

import numpy as np
import pytest

import nagen.generators as G
import nagen.predictors as P
from nagen.errors import InvalidArgumentError, InvalidGuidanceError
from nagen.generators.guidance import Guide


@pytest.mark.parametrize("seed", [1.5, True, -1, "3", None])
def test_seed_must_be_a_non_negative_integer(seed) -> None:
    # int(seed) once truncated 1.5 to 1 and took True as 1 without a word
    with pytest.raises(InvalidArgumentError, match="seed must be a non-negative integer"):
        G.get("random", "nb201", seed=seed)
    with pytest.raises(InvalidArgumentError, match="seed must be a non-negative integer"):
        G.get("random", "nb201").sample(2, seed=seed if seed is not None else -2)
    assert G.get("random", "nb201", seed=np.int64(3)).seed == 3


def test_sample_arguments_are_checked() -> None:
    gen = G.get("random", "nb201")
    with pytest.raises(InvalidArgumentError, match="max_rounds must be a positive integer, got 0"):
        gen.sample(3, max_rounds=0)  # once returned [] for a request of 3
    with pytest.raises(InvalidArgumentError, match="max_rounds"):
        gen.sample(3, max_rounds=1.5)
    with pytest.raises(InvalidGuidanceError, match="got None"):
        gen.sample(3, guides=None)
    with pytest.raises(InvalidArgumentError, match="no sampling options"):
        gen.sample(3, steps=10)  # a diffusion option: once ignored without a word
    assert len(gen.sample(3, seed=2**70)) == 3  # numpy takes any seed


@pytest.fixture(scope="module")
def pred(split):
    train, ytr, _, _ = split
    return P.get("gnn", "nb201", epochs=1, hidden=8).fit(train, ytr)


def test_a_single_guide_must_be_wrapped_in_a_list(pred) -> None:
    with pytest.raises(InvalidGuidanceError, match="wrap it in a list"):
        G.get("random", "nb201").sample(3, guides=Guide(pred, target="le", value=1.0, hard=True))


def test_guide_numbers_are_checked(pred) -> None:
    assert Guide(pred, weight=np.float32(2.0)).weight == 2.0  # a NumPy scale is a number too (was refused)
    with pytest.raises(InvalidGuidanceError, match="weight"):
        Guide(pred, weight=True)
    with pytest.raises(InvalidGuidanceError, match="threshold"):
        Guide(pred, target="ge", value="90")  # type: ignore[arg-type]
    with pytest.raises(InvalidGuidanceError, match="threshold"):
        Guide(pred, target="ge", value=True)  # type: ignore[arg-type]
    for temperature in (float("inf"), float("nan"), 0.0, "1"):
        with pytest.raises(InvalidGuidanceError, match="temperature"):
            Guide(pred, target="ge", value=90.0, temperature=temperature)  # type: ignore[arg-type]


def test_get_names_an_unknown_constructor_option_and_the_allowed_ones() -> None:
    import nagen.generators as G
    from nagen.errors import UnknownOptionError

    # a typo used to be a bare TypeError from the constructor
    with pytest.raises(UnknownOptionError, match=r"generator 'diffusion' takes no option\(s\) \['hiden'\](; did you mean [^;]*)?; its options are .*'hidden'"):
        G.get("diffusion", "nb201", hiden=8)


def test_user_seeds_differ_beyond_32_bits():
    import torch

    from nagen.generators.base import torch_seed, user_seed

    assert [user_seed(s) for s in (0, 7, 2**32 - 1)] == [0, 7, 2**32 - 1]  # small seeds: unchanged results
    assert torch_seed(2**40 + 3) == 2**40 + 3  # derived seeds keep their old meaning (reported runs reproduce)
    big = [0, 2**32, 2**32 + 7, 2**64, 2**70]
    # torch's generator keeps only the low 32 bits of a seed: these would all draw the same numbers
    draws = {tuple(torch.rand(3, generator=torch.Generator().manual_seed(torch_seed(user_seed(s)))).tolist()) for s in big}
    assert len(draws) == len(big)


def test_generate_seeds_differ_beyond_32_bits():
    import nagen

    a, b = (nagen.generate(space="nb201", n=8, seed=s) for s in (0, 2**32))
    assert [g.string for g in a] != [g.string for g in b]


def test_generator_sample_seeds_differ_beyond_32_bits():
    """Generator.sample itself hashes big seeds (only nagen.generate once did)."""
    from nagen.generators.diffusion import DiffusionGenerator

    gen = DiffusionGenerator("nb201", hidden=8, layers=1, heads=2, seed=0)
    gen.fit(gen.space.sample(16, 0), steps=1, batch_size=8)
    small, big = (gen.sample(6, seed=s, steps=3) for s in (5, 5 + 2**32))
    assert small != big
    assert gen.sample(6, seed=5 + 2**32, steps=3) == big


class _ThreeCells(G.Generator):
    """A sharply peaked model: every draw is one of three NB201 cells (two of them equivalent)."""

    def fit(self, archs=None, **options):
        return self

    def _sample(self, n, seed, guides, **options):
        rng = np.random.default_rng(seed)
        cells = [
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
            # equivalent to the next: its extra skip reads node 2, which is all 'none' (zero)
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|skip_connect~2|",
        ]
        picks = [self.space.parse(cells[i]) for i in rng.integers(0, 3, n)]
        self.last_stats.drawn += n
        return picks


def test_unique_redraws_equivalent_duplicates() -> None:
    gen = _ThreeCells("nb201")
    plain = gen.sample(10, seed=0)
    assert len(plain) == 10 and len({a.canonical_hash() for a in plain}) < 10
    distinct = gen.sample(10, seed=0, unique=True)
    hashes = [a.canonical_hash() for a in distinct]
    # only as many as the model can give (two classes here), never a repeat, and the stats say why
    assert len(hashes) == len(set(hashes)) == 2
    assert gen.last_stats.duplicates > 0 and gen.last_stats.drawn > 10
    random_ones = G.get("random", "nb201").sample(50, seed=3, unique=True)
    assert len({a.canonical_hash() for a in random_ones}) == 50
    with pytest.raises(InvalidArgumentError, match="unique must be True or False"):
        gen.sample(3, unique="yes")


def test_unique_beyond_the_space_size_is_refused_at_once() -> None:
    """It once redrew duplicates for seconds (92,450 draws for a 2-cell space) before returning 2."""
    import nagen.spaces

    space = nagen.spaces.from_spec(
        {"name": "two_cells", "ops": ["conv3x3", "conv1x1"], "num_nodes": 3, "topology": "fixed", "edges": [[0, 1], [1, 2]]}
    )
    gen = G.get("random", space)
    with pytest.raises(InvalidArgumentError, match="has only 2 architectures, so unique=True cannot return 50"):
        gen.sample(50, seed=0, unique=True)
    out = gen.sample(2, seed=0, unique=True)
    assert len(out) == 2 and out[0] != out[1]
    assert gen.last_stats.drawn < 100  # stops once every architecture of the space is in hand
    assert len(gen.sample(50, seed=0)) == 50  # repeats allowed: any n


def test_unique_asks_beyond_the_distinct_architectures_are_refused_at_once() -> None:
    """NB201's 15,625 cells hold 8,765 distinct ones: 9,000 passed the size check, then diffusion spent
    every redraw round (hours) on it, random 3 s to return 8,764 with a warning."""
    import nagen

    with pytest.raises(InvalidArgumentError, match="only 8,765 distinct ones .* cannot return 9,000; ask for at most 8,765"):
        nagen.generate(space="nb201", n=9000, method="random", unique=True, seed=0)
    assert len(nagen.generate(space="nb201", n=1200, method="random", unique=True, seed=0)) == 1200


def test_an_exhausted_space_says_so_without_a_question_mark(chain_space) -> None:
    from nagen.labellers import CallableLabeller
    from nagen.study import SpaceExhaustedError, Study

    sp = chain_space("chain_exhausted")
    st = Study(sp, "acc", CallableLabeller(len), proposer="random", storage="sqlite:///:memory:", executor="inline")
    with pytest.raises(SpaceExhaustedError, match=r"space 'chain_exhausted' is exhausted: all 27 of its distinct architectures are among them"):
        st.optimize(40)
    assert len(st.trials) == 27
