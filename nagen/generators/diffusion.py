"""Score-based graph diffusion over architecture DAGs, with predictor guidance (DiffusionNAG-style).

An, Lee, Kim, Hwang, "DiffusionNAG: Predictor-guided Neural Architecture Generation with
Diffusion Models", ICLR 2024; Song et al., "Score-Based Generative Modeling through SDEs",
ICLR 2021.

* **State.** The node-op matrix ``X`` (``N x V`` one-hots, the space's ``encode``) and, for
  variable-topology spaces, the strictly upper-triangular part of ``A``; fixed-topology spaces
  keep their one DAG. Only upper-triangular entries are ever diffused, so every sample is a DAG
  in node order by construction.
* **Noise.** The VP SDE of ``nagen.noise.VPSchedule`` (shared with noise-aware predictors).
* **Score network.** A transformer over nodes with learned positional encodings of the
  topological order, a time embedding, and attention biased per head by the (current)
  adjacency in both directions, so messages follow the DAG; it predicts the noise
  (``score = -eps / sigma``). A bilinear head predicts the adjacency noise.
* **Sampling.** Euler-Maruyama on the reverse SDE, optionally followed at each step by a
  Langevin corrector (predictor-corrector). Guidance adds ``sum_i w_i grad log p_i(y | x_t)``
  of each ``Guide`` to the score; noise-aware predictors see ``(X_t, A_t, t)``, others the
  denoised estimate (Tweedie): per-node op probabilities from ``X0_hat`` and, in
  variable-topology spaces, ``A0_hat`` clamped to [0, 1] on the strict upper triangle.
* **Decoding.** Masked argmax: row 0 is the input, row ``N-1`` the output, middle rows take
  their best op choice; the space then validates, and every rejected sample's reason is
  counted in ``last_stats.reasons``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import nn

from nagen.errors import (
    InvalidArchitectureError,
    InvalidArgumentError,
    InvalidGuidanceError,
    InvalidTrainingDataError,
    NagenError,
    NotFittedError,
    check_int,
    check_real,
)
from nagen.generators import register
from nagen.generators.base import Generator, arch_list, torch_seed
from nagen.generators.guidance import Guide
from nagen.graph import ZERO_OPS, ArchGraph
from nagen.noise import VPSchedule
from nagen._threads import single_threaded

__all__ = ["DiffusionGenerator", "ScoreNetwork"]

_FORMAT_VERSION = 1
# architecture strings inside error messages (they hold no blank, so the match cannot run from the
# closing quote of one op name to the opening quote of the next across a sentence holding a ';')
_QUOTED = re.compile(r"'[^'\s]*[;|<][^'\s]*'")


def _sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """``batch`` times in [0, 1] -> ``batch x dim`` sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=t.dtype) * (-math.log(10000.0) / max(half - 1, 1)))
    ang = (1000.0 * t)[:, None] * freqs[None]
    return torch.cat([ang.sin(), ang.cos()], dim=-1)


