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
