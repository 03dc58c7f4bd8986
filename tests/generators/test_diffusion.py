"""Diffusion generator: learns toward its data, guidance works, seeded, valid DAGs, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.generators as G
import nagen.predictors as P
from nagen.errors import (
    InvalidArgumentError,
    InvalidGuidanceError,
    InvalidTrainingDataError,
    NagenError,
    NotDifferentiableError,
    NotFittedError,
    UnknownGeneratorError,
)
from nagen.generators.diffusion import DiffusionGenerator, op_frequencies
from nagen.generators.guidance import Guide
from nagen.noise import VPSchedule


@pytest.fixture(scope="module")
def conv_heavy(nb201):
    """A tiny model trained only on cells whose ops are convolutions (not the space's mix)."""
    archs = [a for a in nb201.archs if all(op in ("nor_conv_3x3", "nor_conv_1x1") for op in a.ops[1:-1])]
    assert len(archs) == 64
    return DiffusionGenerator("nb201", hidden=32, layers=2, seed=0).fit(archs, steps=400, batch_size=64)


def test_training_shifts_samples_toward_the_data(conv_heavy, nb201) -> None:
    samples = conv_heavy.sample(200, seed=1, steps=40)
    assert len(samples) == 200 and conv_heavy.last_stats.validity == 1.0
    freq = op_frequencies(conv_heavy.space, samples)
    ops = list(conv_heavy.space.ops)
    conv_share = freq[ops.index("nor_conv_3x3")] + freq[ops.index("nor_conv_1x1")]
    assert conv_share > 0.8  # the space's own share is 0.4
    assert conv_heavy.loss_history[-1] < conv_heavy.loss_history[0]


def test_same_seed_same_output(conv_heavy) -> None:
    a = conv_heavy.sample(30, seed=3, steps=20)
    b = conv_heavy.sample(30, seed=3, steps=20)
    c = conv_heavy.sample(30, seed=4, steps=20)
    assert a == b and a != c


def test_guidance_raises_the_guided_value(nb201) -> None:
    gen = DiffusionGenerator("nb201", hidden=32, layers=2, seed=0).fit(nb201.archs[:3000], steps=300, batch_size=128)
    labelled = nb201.archs[5000:5100]
    y = nb201.query_many(labelled, "cifar10_valid_12ep")
    pred = P.get("gnn", "nb201", epochs=60, hidden=32, noise=VPSchedule(), seed=0).fit(labelled, y)
    plain = gen.sample(150, seed=5, steps=40)
    guided = gen.sample(150, seed=5, steps=40, guides=[Guide(pred, weight=5.0)])
    assert pred.predict(guided).mean.mean() > pred.predict(plain).mean.mean() + 1.0
    assert nb201.query_many(guided, "cifar10_valid_12ep").mean() > nb201.query_many(plain, "cifar10_valid_12ep").mean()


def test_hard_cost_constraint_is_respected(conv_heavy) -> None:
    cost = P.get("exact_cost", "nb201", metric="params", surrogate_samples=64)
    budget = 600_000.0
    out = conv_heavy.sample(40, seed=2, steps=20, guides=[Guide(cost, 1.0, "le", budget, hard=True, name="params")])
    assert out and all(conv_heavy.space.cost(a)["params"] <= budget for a in out)


@pytest.mark.parametrize("space_name", ["nb101", "custom"])
def test_variable_topology_samples_are_valid_dags(space_name) -> None:
    import nagen.spaces

    space = nagen.spaces.get("nb101") if space_name == "nb101" else nagen.spaces.from_spec(
        {"name": "gen_var", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 5, "topology": "variable", "max_edges": 6}
    )
    gen = DiffusionGenerator(space, hidden=32, layers=2, seed=0).fit(space.sample(500, 0), steps=300, batch_size=64)
    out = gen.sample(50, seed=0, steps=30)
    st = gen.last_stats
    assert len(out) == 50 and all(space.is_valid(a) for a in out)
    assert all(i < j for a in out for i, j in a.edges)
    assert st.drawn >= len(out) + st.invalid
    if st.invalid:  # every rejection is explained
        assert sum(st.reasons.values()) == st.invalid and all(st.reasons)


def test_save_load_round_trip(conv_heavy, tmp_path) -> None:
    p = conv_heavy.save(tmp_path / "m.pt")
    loaded = DiffusionGenerator.load(p)
    assert loaded.sample(10, seed=9, steps=10) == conv_heavy.sample(10, seed=9, steps=10)
    with pytest.raises(NagenError, match="no diffusion checkpoint"):
        DiffusionGenerator.load(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):
        DiffusionGenerator.load(tmp_path / "junk.pt")


def test_bad_guidance_specs(conv_heavy, split) -> None:
    train, ytr, _, _ = split
    pred = P.get("gnn", "nb201", epochs=2, hidden=8).fit(train, ytr)
    with pytest.raises(InvalidGuidanceError, match="weight"):
        Guide(pred, weight=-1.0)
    with pytest.raises(InvalidGuidanceError, match="target"):
        Guide(pred, target="above")  # type: ignore[arg-type]
    with pytest.raises(InvalidGuidanceError, match="threshold"):
        Guide(pred, target="ge")
    other = P.get("gnn", "nb101", epochs=1, hidden=8)
    nb101 = other.space.sample(4, 0)
    other.fit(nb101, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InvalidGuidanceError, match="space 'nb101'"):
        conv_heavy.sample(5, guides=[Guide(other)])
    with pytest.raises(InvalidGuidanceError, match="does not support guidance"):
        G.get("random", "nb201").sample(5, guides=[Guide(pred)])
    with pytest.raises(UnknownGeneratorError):
        G.get("difusion", "nb201")
    untrained = DiffusionGenerator("nb201", hidden=8, layers=1)
    with pytest.raises(NagenError, match="not trained"):
        untrained.sample(3)


def test_non_differentiable_predictor_cannot_guide() -> None:
    class Flat(P.Predictor):
        def _fit(self, archs, y):
            pass

        def _predict(self, archs):
            return P.Prediction(np.zeros(len(archs)))

    flat = Flat("nb201")
    with pytest.raises(InvalidGuidanceError, match="differentiable"):
        Guide(flat)
    flat.fit(flat.space.sample(3, 0), [1.0, 2.0, 3.0])
    with pytest.raises(NotDifferentiableError):
        flat.score(*flat.space.encode(flat.space.sample(2, 0)))
    assert torch.is_tensor(flat.space.encode(flat.space.sample(1, 0))[0])




@pytest.mark.parametrize("steps", [1, 10, 19])
def test_short_fits_train(steps) -> None:
    """Short fits (tests, smoke runs) must not trip the one-cycle schedule (10 steps once divided by zero)."""
    gen = DiffusionGenerator("nb201", hidden=8, layers=1).fit(steps=steps, batch_size=8)
    assert len(gen.sample(2, seed=0)) == 2
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        DiffusionGenerator("nb201", hidden=8, layers=1).fit(steps=0)


def test_same_seed_same_initial_weights_and_fit() -> None:
    a = DiffusionGenerator("nb101", hidden=8, layers=1, seed=3)
    import torch

    torch.manual_seed(123)  # the caller's global RNG state must not matter ...
    b = DiffusionGenerator("nb101", hidden=8, layers=1, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters()))
    archs = a.space.sample(32, 0)
    a.fit(archs, steps=5, batch_size=8)
    b.fit(archs, steps=5, batch_size=8)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters()))
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        DiffusionGenerator("nb201", hidden=0)