class _Block(nn.Module):
    """Pre-norm transformer block whose attention logits get a per-head DAG bias."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        # bias per head for: edge i->j, edge j->i, self
        self.struct = nn.Parameter(torch.zeros(3, heads))
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))
        self.time = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, A: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = h + self.time(temb)[:, None]
        q, k, v = rearrange(self.qkv(self.norm1(h)), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        eye = torch.eye(A.shape[-1], dtype=A.dtype)
        bias = (
            self.struct[0][None, :, None, None] * A[:, None]
            + self.struct[1][None, :, None, None] * A.transpose(1, 2)[:, None]
            + self.struct[2][None, :, None, None] * eye[None, None]
        )
        att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        h = h + self.proj(rearrange(att, "b h n d -> b n (h d)"))
        return h + self.mlp(self.norm2(h))


class ScoreNetwork(nn.Module):
    """Noise predictor for ``(X_t, A_t, t)``.

    Args:
        num_nodes: ``N``. num_ops: ``V``. hidden, layers, heads: transformer size.
        diffuse_adjacency: also predict the adjacency noise (variable-topology spaces).

    Shapes:
        X: ``batch x N x V``; A: ``batch x N x N``; t: ``batch`` ->
        eps_X ``batch x N x V`` and eps_A ``batch x N x N`` (zeros below the diagonal) or None.
    """

    def __init__(self, num_nodes: int, num_ops: int, hidden: int = 64, layers: int = 3, heads: int = 4, diffuse_adjacency: bool = False) -> None:
        super().__init__()
        for key, value in (("hidden", hidden), ("layers", layers), ("heads", heads)):
            check_int(value, key, 1)
        if hidden % heads:
            raise InvalidArgumentError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.hidden = hidden
        self.inp = nn.Linear(num_ops, hidden)
        self.pos = nn.Parameter(torch.randn(num_nodes, hidden) * 0.1)
        self.temb = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList([_Block(hidden, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(hidden)
        self.out_x = nn.Linear(hidden, num_ops)
        self.diffuse_adjacency = diffuse_adjacency
        if diffuse_adjacency:
            self.edge_src = nn.Linear(hidden, hidden)
            self.edge_dst = nn.Linear(hidden, hidden)
            self.edge_in = nn.Parameter(torch.zeros(1))  # lets eps_A depend on the noisy entry itself
        self.register_buffer("upper", torch.triu(torch.ones(num_nodes, num_nodes), 1), persistent=False)

    def forward(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The predicted noise ``(eps_X, eps_A or None)`` of ``(X_t, A_t)`` at times ``t`` (shapes above)."""
        temb = self.temb(_sinusoidal(t, self.hidden))
        h = self.inp(X) + self.pos[None]
        for blk in self.blocks:
            h = blk(h, A, temb)
        h = self.norm(h)
        eps_x = self.out_x(h)
        if not self.diffuse_adjacency:
            return eps_x, None
        eps_a = torch.einsum("bid,bjd->bij", self.edge_src(h), self.edge_dst(h)) / math.sqrt(self.hidden)
        eps_a = (eps_a + self.edge_in * A) * self.upper
        return eps_x, eps_a


def _structure(space: Any) -> dict[str, Any]:
    """The wiring of a spec space (topology kind, fixed edges, node and edge limits) that a
    checkpoint's weights assume; ``{}`` for a class-based space (its name fixes its wiring)."""
    from nagen.spaces.custom import WIRING_KEYS

    spec = getattr(space, "spec", None)
    if not isinstance(spec, Mapping):
        return {}
    return {k: [list(e) for e in spec[k]] if k == "edges" else spec[k] for k in WIRING_KEYS if spec.get(k) is not None}


