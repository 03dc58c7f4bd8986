"""VP noise schedule: marginals and perturbation statistics."""

from __future__ import annotations

import pytest
import torch

from nagen.noise import VPSchedule


def test_marginals() -> None:
    s = VPSchedule()
    a0, s0 = s.alpha_sigma(torch.tensor(0.0))
    a1, s1 = s.alpha_sigma(torch.tensor(1.0))
    assert a0.item() == pytest.approx(1.0) and s0.item() < 1e-5
    assert a1.item() < 0.01 and s1.item() == pytest.approx(1.0, abs=1e-4)
    t = torch.linspace(0, 1, 11)
    a, sg = s.alpha_sigma(t)
    assert torch.allclose(a**2 + sg**2, torch.ones(11), atol=1e-5)


def test_perturb_statistics_and_seed() -> None:
    s = VPSchedule()
    x0 = torch.ones(20000, 3)
    t = torch.full((20000,), 0.5)
    g = torch.Generator().manual_seed(0)
    xt, noise = s.perturb(x0, t, g)
    a, sg = s.alpha_sigma(torch.tensor(0.5))
    assert xt.mean().item() == pytest.approx(a.item(), abs=0.02)
    assert xt.std().item() == pytest.approx(sg.item(), abs=0.02)
    xt2, _ = s.perturb(x0, t, torch.Generator().manual_seed(0))
    assert torch.equal(xt, xt2)
    ts = s.sample_t(1000, g)
    assert ts.min() >= s.eps and ts.max() <= 1


def test_bad_schedule() -> None:
    with pytest.raises(ValueError):
        VPSchedule(beta_min=5, beta_max=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta_max=float("inf")), "beta_max must be a finite number"),
        (dict(beta_min=float("nan")), "beta_min must be a finite number"),
        (dict(beta_min="0.1"), "beta_min must be a finite number"),
        (dict(beta_min=None), "beta_min"),
        (dict(eps=float("nan")), "eps"),
        (dict(beta_min=2.0, beta_max=2.0), "beta_min < beta_max"),
    ],
)
def test_bad_schedule_parameters_raise_named_errors(kwargs, match) -> None:
    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=match):
        VPSchedule(**kwargs)


def test_times_outside_the_unit_interval_and_bad_shapes() -> None:
    from nagen.errors import InvalidArgumentError

    s = VPSchedule()
    for t in (torch.tensor(1.5), torch.tensor([0.5, -0.1]), torch.tensor(float("nan"))):
        with pytest.raises(InvalidArgumentError, match=r"t must be in \[0, 1\]"):
            s.alpha_sigma(t)
    with pytest.raises(InvalidArgumentError, match=r"t must be in \[0, 1\]"):
        s.beta(torch.tensor(2.0))
    with pytest.raises(InvalidArgumentError, match="one time per sample"):
        s.perturb(torch.ones(4, 3), torch.rand(5))
    with pytest.raises(InvalidArgumentError, match="floating-point"):
        s.perturb(torch.ones(4, 3, dtype=torch.long), torch.rand(4))
    with pytest.raises(InvalidArgumentError, match="n must be a non-negative integer"):
        s.sample_t(-1)
    a, sg = s.alpha_sigma(0.5)  # a plain float is a time too
    assert torch.allclose(a, s.alpha_sigma(torch.tensor(0.5))[0])


# ---------------------------------------------------------------------- nagen.profile
def test_profile_counts_unusual_layers() -> None:
    from torch import nn

    from nagen.profile import count_cost, count_flops, count_params

    assert count_cost(nn.Identity(), (3, 4, 4)) == {"params": 0, "flops": 0}
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)  # depthwise: 9 per channel per position
    assert count_flops(dw, (8, 4, 4)) == 9 * 8 * 16
    # other convolutions were silently free
    assert count_flops(nn.Conv1d(3, 4, 3, bias=False), (3, 10)) == 3 * 3 * 4 * 8
    assert count_flops(nn.Conv3d(2, 4, 3, bias=False), (2, 4, 4, 4)) == 27 * 2 * 4 * 8
    assert count_flops(nn.ConvTranspose2d(3, 4, 3, bias=False), (3, 5, 5)) == 9 * 3 * 4 * 25
    # a linear layer on a sequence counts once per token (was once in all)
    assert count_flops(nn.Linear(10, 5), (7, 10)) == 7 * 55 and count_flops(nn.Linear(10, 5), (10,)) == 55
    assert count_flops(nn.Linear(3, 3).double(), (3,)) == 12  # the input follows the network's dtype
    assert count_cost(nn.LazyLinear(3), (4,)) == {"params": 15, "flops": 15}
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    net[1].eval()  # frozen statistics: must stay frozen after counting
    count_flops(net, (3, 8, 8))
    assert net.training and not net[1].training
    assert count_params(nn.Linear(4, 4)) == 20


@pytest.mark.parametrize("shape", [(3, -1, 8), (3, 0, 8), (3, 8.0, 8), 3, "3,8,8"])
def test_profile_rejects_bad_input_shapes(shape) -> None:
    from torch import nn

    from nagen.errors import InvalidArgumentError
    from nagen.profile import count_flops

    with pytest.raises(InvalidArgumentError, match="input_shape"):
        count_flops(nn.Conv2d(3, 4, 3), shape)


def test_profile_names_what_cannot_run() -> None:
    from torch import nn

    from nagen.errors import InvalidArgumentError
    from nagen.profile import count_flops, count_params

    with pytest.raises(InvalidArgumentError, match=r"cannot run Conv2d on one input of shape \(5, 8, 8\)"):
        count_flops(nn.Conv2d(3, 4, 3), (5, 8, 8))
    with pytest.raises(InvalidArgumentError, match="torch.nn.Module"):
        count_params(5)
    with pytest.raises(InvalidArgumentError, match="lazy"):
        count_params(nn.LazyLinear(3))