NB201_CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
]


@pytest.fixture(scope="module")
def tiny():
    """A barely trained model: enough to exercise argument checks and persistence."""
    return DiffusionGenerator("nb201", hidden=8, layers=1, seed=0).fit(NB201_CELLS, steps=2, batch_size=4)


def test_fit_arguments_and_data_are_checked() -> None:
    gen = DiffusionGenerator("nb201", hidden=8, layers=1)
    for lr in (-1.0, 0.0, float("nan"), "1e-3", True):
        with pytest.raises(InvalidArgumentError, match="lr must be a finite number > 0"):
            gen.fit(NB201_CELLS, steps=1, lr=lr)  # once torch's bare ValueError, or a TypeError
    with pytest.raises(InvalidArgumentError, match="max_archs"):
        gen.fit(steps=1, max_archs=0)
    with pytest.raises(InvalidTrainingDataError, match="at least 2 architectures, got 1"):
        gen.fit(NB201_CELLS[:1], steps=1)
    with pytest.raises(InvalidTrainingDataError, match="got one str"):
        gen.fit(NB201_CELLS[0], steps=1)  # not iterated character by character
    for bad in (5, 2.5, object()):  # once a bare TypeError from iterating them
        with pytest.raises(InvalidTrainingDataError, match="archs must be a sequence of architectures"):
            gen.fit(bad, steps=1)
    assert gen.trained_on == 0


def test_fit_leaves_the_global_torch_rng_alone() -> None:
    gen = DiffusionGenerator("nb201", hidden=8, layers=1, seed=0)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    gen.fit(NB201_CELLS, steps=2, batch_size=4)
    assert torch.equal(before, torch.random.get_rng_state())