@register("diffusion")
class DiffusionGenerator(Generator):
    """Graph diffusion generator with classifier guidance.

    Args:
        space: the search space.
        hidden, layers, heads: score-network size.
        schedule: the VP noise schedule (share it with noise-aware predictors).
        seed: default seed of fitting and sampling.
    """

    supports_guidance = True

    def __init__(
        self,
        space: Any,
        *,
        hidden: int = 64,
        layers: int = 3,
        heads: int = 4,
        schedule: VPSchedule | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        if schedule is not None and not isinstance(schedule, VPSchedule):
            raise InvalidArgumentError(f"schedule must be a nagen.noise.VPSchedule or None, got {type(schedule).__name__}")
        self.config = {"hidden": hidden, "layers": layers, "heads": heads}
        self.schedule = schedule or VPSchedule()
        self.diffuse_adjacency = not self.space.fixed_topology
        with torch.random.fork_rng(devices=[]):  # the seed fixes the initial weights, without touching the caller's RNG
            torch.manual_seed(torch_seed(self.seed))
            self.net = ScoreNetwork(self.space.max_nodes, len(self.space.vocab), hidden, layers, heads, self.diffuse_adjacency)
        self.fixed_A: torch.Tensor | None = None
        if self.space.fixed_topology:
            self.fixed_A = self.space.encode(self.space.sample(1, 0))[1][0]
        self.trained_on: int = 0
        self.loss_history: list[float] = []
        self._op_mask = self._make_op_mask()
        self._zero_op_idx = [k for k, op in enumerate(self.space.vocab) if op in ZERO_OPS]

    # ------------------------------------------------------------------ training
    def _make_op_mask(self) -> torch.Tensor:
        """``N x V`` additive mask: row 0 must be 'input', row N-1 'output', others an op."""
        n, v = self.space.max_nodes, len(self.space.vocab)
        mask = torch.full((n, v), -1e9)
        mask[1:-1, 1:-1] = 0.0
        mask[0, 0] = 0.0
        mask[-1, -1] = 0.0
        return mask

    @single_threaded
    def fit(
        self,
        archs: Sequence[ArchGraph | str] | None = None,
        *,
        steps: int = 3000,
        batch_size: int = 256,
        lr: float = 2e-3,
        max_archs: int = 50_000,
        progress: bool = False,
    ) -> DiffusionGenerator:
        """Train the score network by denoising score matching on ``archs``.

        Args:
            archs: training architectures; default: the whole space when enumerable, else
                ``max_archs`` uniform samples.
            steps: optimiser steps. batch_size: minibatch size. lr: AdamW learning rate.
            max_archs: most architectures drawn when ``archs`` is None.
            progress: show a tqdm bar with the running loss.

        Raises:
            InvalidArgumentError: ``steps``, ``batch_size``, ``max_archs`` or ``lr`` out of range.
            InvalidTrainingDataError: ``archs`` is not a sequence of at least 2 architectures.
            InvalidArchitectureError: an architecture is not a member of the space.
        """
        for label, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1), ("max_archs", max_archs, 2)):
            check_int(value, label, low)
        lr = check_real(lr, "lr", 0.0, low_open=True)
        if isinstance(archs, (str, ArchGraph)):  # a lone architecture would be iterated character by character
            raise InvalidTrainingDataError(f"archs must be a sequence of architectures, got one {type(archs).__name__}")
        if archs is None:
            size = self.space.size
            archs = list(self.space.enumerate()) if size is not None and size <= max_archs else self.space.sample(max_archs, self.seed)
        archs = [self.space.validate(a) for a in arch_list(archs, self.space, InvalidTrainingDataError)]
        if len(archs) < 2:
            raise InvalidTrainingDataError(f"fit needs at least 2 architectures, got {len(archs)}")
        X0, A0 = self.space.encode(archs)
        # the seed fixes the minibatches and noise; fork so the caller's global torch RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed(self.seed))
            self._train(archs, X0, A0, steps, batch_size, lr, progress)
        return self

    def _train(
        self, archs: list[ArchGraph], X0: torch.Tensor, A0: torch.Tensor, steps: int, batch_size: int, lr: float, progress: bool
    ) -> None:
        gen = torch.Generator().manual_seed(torch_seed(self.seed))
        self.net.train()
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=1e-4)
        if steps >= 20:
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
        else:  # one-cycle needs >= 2 warm-up steps (10 steps x 0.1 divides by zero); short fits keep lr
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"fit diffusion on {len(archs):,} archs", leave=False)
        self.loss_history = []
        running = None
        for _ in range(steps):
            idx = torch.randint(len(archs), (batch_size,), generator=gen)
            x0, a0 = X0[idx], A0[idx]
            t = self.schedule.sample_t(batch_size, gen)
            xt, ex = self.schedule.perturb(x0, t, gen)
            if self.diffuse_adjacency:
                at, ea = self.schedule.perturb(a0, t, gen)
                upper = self.net.upper
                at, ea = at * upper, ea * upper
            else:
                at, ea = a0, None
            px, pa = self.net(xt, at, t)
            loss = ((px - ex) ** 2).mean()
            if ea is not None and pa is not None:
                n = self.space.max_nodes
                loss = loss + ((pa - ea) ** 2).sum(dim=(1, 2)).mean() / (n * (n - 1) / 2)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
            opt.step()
            sched.step()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            self.loss_history.append(loss.item())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
        if bar is not None:
            bar.close()
        self.net.eval()
        self.trained_on = len(archs)

    # ------------------------------------------------------------------ sampling
    def _guidance_grad(
        self,
        guides: Sequence[Guide],
        x: torch.Tensor,
        a: torch.Tensor,
        t: torch.Tensor,
        eps_x: torch.Tensor,
        eps_a: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(sum_i w_i d log p_i / d x_t, ... / d a_t)``: ``batch x N x V`` and, when the adjacency is
        diffused (``eps_a`` given), ``batch x N x N`` (upper triangle), else None.

        Noise-aware predictors score ``(x, a, t)``; clean ones the Tweedie estimates of ``X0``
        (as op probabilities) and, when ``eps_a`` is given, of ``A0``. Classifier guidance adds
        the gradient to the score of every diffused variable: without the adjacency term a guide
        on the wiring (edges, depth, a cost of the connections) could not steer an nb101 sample.
        """
        alpha, sigma = self.schedule.alpha_sigma(t)
        a_view, s_view = alpha.view(-1, 1, 1), sigma.view(-1, 1, 1)
        diffused = eps_a is not None
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            ag = a.detach().requires_grad_(diffused)
            a_clean = ag
            if diffused:
                assert eps_a is not None
                # a clean predictor was trained on 0/1 upper-triangular adjacencies; A_t is Gaussian
                # noise early on, so it sees Tweedie's A0 estimate, clamped into its training range;
                # straight through (no 1/alpha, no clamp in the gradient), as for the ops below
                a0 = ((ag - s_view * eps_a.detach()) / a_view).clamp(0.0, 1.0) * self.net.upper
                a_clean = a0.detach() + (ag - ag.detach()) * self.net.upper
            obj = torch.zeros(x.shape[0])
            for g in guides:
                if g.weight == 0:
                    continue
                if getattr(g.predictor, "noise", None) is not None:
                    obj = obj + g.weight * g.log_density(xg, ag, t)
                else:
                    # clean predictors see Tweedie's denoised estimate (eps held fixed: cheap DPS),
                    # mapped to per-node op probabilities: early in the reverse process x0_hat is
                    # far off the one-hot simplex (it is divided by a tiny alpha), where a clean
                    # predictor's value and gradient mean nothing and would swamp the other terms
                    # the gradient is taken w.r.t. x0 (straight through, no 1/alpha factor):
                    # d x0_hat / d x_t = 1/alpha is ~150 at t = 1 and would make early steps
                    # jump to the guide's extreme regardless of its weight
                    x0_hat = ((xg - s_view * eps_x.detach()) / a_view).detach() + (xg - xg.detach())
                    x0_soft = torch.softmax((x0_hat + self._op_mask[None]) / _X0_TEMPERATURE, dim=-1)
                    obj = obj + g.weight * g.log_density(x0_soft, a_clean, None)
            if not obj.requires_grad:
                return torch.zeros_like(x), (torch.zeros_like(a) if diffused else None)
            inputs = (xg, ag) if diffused else (xg,)
            grads = torch.autograd.grad(obj.sum(), inputs, allow_unused=True)
        gx = grads[0] if grads[0] is not None else torch.zeros_like(x)
        if not diffused:
            return gx, None
        ga = grads[1] if grads[1] is not None else torch.zeros_like(a)
        return gx, ga * self.net.upper

    @torch.no_grad()
    @single_threaded
    def sample_state(
        self,
        n: int,
        *,
        seed: int = 0,
        guides: Sequence[Guide] = (),
        steps: int = 100,
        corrector_steps: int = 0,
        snr: float = 0.1,
        sampler: str = "em",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the reverse process; returns the final continuous ``(X, A)`` (``n x N x V``, ``n x N x N``).

        ``sampler="em"``: Euler-Maruyama on the reverse SDE (stochastic; optional Langevin
        corrector). ``sampler="ddim"``: the deterministic DDIM update (Song, Meng & Ermon, ICLR
        2021), accurate with far fewer steps; guidance then shifts the predicted noise by
        ``-sigma * grad log p(y | x_t)`` (Dhariwal & Nichol 2021, eq. 14). Fixed-topology
        spaces only for DDIM (the adjacency is not diffused there).

        Raises:
            InvalidArgumentError: ``n``, ``seed``, ``steps``, ``corrector_steps``, ``snr`` or
                ``sampler`` out of range.
        """
        n = check_int(n, "n")
        seed = check_int(seed, "seed")
        check_int(steps, "steps", 1)  # 0 steps would decode the initial noise as if it were a sample
        check_int(corrector_steps, "corrector_steps")
        check_real(snr, "snr", 0.0, low_open=True)
        if sampler not in ("em", "ddim"):
            raise InvalidArgumentError(f"sampler must be 'em' or 'ddim', got {sampler!r}")
        if sampler == "ddim" and self.diffuse_adjacency:
            raise InvalidArgumentError("sampler='ddim' is implemented for fixed-topology spaces; use 'em'")
        gen = torch.Generator().manual_seed(torch_seed(seed))
        N, V = self.space.max_nodes, len(self.space.vocab)
        x = torch.randn(n, N, V, generator=gen)
        if self.diffuse_adjacency:
            a = torch.randn(n, N, N, generator=gen) * self.net.upper
        else:
            assert self.fixed_A is not None
            a = self.fixed_A.expand(n, N, N)
        ts = torch.linspace(1.0, self.schedule.eps, steps + 1)
        if sampler == "ddim":
            return self._ddim(x, a, ts, guides), a
        for i in range(steps):
            t_now, dt = ts[i], ts[i] - ts[i + 1]
            t = t_now.expand(n)
            beta = self.schedule.beta(t_now)
            _, sigma = self.schedule.alpha_sigma(t_now)
            ex, ea = self.net(x, a, t)
            score_x = -ex / sigma
            guide_a = None
            if guides:
                gx, guide_a = self._guidance_grad(guides, x, a, t, ex, ea if self.diffuse_adjacency else None)
                score_x = score_x + gx
            last = i == steps - 1
            zx = torch.zeros_like(x) if last else torch.randn(x.shape, generator=gen)
            x = x + (0.5 * beta * x + beta * score_x) * dt + torch.sqrt(beta * dt) * zx
            if self.diffuse_adjacency:
                assert ea is not None
                score_a = -ea / sigma + (guide_a if guide_a is not None else 0.0)
                za = torch.zeros_like(a) if last else torch.randn(a.shape, generator=gen)
                a = (a + (0.5 * beta * a + beta * score_a) * dt + torch.sqrt(beta * dt) * za) * self.net.upper
            for _ in range(corrector_steps if not last else 0):
                # Langevin corrector (Song et al. 2021, Alg. 5) on X with the signal-to-noise step size
                t2 = ts[i + 1].expand(n)
                _, s2 = self.schedule.alpha_sigma(ts[i + 1])
                ex2, ea2 = self.net(x, a, t2)
                sc = -ex2 / s2
                if guides:
                    sc = sc + self._guidance_grad(guides, x, a, t2, ex2, ea2 if self.diffuse_adjacency else None)[0]
                z = torch.randn(x.shape, generator=gen)
                step = 2 * (snr * z.norm() / sc.norm().clamp_min(1e-12)) ** 2
                x = x + step * sc + torch.sqrt(2 * step) * z
        return x, a

    def _ddim(self, x: torch.Tensor, a: torch.Tensor, ts: torch.Tensor, guides: Sequence[Guide]) -> torch.Tensor:
        n = x.shape[0]
        for i in range(len(ts) - 1):
            t = ts[i].expand(n)
            alpha, sigma = self.schedule.alpha_sigma(ts[i])
            alpha_next, sigma_next = self.schedule.alpha_sigma(ts[i + 1])
            eps, _ = self.net(x, a, t)
            if guides:
                eps = eps - sigma * self._guidance_grad(guides, x, a, t, eps)[0]
            x0_hat = (x - sigma * eps) / alpha
            x = alpha_next * x0_hat + sigma_next * eps
        return x

    def decode_state(self, X: torch.Tensor, A: torch.Tensor) -> list[ArchGraph | InvalidArchitectureError]:
        """Masked-argmax decoding of continuous states, then the space's validation.

        In variable-topology spaces, nodes that cannot influence the output (no path from the
        input or to the output, or a zero op) are removed first, as ``ArchGraph.pruned`` does
        and as NAS-Bench-101 prunes its cells: the decoded function is unchanged. A sample with
        more edges than ``space.max_edges`` keeps its most confident edges (counted in
        ``last_stats.repaired``). The space then judges the remaining graph.
        """
        idx = (X + self._op_mask[None]).argmax(-1)
        hard_x = nn.functional.one_hot(idx, X.shape[-1]).float()
        upper = torch.triu(torch.ones_like(A[0]), 1)
        hard_a = (A > 0.5).float() * upper
        if self.diffuse_adjacency:
            limit = self.space.max_edges
            if limit is not None:
                # keep the sample's `limit` most confident edges: a rank threshold, not a new sample
                scores = torch.where(upper.bool(), A, torch.full_like(A, -torch.inf)).flatten(1)
                kth = scores.topk(min(limit, scores.shape[1]), dim=1).values[:, -1:]
                over = hard_a.flatten(1).sum(1) > limit
                self.last_stats.repaired += int(over.sum())
                capped = (scores >= kth).float().view_as(A) * hard_a
                hard_a = torch.where(over[:, None, None], capped, hard_a)
            hard_a = torch.from_numpy(_prune_dead(idx.numpy(), hard_a.numpy() > 0, self._zero_op_idx)).float()
        return self.space.try_decode(hard_x, hard_a)

    def _sample(
        self,
        n: int,
        seed: int,
        guides: Sequence[Guide],
        steps: int | None = None,
        corrector_steps: int = 0,
        batch_size: int = 1000,
        sampler: str | None = None,
        **options: Any,
    ) -> list[ArchGraph]:
        """``sample``'s work: ``n`` states in chunks of ``batch_size``, chunk ``k`` seeded by
        ``seed * 100003 + k`` (so the same seed and ``batch_size`` give the same samples; another
        ``batch_size`` draws other noise), decoded, failures counted in ``last_stats``."""
        if options:
            raise InvalidArgumentError(
                f"unknown sampling options {sorted(options)}; allowed: steps, corrector_steps, batch_size, sampler"
            )
        if self.trained_on == 0:
            raise NotFittedError("the diffusion generator is not trained; call fit() or load a checkpoint first")
        for g in guides:
            noise = getattr(g.predictor, "noise", None)
            if noise is not None and noise != self.schedule:
                # a noise-aware predictor reads x_t as noised by its own schedule: on another one its
                # gradient is silently wrong (3x weaker guidance measured for beta_max 5 vs 20)
                raise InvalidGuidanceError(
                    f"guide {g.name or type(g.predictor).__name__!r} was trained on noise {noise}, but this generator "
                    f"diffuses with {self.schedule}; fit the predictor with noise=generator.schedule"
                )
        check_int(batch_size, "batch_size", 1)
        if sampler is None:
            sampler = "em" if self.diffuse_adjacency else "ddim"
        if steps is None:
            # DDIM's deterministic update matches 50-step quality at 20 steps on NB201 (op-frequency
            # TV 0.017 vs 0.019, same uniqueness); the stochastic SDE needs many more
            steps = 20 if sampler == "ddim" else 100
        out: list[ArchGraph] = []
        for k, start in enumerate(range(0, n, batch_size)):
            m = min(batch_size, n - start)
            X, A = self.sample_state(
                m, seed=seed * 100_003 + k, guides=guides, steps=steps, corrector_steps=corrector_steps, sampler=sampler
            )
            self.last_stats.drawn += m
            for r in self.decode_state(X, A):
                if isinstance(r, ArchGraph):
                    out.append(r)
                else:
                    self.last_stats.invalid += 1
                    reason = _QUOTED.sub("'...'", str(r).split(": ", 1)[-1])
                    self.last_stats.reasons[reason] = self.last_stats.reasons.get(reason, 0) + 1
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the model (weights + constructor config, plain tensors and numbers) atomically.

        Raises:
            InvalidArgumentError: ``path`` is a folder, or its folder does not exist.
        """
        from nagen.storage import save_atomic

        p = Path(path)
        folder = p.parent if str(p.parent) else Path(".")
        if p.is_dir():
            raise InvalidArgumentError(f"cannot save the diffusion generator to {str(p)!r}: it is a folder; give a file path")
        if not folder.is_dir():
            # not created for the caller: a missing folder is more often a typo than a wish
            raise InvalidArgumentError(f"cannot save the diffusion generator to {str(p)!r}: folder {str(folder)!r} does not exist")
        blob = {
            "format": _FORMAT_VERSION,
            "space": self.space.name,
            "config": dict(self.config),
            "schedule": [self.schedule.beta_min, self.schedule.beta_max, self.schedule.eps],
            "trained_on": self.trained_on,
            "seed": self.seed,
            # what the weights' rows and columns mean: load() refuses a same-named space whose
            # vocabulary or node count differs (the weights would load and sample the wrong ops)
            "vocab": list(self.space.vocab),
            "max_nodes": int(self.space.max_nodes),
            "structure": _structure(self.space),
            "state_dict": self.net.state_dict(),
        }
        save_atomic(blob, p, mode=0o644)  # a checkpoint is shared: readable by all, as a plain file is
        return p

    @classmethod
    def load(cls, path: str | Path, space: Any = None) -> DiffusionGenerator:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        Args:
            path: the checkpoint file.
            space: the space (or name) it must have been trained on (default: the one it names).

        Raises:
            InvalidArgumentError: no file at ``path``, or not a readable nagen diffusion
                checkpoint (corrupted, truncated, another format), or trained on another space.
            UnknownSpaceError: ``space`` (or the checkpoint's space) is not registered.
        """
        import nagen.spaces

        p = Path(path)
        if not p.is_file():
            raise InvalidArgumentError(f"no diffusion checkpoint at {str(path)!r}: {'a folder' if p.is_dir() else 'no such file'}")
        try:
            blob = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle, zip and struct errors alike: the file is not a torch checkpoint
            raise InvalidArgumentError(
                f"{str(path)!r} is not a readable nagen diffusion checkpoint ({type(e).__name__}: {e})"
            ) from None
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT_VERSION:
            raise InvalidArgumentError(f"{str(path)!r} is not a nagen diffusion checkpoint (format {_FORMAT_VERSION})")
        missing = {"space", "config", "schedule", "trained_on", "seed", "state_dict"} - set(blob)
        if missing:
            raise InvalidArgumentError(f"{str(path)!r} is an incomplete diffusion checkpoint: no {sorted(missing)}")
        sp = nagen.spaces.get(space if space is not None else blob["space"])
        if sp.name != blob["space"]:
            raise InvalidArgumentError(
                f"checkpoint {str(path)!r} was trained on space {blob['space']!r}, not {sp.name!r}; "
                f"load it with space={blob['space']!r} or train one for {sp.name!r}"
            )
        # checkpoints written before these keys existed carry neither: nothing to compare then
        if "vocab" in blob and [str(v) for v in blob["vocab"]] != [str(v) for v in sp.vocab]:
            raise InvalidArgumentError(
                f"checkpoint {str(path)!r} was trained on a space {sp.name!r} with operations {list(blob['vocab'])}, "
                f"but this space {sp.name!r} has {list(sp.vocab)}; train one for this space with fit()"
            )
        if "max_nodes" in blob and int(blob["max_nodes"]) != int(sp.max_nodes):
            raise InvalidArgumentError(
                f"checkpoint {str(path)!r} was trained on a space {sp.name!r} of {int(blob['max_nodes'])} nodes, "
                f"but this space {sp.name!r} has {int(sp.max_nodes)}; train one for this space with fit()"
            )
        # a spec space of the same name, ops and size may still wire its cells differently: the
        # weights would load and sample cells of the other wiring, valid here only by accident
        theirs, ours = blob.get("structure"), _structure(sp)
        if theirs and ours and theirs != ours:
            diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise InvalidArgumentError(
                f"checkpoint {str(path)!r} was trained on a space {sp.name!r} wired differently ("
                + "; ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in diff)
                + "); train one for this space with fit()"
            )
        try:
            bmin, bmax, eps = blob["schedule"]
            gen = cls(sp, schedule=VPSchedule(float(bmin), float(bmax), float(eps)), seed=int(blob["seed"]), **blob["config"])
            gen.net.load_state_dict(blob["state_dict"])
        except NagenError:
            raise
        except Exception as e:  # config and weights disagree (e.g. the space's vocabulary changed)
            raise InvalidArgumentError(
                f"{str(path)!r} does not fit a diffusion generator of space {sp.name!r} ({type(e).__name__}: {e})"
            ) from None
        gen.net.eval()
        gen.trained_on = int(blob["trained_on"])
        return gen

    @staticmethod
    def has_pretrained(space: Any) -> bool:
        """Whether the package ships a checkpoint for ``space`` (a name or space)."""
        from importlib import resources

        import nagen.spaces
        from nagen.spaces.base import SearchSpace

        # a user's space that reuses a shipped name must not get that space's checkpoint: only a
        # registered space is referred to by its name
        name = space if isinstance(space, str) else nagen.spaces.reference(space) if isinstance(space, SearchSpace) else None
        return isinstance(name, str) and resources.files("nagen.data").joinpath(f"diffusion_{name}.pt").is_file()

    @classmethod
    def pretrained(cls, space: str = "nb201") -> DiffusionGenerator:
        """The checkpoint shipped in the package for ``space`` (a name or space; trained on the whole space).

        Raises:
            InvalidArgumentError: no checkpoint is shipped for ``space``.
        """
        from importlib import resources

        if not isinstance(space, str):
            space = getattr(space, "name", space)  # a SearchSpace: its name, as load() checks it
        ref = resources.files("nagen.data").joinpath(f"diffusion_{space}.pt")
        if not isinstance(space, str) or not ref.is_file():
            raise InvalidArgumentError(f"no shipped diffusion checkpoint for space {space!r}; train one with fit()")
        with resources.as_file(ref) as p:
            return cls.load(p, space)


#: temperature of the op-probability map applied to Tweedie's estimate for clean guides
_X0_TEMPERATURE = 0.25


def _prune_dead(op_idx: np.ndarray, adj: np.ndarray, zero_ops: Sequence[int]) -> np.ndarray:
    """Drop the edges of nodes on no input->output path (batched ``ArchGraph.pruned``).

    Args:
        op_idx: ``batch x N`` vocabulary indices. adj: ``batch x N x N`` bool, upper-triangular.
    Returns:
        the pruned adjacency (samples with no live input->output path are left unchanged, so
        validation reports that).
    """
    b, n = op_idx.shape
    alive = ~np.isin(op_idx, list(zero_ops))
    alive[:, 0] = alive[:, -1] = True
    fwd = np.zeros((b, n), dtype=bool)
    fwd[:, 0] = True
    for j in range(1, n):
        fwd[:, j] = alive[:, j] & (adj[:, :j, j] & fwd[:, :j]).any(1)
    bwd = np.zeros((b, n), dtype=bool)
    bwd[:, -1] = True
    for i in range(n - 2, -1, -1):
        bwd[:, i] = alive[:, i] & (adj[:, i, i + 1 :] & bwd[:, i + 1 :]).any(1)
    keep = fwd & bwd
    connected = keep[:, -1]
    pruned = adj & keep[:, :, None] & keep[:, None, :]
    return np.where(connected[:, None, None], pruned, adj)


def op_frequencies(space: Any, archs: Sequence[ArchGraph]) -> np.ndarray:
    """Frequency of each op of ``space.ops`` over the middle nodes of ``archs``: ``len(ops)``."""
    counts = np.zeros(len(space.ops))
    index = {op: k for k, op in enumerate(space.ops)}
    for a in archs:
        for op in a.ops[1:-1]:
            counts[index[op]] += 1
    return counts / max(counts.sum(), 1)