def test_sampling_arguments_are_checked(tiny) -> None:
    with pytest.raises(NotFittedError, match="not trained"):
        DiffusionGenerator("nb201", hidden=8, layers=1).sample(2)
    for steps in (0, -1, 1.5):  # 0 and -1 once decoded the initial noise as samples
        with pytest.raises(InvalidArgumentError, match="steps must be a positive integer"):
            tiny.sample(2, steps=steps)
    with pytest.raises(InvalidArgumentError, match="corrector_steps"):
        tiny.sample(2, steps=2, corrector_steps=-1)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        tiny.sample(2, steps=2, batch_size=0)
    with pytest.raises(InvalidArgumentError, match="unknown sampling options"):
        tiny.sample(2, stepz=2)
    with pytest.raises(InvalidArgumentError, match="snr"):
        tiny.sample_state(2, steps=2, corrector_steps=1, snr=-1.0, sampler="em")
    with pytest.raises(InvalidArgumentError, match="n must be"):
        tiny.sample_state(-1)
    with pytest.raises(InvalidArgumentError, match="schedule"):
        DiffusionGenerator("nb201", hidden=8, layers=1, schedule="vp")  # type: ignore[arg-type]


def test_large_seeds_sample(tiny) -> None:
    # seed * 100_003 once overflowed torch's 64-bit manual_seed
    big = 2**62
    out = tiny.sample(3, seed=big, steps=2)
    assert len(out) == 3 and out == tiny.sample(3, seed=big, steps=2)
    assert DiffusionGenerator("nb201", hidden=8, layers=1, seed=2**70).seed == 2**70


def test_save_and_load_errors_are_clear(tiny, tmp_path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        tiny.save(tmp_path / "missing" / "m.pt")
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        tiny.save(tmp_path)
    p = tiny.save(tmp_path / "m.pt")
    with pytest.raises(InvalidArgumentError, match="trained on space 'nb201', not 'nb101'"):
        DiffusionGenerator.load(p, "nb101")
    data = p.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for bad in ("cut.pt", "junk.pt"):
        with pytest.raises(InvalidArgumentError, match="not a readable nagen diffusion checkpoint"):
            DiffusionGenerator.load(tmp_path / bad)
    torch.save({"format": 1, "space": "nb201"}, tmp_path / "partial.pt")
    with pytest.raises(InvalidArgumentError, match="incomplete"):
        DiffusionGenerator.load(tmp_path / "partial.pt")
    with pytest.raises(InvalidArgumentError, match="a folder"):
        DiffusionGenerator.load(tmp_path)
    with pytest.raises(InvalidArgumentError, match="no shipped diffusion checkpoint"):
        DiffusionGenerator.pretrained("nope")


def test_clean_guides_see_the_denoised_adjacency_noise_aware_the_noisy_one() -> None:
    """nb101 diffuses A: a clean predictor is scored on Tweedie's A0 estimate in [0, 1] on the
    strict upper triangle (it once got the raw Gaussian A_t), a noise-aware one on ``(A_t, t)``."""
    import nagen.spaces

    space = nagen.spaces.get("nb101")
    archs = space.sample(32, 0)
    gen = DiffusionGenerator(space, hidden=8, layers=1, heads=2, seed=5).fit(archs, steps=3, batch_size=8)
    clean = P.get("gnn", space, epochs=1, hidden=8, layers=1).fit(archs, np.arange(32.0))
    aware = P.get("gnn", space, epochs=1, hidden=8, layers=1, noise=VPSchedule()).fit(archs, np.arange(32.0))
    seen: dict[str, list] = {"clean": [], "aware": []}
    for name, pred in (("clean", clean), ("aware", aware)):
        orig = pred._score

        def spy(X, A, t, _orig=orig, _log=seen[name]):
            _log.append((A.detach().clone(), t))
            return _orig(X, A, t)

        pred._score = spy
    gen.sample(3, steps=4, corrector_steps=1, guides=[Guide(clean), Guide(aware)])
    assert len(seen["clean"]) >= 4 and len(seen["aware"]) >= 4
    lower = torch.tril(torch.ones(space.max_nodes, space.max_nodes)).bool()
    for A, t in seen["clean"]:
        assert t is None
        assert float(A.min()) >= 0.0 and float(A.max()) <= 1.0
        assert not A[:, lower].any()
    # noise-aware inputs are unchanged: the noisy state itself, with its time
    assert all(t is not None for _, t in seen["aware"])
    first = seen["aware"][0][0]
    assert float(first.min()) < 0.0 or float(first.max()) > 1.0


def test_checkpoint_refuses_a_same_named_space_with_other_ops_or_nodes(tmp_path) -> None:
    """A custom space re-declared under the same name with its operations reordered would load
    the weights silently (same shapes) and sample the wrong ops; the checkpoint names its vocabulary."""
    import nagen.spaces

    spec = {"name": "ckpt_ops", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 4, "topology": "variable", "max_edges": 5}
    space = nagen.spaces.from_spec(spec)
    gen = DiffusionGenerator(space, hidden=8, layers=1, heads=2, seed=0).fit(space.sample(16, 0), steps=2, batch_size=8)
    p = gen.save(tmp_path / "m.pt")
    assert DiffusionGenerator.load(p, space).sample(4, seed=1, steps=3) == gen.sample(4, seed=1, steps=3)
    reordered = nagen.spaces.from_spec({**spec, "ops": ["conv1x1", "conv3x3", "maxpool3x3"]})
    with pytest.raises(InvalidArgumentError, match=r"operations \['input', 'conv3x3', 'conv1x1'"):
        DiffusionGenerator.load(p, reordered)
    bigger = nagen.spaces.from_spec({**spec, "num_nodes": 5})
    with pytest.raises(InvalidArgumentError, match="nodes|does not fit"):
        DiffusionGenerator.load(p, bigger)
    rewired = nagen.spaces.from_spec({**spec, "max_edges": 4})  # same name, ops and nodes, other limits
    with pytest.raises(InvalidArgumentError, match=r"wired differently \(max_edges 5 there, 4 here\)"):
        DiffusionGenerator.load(p, rewired)


def test_checkpoint_refuses_a_same_named_fixed_space_with_other_edges(tmp_path) -> None:
    import nagen.spaces

    spec = {"name": "ckpt_edges", "ops": ["conv3x3", "skip", "zero"], "num_nodes": 5, "topology": "fixed",
            "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]}
    space = nagen.spaces.from_spec(spec)
    p = DiffusionGenerator(space, hidden=8, layers=1, heads=2, seed=0).fit(space.sample(8, 0), steps=2, batch_size=8).save(tmp_path / "m.pt")
    DiffusionGenerator.load(p, nagen.spaces.from_spec(dict(spec)))  # the same wiring loads
    chain = nagen.spaces.from_spec({**spec, "edges": [[0, 1], [1, 2], [2, 3], [3, 4]]})
    with pytest.raises(InvalidArgumentError, match="wired differently.*edges"):
        DiffusionGenerator.load(p, chain)


def test_rejection_reasons_hide_architecture_strings_but_keep_the_rule() -> None:
    from nagen.generators.diffusion import _QUOTED

    rule = "block 3 is 'mb_k3_e3'; a stage of depth d uses its first d slots, so 'skip' may only be followed by 'skip'"
    assert _QUOTED.sub("'...'", rule) == rule  # the sentence between two op names holds a ';': nothing is cut
    assert _QUOTED.sub("'...'", "cell 'input;conv3x3<0;output<1' has no path") == "cell '...' has no path"


@pytest.mark.parametrize("noise_aware", [True, False])
def test_guidance_steers_a_diffused_adjacency(noise_aware) -> None:
    """Guidance added its gradient to the ops' score only: a guide on the wiring of a variable-topology
    space (nb101, a user's DAG space) left every sample unchanged."""

    class Edges(P.Predictor):
        differentiable = True

        def __init__(self, space) -> None:
            super().__init__(space)
            self.noise = VPSchedule() if noise_aware else None
            self._fitted = True

        def _fit(self, archs, y):
            pass

        def _predict(self, archs):
            return P.Prediction(self._score(*self.space.encode(archs), None).numpy())

        def _score(self, X, A, t):
            return torch.triu(A, 1).sum((1, 2))

    gen = DiffusionGenerator("nb101", hidden=8, layers=1, seed=0).fit(steps=30, batch_size=32)
    edges = {}
    for target in ("max", "min"):
        _, A = gen.sample_state(64, seed=1, guides=[Guide(Edges(gen.space), 1.0, target)], steps=20)
        edges[target] = float((A > 0.5).float().sum((1, 2)).mean())
    _, A0 = gen.sample_state(64, seed=1, steps=20)
    plain = float((A0 > 0.5).float().sum((1, 2)).mean())
    assert edges["min"] < plain < edges["max"]


def test_a_guide_trained_on_another_noise_schedule_is_refused_and_generate_matches_them(nb201) -> None:
    # a mismatched schedule was accepted and guided about 3x too weakly; generate always used the default one
    import nagen

    slow = VPSchedule(0.1, 5.0)
    gen = DiffusionGenerator("nb201", hidden=8, layers=1, seed=0, schedule=slow).fit(steps=5, batch_size=8)
    archs = nb201.archs[:30]
    pred = P.get("gnn", "nb201", noise=VPSchedule(), epochs=2, hidden=8).fit(archs, nb201.query_many(archs, "cifar10_valid_12ep"))
    with pytest.raises(InvalidGuidanceError, match="trained on noise"):
        gen.sample(2, guides=[Guide(pred)])
    out = nagen.generate(n=2, generator=gen, guide="cifar10_valid_12ep", guide_labels=10, steps=3)
    assert len(out) == 2
