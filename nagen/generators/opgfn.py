"""Order-preserving GFlowNet (OP-GFN): sample architectures from rankings alone.

Chen & Mauch, "Order-Preserving GFlowNets", ICLR 2024; Malkin et al., "Trajectory Balance:
Improved Credit Assignment in GFlowNets", NeurIPS 2022; Jain et al., "Biological Sequence
Design with GFlowNets", ICML 2022 (the active loop and the raw-reward baseline).

* **Construction.** For fixed-topology spaces (nb201, mbv3, fixed custom specs) a state is the
  vector of slot ops chosen so far (``-1`` = not chosen yet); the policy fills slot ``t`` at step
  ``t`` and exits after the last slot. Every terminal state has one trajectory, so the DAG is a
  tree: ``P_B = 1`` and trajectory balance reads ``log Z + sum_t log P_F(a_t | s_t) = log R(x)``.
  Validity rules that depend on earlier slots (mbv3: a stage's first two blocks are never
  ``skip``; ``skip`` is only followed by ``skip``) are forward masks, so every sample is valid.
  Variable-DAG spaces (nb101, variable custom specs) are built by a fixed schedule of
  decisions (``_DagProcess``): for node slot ``k = 1..N-2`` in order, its op or ``stop`` (no
  more nodes), then one keep/drop decision per candidate edge ``i -> k`` from each earlier
  node ``i < k``; last, one decision per candidate edge ``i -> output``. Edges only run from
  earlier to later slots, so the graph is a DAG by construction. Masks force an incoming edge
  on every node (reachable from the input) and an edge to the output from every node left
  without a successor (reaches the output), and allow a decision only while the cheapest
  completion still fits ``space.max_edges`` and reaches the space's fewest nodes; that bound is
  exact, so on nb101 and custom specs every valid cell is reachable and every terminal is
  valid (the tests check ``sum P(x) = 1`` over an enumerated space). The decision order is
  fixed and after ``stop`` the remaining decisions are forced (probability 1), so again each
  terminal has exactly one trajectory, ``P_B = 1`` and TB is exact; the price is that the
  policy cannot exploit graph symmetries (isomorphic relabellings are distinct terminals, as
  they are distinct ``ArchGraph`` objects of the space). The state, and the reward model's
  input, is the vector of decisions (``-1`` = not made yet). For other variable spaces, whose
  extra rules the masks may miss, invalid terminals get ``log R = -25`` (reward ~ 0) in
  training and are dropped and counted in ``last_stats.reasons`` when sampling.
* **Order-preserving reward.** A small MLP ``f(x)`` on slot one-hots, trained only on
  comparisons among labelled architectures: for random subsets ``S`` of the labelled set the
  OP-GFN listwise loss ``CE(1[x in best(S)] / |best(S)|, softmax_S f)``, where ``best(S)`` is
  the argmax for one objective and the non-dominated subset for several (Pareto dominance),
  so raw values never enter (any monotone transform of a column gives the same model).
  Subsets of size 2 are the paper's pairwise loss. The GFlowNet's reward is
  ``log R(x) = beta * (f(x) - max_labelled f) / std_labelled f``. The standardisation is ours:
  the listwise loss fixes ``f`` only up to how far training pushed its scale, so we pin the
  scale on the labelled set and let ``beta`` say how sharply sampling concentrates.
* **Raw-reward baseline** (``reward="raw"``): the same MLP regressed (MSE) on the raw values,
  ``log R(x) = beta * log(max(f(x), eps) / max labelled value)``: the usual "reward^beta"
  GFlowNet of Jain et al.
* **Machinery.** Two engines train the same policy module against the same masks and reward.
  ``engine="torchgfn"`` uses torchgfn (``gfn``): the environment is a ``DiscreteEnv`` subclass
  (``SlotFillingEnv`` below), the policy a ``DiscretePolicyEstimator``, the loss ``TBGFlowNet``
  with ``constant_pb`` (tree DAG) and its epsilon-uniform sampler. ``engine="torch"`` (the
  default) writes the tree-TB loss and the sampler out in a few vectorised lines: on these
  short trajectories torchgfn's per-step ``States``/mask bookkeeping costs about 12 ms per
  64-trajectory step against about 2 ms, and the active loop refits every round (the tests
  check that both engines give the same ``log P_F`` and the same TB loss). Also by hand,
  because torchgfn has no counterpart: the learned reward and its OP loss, and ``log_probs`` of
  given architectures (on a tree, a sum of ``P_F`` terms along the one trajectory). torchgfn is
  imported only by ``engine="torchgfn"``, so ``import nagen`` stays light.
* **Cost conditioning** (``budget_cost=``; ``opgfn_search(exact_objectives=...)``). Params and
  FLOPs are exact and free for any architecture; only the other objectives (accuracy) cost a
  label. So instead of learning the cost from labels, the GFlowNet is conditioned on a cost
  level ``k`` (default ``budget_mode="upto"``: cells of cost ``<= c_k``, the
  epsilon-constraint method): policy input = state + a thermometer code of ``k``, one
  ``log Z_k`` per level, conditional TB with a random level per trajectory, and
  ``log R(x | k) = beta * (f(x) - top_k) / s`` for cells within the level (``top_k``: best
  ``f`` among labelled cells within it; ``s``: the spread of ``f`` within levels, pooled),
  ``-25`` outside. When the cost is additive over slots (NB201 params/FLOPs, checked on
  random cells) the level is also enforced by exact masks (an op is allowed only if some
  completion lands in the level), so every sample is within its level. Whatever the cost,
  ``sample(n, budget=c)`` also drops (and redraws) any cell whose exact cost is outside the
  budget (``> c``) or band of ``c``: the masks cannot exist for non-additive costs or
  variable DAGs (NB101), and the top level is unconstrained. The reward ``f`` is
  still learned only from orders: for cells within the same budget the Pareto order reduces
  to dominance on the remaining (labelled) objectives, so each listwise subset is drawn among
  the labelled cells within one random level and ranked by that dominance. This keeps the
  OP-GFN principle: if ``x`` Pareto-dominates ``y`` then ``x`` is at least as good as ``y``
  under every level's order, and the union over levels of each level's best cells is
  exactly the Pareto front (weakly), so sampling every level concentrates on the front.
* **Preference conditioning** (``preference_conditioned=True``, ``k >= 2`` objectives; the
  preference-conditional GFlowNet of Jain et al., "Multi-Objective GFlowNets", ICML 2023, with
  the reward learned from orders as above). The Pareto order alone pulls sampling onto the
  whole non-dominated set; a preference ``w`` on the ``k``-simplex says *where* on it. Each
  objective becomes its normalised rank among the labelled cells, ``u_j(x) in [0, 1]``
  (direction-aware, ties averaged: a function of the column's order only), and the order
  under ``w`` is the augmented weighted Chebyshev score ``s_w(x) = -max_j w_j (1 - u_j(x)) +
  rho * mean_j u_j(x)`` (``rho = 0.01``). Chebyshev rather than a weighted sum because a
  weighted sum only ever prefers points of the convex hull of the front (fronts in rank space
  need not be convex), while every Pareto-optimal point is the best of some weighted
  Chebyshev problem; the ``rho`` term makes it strictly monotone, so if ``x`` dominates
  ``y`` then ``x`` beats ``y`` under *every* ``w`` (zero weights included). The reward
  model ``f(x, w)`` reads the slot one-hots and ``w``, and is trained with the listwise OP
  loss on random subsets, each with its own ``w ~ Dirichlet(alpha)`` and ranked by ``s_w``.
  The policy reads ``w`` and a thermometer code of each ``w_j`` next to the state (as
  MOGFN-PC; with ``w`` alone the policy followed ``w`` about half as far after 120 TB steps
  on a 27-cell toy), ``log Z(w)`` is a small MLP, and conditional TB
  draws one ``w ~ Dirichlet(alpha)`` per trajectory, with ``log R(x | w) = beta * (f(x, w) -
  top_w) / std_w`` (``top_w``, ``std_w``: max and spread of ``f(., w)`` over up to 256
  labelled cells, so ``beta`` means the same sharpness at every ``w``). ``sample(n,
  preference=w)`` steers along the front; without ``preference`` each sample draws its own
  ``w`` from the training Dirichlet (the whole front, which is what an active loop wants).
* **Active loop** (``opgfn_search``): label random cells, then repeat: refit the order reward
  and the GFlowNet (warm-started) on every label so far, sample a pool, label the first
  ``batch_size`` cells not labelled before (``canonical_hash``; with exact costs, the pair
  (canonical hash, exact costs), see ``search_key``). Cost-conditioned, each label of a round
  gets a level (a seeded random cycle over all levels) and is drawn from ``P(x | level)``.

>>> gen = OPGFNGenerator("nb201", seed=0).fit(archs, values)        # doctest: +SKIP
>>> gen.sample(10)                                                  # doctest: +SKIP
>>> history = opgfn_search("nb201", objective, budget=100, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import (
    InvalidArchitectureError,
    InvalidArgumentError,
    InvalidTrainingDataError,
    NagenError,
    NotFittedError,
    check_int,
    check_real,
)
from nagen.generators import register
from nagen.generators.base import Generator, arch_list, torch_seed
from nagen.generators.guidance import Guide
from nagen.graph import ArchGraph
from nagen._threads import single_threaded

__all__ = ["OPGFNGenerator", "UnsupportedSpaceError", "opgfn_search", "search_key", "RewardModel"]

_REWARDS = ("order", "raw", "uniform")
_ENGINES = ("torch", "torchgfn")
#: ``log R`` of an invalid terminal (variable-DAG spaces whose rules the masks may not cover)
_INVALID_LOG_REWARD = -25.0
#: least ``log R`` of a cell within its cost level above one outside it (non-additive costs, no masks)
_IN_LEVEL_MARGIN = 5.0
#: random cells probed for the best ``f`` within a cost level no labelled cell fits
_LEVEL_PROBE = 2000
#: share of conditional-TB trajectories replayed from known in-level cells (non-additive costs)
_REPLAY_SHARE = 0.25


def _min_nodes(space: Any) -> int:
    """Fewest nodes (input and output included) of a variable-topology space's architectures."""
    for attr in ("min_nodes", "_min_nodes"):
        v = getattr(space, attr, None)
        if isinstance(v, int) and v >= 2:
            return v
    return 2


class UnsupportedSpaceError(NagenError, ValueError):
    """The OP-GFN generator does not (yet) construct architectures of this space."""


# ---------------------------------------------------------------------- masks
def _op_mask_fn(space: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``states [B, L] long`` -> ``[B, V]`` bool: ops allowed at each state's next slot.

    A ``functools.partial`` of module-level functions, not a closure, so the generator pickles.
    """
    n_ops = len(space.ops)
    import nagen.spaces

    if nagen.spaces.is_space(space, "mbv3"):
        from nagen.spaces.mbv3 import DEPTHS, SKIP, SLOTS_PER_STAGE

        return functools.partial(_mbv3_mask, n_ops, space.ops.index(SKIP), SLOTS_PER_STAGE, min(DEPTHS))
    return functools.partial(_all_ops, n_ops)


def _mbv3_mask(n_ops: int, skip: int, slots_per_stage: int, min_depth: int, states: torch.Tensor) -> torch.Tensor:
    """mbv3's rules: a stage's first ``min_depth`` blocks are never ``skip``; ``skip`` is only followed by ``skip``."""
    t = (states >= 0).sum(-1)  # [B] next slot
    j = t % slots_per_stage  # [B] block within the stage
    prev = states.gather(1, (t - 1).clamp(min=0)[:, None])[:, 0]  # [B]
    mask = torch.ones(len(states), n_ops, dtype=torch.bool)
    mask[j < min_depth, skip] = False  # a stage has at least min_depth blocks
    only_skip = (j >= min_depth) & (prev == skip)  # skip is followed by skip
    mask[only_skip] = False
    mask[only_skip, skip] = True
    return mask


def _all_ops(n_ops: int, states: torch.Tensor) -> torch.Tensor:
    return torch.ones(len(states), n_ops, dtype=torch.bool)


# ---------------------------------------------------------------------- log rewards
# Module-level functions, bound into the generator's ``_log_reward`` with ``functools.partial``
# (closures would make the generator unpicklable). Each maps terminal states ``[B, L]`` and
# their conditions (budget levels ``[B]`` or preferences ``[B, k]``; unused by some) to ``[B]``.
def _zero_log_reward(s: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform reward: ``log R = 0``."""
    return torch.zeros(len(s))


def _order_log_reward(model: nn.Module, top: float, scale: float, beta: float, s: torch.Tensor,
                      levels: torch.Tensor | None = None) -> torch.Tensor:
    """``beta * (f(x) - top) / scale`` (see ``OPGFNGenerator._make_log_reward``)."""
    with torch.no_grad():
        return beta * (model(s) - top) / scale


def _raw_log_reward(model: nn.Module, mu: float, sd: float, log_top: float, beta: float, s: torch.Tensor,
                    levels: torch.Tensor | None = None) -> torch.Tensor:
    """``beta * log(pred / y_max)`` of the regressed values (see ``OPGFNGenerator._make_log_reward``)."""
    with torch.no_grad():
        return beta * (torch.log((model(s) * sd + mu).clamp(min=1e-6)) - log_top)


def _preference_log_reward(model: nn.Module, ref: torch.Tensor, beta: float, s: torch.Tensor,
                           prefs: torch.Tensor | None = None) -> torch.Tensor:
    """``beta * (f(x, w) - top_w) / std_w`` (see ``OPGFNGenerator._make_preference_log_reward``)."""
    assert prefs is not None
    nr = len(ref)
    with torch.no_grad():
        f = model(s, prefs)  # [B]
        # one reference pass per distinct w (sampling and inspection use a single w)
        uw, inv = torch.unique(prefs, dim=0, return_inverse=True)  # [W, k], [B]
        f_ref = model(ref.repeat(len(uw), 1), uw.repeat_interleave(nr, 0)).view(len(uw), nr)  # [W, n']
        top = f_ref.max(1).values  # [W]
        scale = f_ref.std(1).clamp(min=1e-6) if nr > 1 else torch.ones(len(uw))  # [W]
        return beta * (f - top[inv]) / scale[inv]


# ---------------------------------------------------------------------- torchgfn env
@functools.lru_cache(maxsize=1)
def _env_class() -> type:
    """The torchgfn environment class (built on first use so ``gfn`` is imported lazily)."""
    from gfn.env import DiscreteEnv
    from gfn.states import DiscreteStates

    class SlotFillingEnv(DiscreteEnv):
        """Fill ``n_slots`` op slots in order; action ``a < n_ops`` puts op ``a`` in the next
        slot, action ``n_ops`` exits (only allowed, and then forced, once every slot is set).

        States: ``[n_slots]`` long, ``-1`` for unset slots. The reward is
        ``log_reward_fn(terminal states [B, n_slots]) -> [B]``, swappable between fits.
        """

        def __init__(self, n_slots: int, n_ops: int, op_mask: Callable[[torch.Tensor], torch.Tensor]) -> None:
            self.n_slots, self.n_ops, self.op_mask = n_slots, n_ops, op_mask
            self.log_reward_fn: Callable[[torch.Tensor], torch.Tensor] = lambda s: torch.zeros(len(s))
            s0 = torch.full((n_slots,), -1, dtype=torch.long)
            super().__init__(n_ops + 1, s0, (n_slots,))

        def make_states_class(self) -> type[DiscreteStates]:
            env = self

            class SlotStates(DiscreteStates):
                state_shape = (env.n_slots,)
                s0 = env.s0
                sf = env.sf
                n_actions = env.n_actions
                make_random_states = env.make_random_states

                def _compute_forward_masks(self) -> torch.Tensor:
                    flat = self.tensor.reshape(-1, env.n_slots)  # [B, L]
                    t = (flat >= 0).sum(-1)  # [B]
                    masks = torch.zeros(len(flat), env.n_actions, dtype=torch.bool)
                    full = t >= env.n_slots
                    masks[full, -1] = True
                    if (~full).any():
                        masks[~full, :-1] = env.op_mask(flat[~full])
                    return masks.reshape(*self.batch_shape, env.n_actions)

                def _compute_backward_masks(self) -> torch.Tensor:
                    flat = self.tensor.reshape(-1, env.n_slots)  # [B, L]
                    t = (flat >= 0).sum(-1)  # [B]
                    masks = torch.zeros(len(flat), env.n_actions - 1, dtype=torch.bool)
                    has = t > 0
                    last = flat[has].gather(1, (t[has] - 1)[:, None])[:, 0]  # [B'] op of the last set slot
                    masks[has.nonzero()[:, 0], last] = True
                    return masks.reshape(*self.batch_shape, env.n_actions - 1)

            return SlotStates

        def step(self, states: Any, actions: Any) -> Any:
            s = states.tensor.clone()  # [B, L]
            t = (s >= 0).sum(-1, keepdim=True)  # [B, 1]
            s.scatter_(1, t, actions.tensor)
            return self.States(s)

        def backward_step(self, states: Any, actions: Any) -> Any:
            s = states.tensor.clone()  # [B, L]
            t = (s >= 0).sum(-1, keepdim=True)  # [B, 1]
            s.scatter_(1, t - 1, -1)
            return self.States(s)

        def log_reward(self, final_states: Any) -> torch.Tensor:
            return self.log_reward_fn(final_states.tensor)

    return SlotFillingEnv


# ---------------------------------------------------------------------- variable-DAG construction
class _DagProcess:
    """The fixed decision schedule that builds a variable-topology cell (see the module docstring).

    Node slots ``1..N-2`` (``N = space.max_nodes``) in order: one *op* decision (an op, or
    ``STOP``: this node and every later one are absent), then one *edge* decision per earlier
    slot ``i < k`` (``NO``/``YES`` for edge ``i -> k``); last, one edge decision per slot
    ``i < N-1`` for the output (``i -> out``). After a ``STOP`` the remaining decisions are
    forced (``STOP``/``NO``, probability 1), so every trajectory has the same length ``D`` and a
    terminal's decision vector ``[D]`` is its state; the order is fixed, so each terminal has
    exactly one trajectory. Masks keep every terminal valid: the graph is a DAG because edges
    only go from earlier to later slots; a node's edge decisions force at least one incoming
    edge (so it is reachable from the input); the output's decisions force an edge from every
    node with no successor yet (so every node reaches the output); and every decision is
    allowed only if the cheapest completion still fits ``max_edges`` and reaches ``min_nodes``
    (an exact bound, so no reachable state is a dead end and no valid cell is masked out).
    """

    def __init__(self, n_nodes: int, n_ops: int, max_edges: int, min_nodes: int) -> None:
        self.N, self.n_ops = n_nodes, n_ops
        self.E, self.min_nodes = max_edges, min_nodes
        self.STOP, self.NO, self.YES = n_ops, n_ops + 1, n_ops + 2
        self.n_actions = n_ops + 3
        # decision t: (kind, node, src); kind 0: op of `node`; 1: edge src -> node; 2: edge src -> output
        sched: list[tuple[int, int, int]] = []
        for k in range(1, n_nodes - 1):
            sched.append((0, k, -1))
            sched.extend((1, k, i) for i in range(k))
        sched.extend((2, n_nodes - 1, i) for i in range(n_nodes - 1))
        self.kind, self.node, self.src = (list(c) for c in zip(*sched))
        self.D = len(sched)

    # ------------------------------------------------------------------ running state
    def init(self, B: int) -> dict[str, torch.Tensor]:
        present = torch.zeros(B, self.N, dtype=torch.bool)
        present[:, 0] = True
        return {
            "present": present,  # [B, N] slot holds a node (output slot excluded)
            "succ": torch.zeros(B, self.N, dtype=torch.bool),  # [B, N] node has a successor
            "has_in": torch.zeros(B, dtype=torch.bool),  # [B] the node being wired has an in-edge
            "edges": torch.zeros(B, dtype=torch.long),  # [B] edges so far
        }

    def mask(self, st: dict[str, torch.Tensor], t: int) -> torch.Tensor:
        """``[B, n_actions]`` bool: allowed actions at decision ``t`` given the running state."""
        B = len(st["edges"])
        m = torch.zeros(B, self.n_actions, dtype=torch.bool)
        kind, k, i = self.kind[t], self.node[t], self.src[t]
        present, succ, e = st["present"], st["succ"], st["edges"]
        open_ = present & ~succ  # [B, N] nodes still needing a successor
        if kind == 0:
            alive = present[:, k - 1]  # no STOP before
            open_prev = open_[:, :k].sum(-1)
            extra = max(0, self.min_nodes - (k + 2))
            add_ok = alive & (e + open_prev + 1 + extra <= self.E)
            stop_ok = ~alive | torch.tensor(k + 1 >= self.min_nodes)
            m[:, : self.n_ops] = add_ok[:, None]
            m[:, self.STOP] = stop_ok
            return m
        if kind == 1:
            alive = present[:, k]
            open_prev = open_[:, :k].sum(-1)
            open_i = open_[:, i]
            open_rem = open_[:, i + 1 : k].any(-1)
            extra = max(0, self.min_nodes - (k + 2))
            ok = []
            for x in (0, 1):
                has_in = st["has_in"] | bool(x)
                op = open_prev - (open_i.long() if x else 0)
                cost = op + 1 + extra + (~has_in & ~open_rem).long()
                feasible = has_in | torch.tensor(i < k - 1)
                ok.append(feasible & (e + x + cost <= self.E))
            m[:, self.NO] = ~alive | ok[0]
            m[:, self.YES] = alive & ok[1]
            return m
        alive = present[:, i]
        open_i = open_[:, i]
        open_rem = open_[:, i + 1 : self.N - 1].sum(-1)
        m[:, self.NO] = ~alive | ~open_i
        m[:, self.YES] = alive & (e + 1 + open_rem <= self.E)
        return m

    def update(self, st: dict[str, torch.Tensor], t: int, a: torch.Tensor) -> None:
        """Apply actions ``a [B]`` at decision ``t`` to the running state (in place)."""
        kind, k, i = self.kind[t], self.node[t], self.src[t]
        if kind == 0:
            add = a < self.n_ops
            st["present"][:, k] = add
            st["has_in"] = torch.zeros_like(add)
            return
        yes = a == self.YES
        st["succ"][:, i] |= yes
        st["edges"] = st["edges"] + yes.long()
        if kind == 1:
            st["has_in"] = st["has_in"] | yes

    def masks(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, D, n_actions]`` masks along the trajectories of terminal decision vectors ``x [B, D]``."""
        st = self.init(len(x))
        out = []
        for t in range(self.D):
            out.append(self.mask(st, t))
            self.update(st, t, x[:, t])
        return torch.stack(out, 1)

    # ------------------------------------------------------------------ conversions
    def encode(self, arch: ArchGraph, op_index: dict[str, int]) -> list[int]:
        """The decision vector ``[D]`` of a valid cell."""
        n = arch.num_nodes
        present = set(arch.edges)
        row: list[int] = []
        for kind, k, i in zip(self.kind, self.node, self.src):
            if kind == 0:
                row.append(op_index[arch.ops[k]] if k <= n - 2 else self.STOP)
            elif kind == 1:
                row.append(self.YES if k <= n - 2 and (i, k) in present else self.NO)
            else:
                row.append(self.YES if i <= n - 2 and (i, n - 1) in present else self.NO)
        return row

    def decode(self, row: Sequence[int], ops: Sequence[str], first: str, last: str) -> ArchGraph:
        """The cell of a terminal decision vector."""
        mid: list[str] = []
        mid_edges: list[tuple[int, int]] = []
        out_src: list[int] = []
        for a, kind, k, i in zip(row, self.kind, self.node, self.src):
            a = int(a)
            if kind == 0 and a < self.n_ops and len(mid) == k - 1:
                mid.append(ops[a])
            elif kind == 1 and a == self.YES and k <= len(mid):
                mid_edges.append((i, k))
            elif kind == 2 and a == self.YES and i <= len(mid):
                out_src.append(i)
        out = len(mid) + 1
        return ArchGraph((first, *mid, last), mid_edges + [(i, out) for i in out_src])


# ---------------------------------------------------------------------- modules
class _PolicyMLP(nn.Module):
    """State ``[B, L]`` (slot ops, ``-1`` unset; float or long) -> ``[B, out]`` logits.

    With ``cond_dim > 0`` the policy is conditional: ``forward(states, cond)`` also reads a
    ``[B, cond_dim]`` float condition (the budget encoding of a budget-conditioned OP-GFN, or
    the preference code of a preference-conditioned one).
    """

    def __init__(self, n_slots: int, n_ops: int, out: int, hidden: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.n_slots, self.n_ops, self.cond_dim = n_slots, n_ops, cond_dim
        self.input_dim = n_slots * (n_ops + 1)
        self.net = nn.Sequential(
            nn.Linear(self.input_dim + cond_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, out),
        )

    def forward(self, states: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = nn.functional.one_hot(states.long() + 1, self.n_ops + 1).float().flatten(1)  # [B, L*(V+1)]
        if self.cond_dim:
            x = torch.cat([x, cond], 1)  # [B, L*(V+1) + C]
        return self.net(x)


class RewardModel(nn.Module):
    """``f``: slot ops ``[B, L]`` long -> ``[B]`` score (an MLP on the flattened one-hots).

    With ``cond_dim > 0`` it is ``f(x, w)``: ``forward(slots, cond)`` also reads a ``[B, cond_dim]``
    float condition (the preference of a preference-conditioned OP-GFN).
    """

    def __init__(self, n_slots: int, n_ops: int, hidden: int = 64, cond_dim: int = 0) -> None:
        super().__init__()
        self.n_ops, self.cond_dim = n_ops, cond_dim
        self.net = nn.Sequential(
            nn.Linear(n_slots * n_ops + cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )

    def forward(self, slots: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``f`` of each state: ``[B, L]`` op ids (and ``[B, cond_dim]`` conditions) -> ``[B]``."""
        x = nn.functional.one_hot(slots.long(), self.n_ops).float().flatten(1)  # [B, L*V]
        if self.cond_dim:
            x = torch.cat([x, cond.float()], 1)  # [B, L*V + C]
        return self.net(x)[:, 0]


class _PreferenceLogZ(nn.Module):
    """``log Z(w)`` of a preference-conditioned GFlowNet: ``[B, k]`` preferences -> ``[B]``.

    A learned offset plus a small MLP of ``w``; the MLP's last layer starts at zero, so
    ``log Z(w) = 0`` at first, as the scalar ``log Z`` of the unconditioned generator does.
    """

    def __init__(self, k: int, hidden: int = 32) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))
        self.net = nn.Sequential(nn.Linear(k, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.offset + self.net(w)[:, 0]


#: thermometer bins per preference component in the policy's input
_PREF_BINS = 8
#: weight of the mean-rank term that makes the weighted Chebyshev score strictly Pareto-monotone
_CHEBYSHEV_RHO = 0.01


def preference_ranks(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Normalised ranks ``u [n, k]`` in ``[0, 1]`` of ``n x k`` values (1 = best; ties share their average rank).

    Direction-aware (a ``"min"`` column ranks its smallest value best) and a function of each
    column's order only: any increasing transform of a column gives the same ranks.
    """
    from nagen.multiobjective import to_maximize

    Y = np.asarray(to_maximize(values, directions), dtype=float)  # [n, k], larger is better
    n = len(Y)
    out = np.zeros(Y.shape, dtype=float)
    for j in range(Y.shape[1]):
        _, inv, cnt = np.unique(Y[:, j], return_inverse=True, return_counts=True)
        first = np.cumsum(cnt) - cnt  # 0-based first position of each distinct value
        out[:, j] = (first + (cnt - 1) / 2)[inv.reshape(-1)]  # 0-based average rank
    return out / max(n - 1, 1)


def chebyshev_scalarize(u: torch.Tensor, w: torch.Tensor, rho: float = _CHEBYSHEV_RHO) -> torch.Tensor:
    """Augmented weighted Chebyshev score of ranks ``u [..., k]`` under preferences ``w [..., k]`` -> ``[...]``.

    ``-max_j w_j (1 - u_j) + rho * mean_j u_j`` (higher is better). If ``u >= u'`` everywhere
    and ``>`` once (Pareto dominance in ranks) the score is strictly higher for every ``w``
    on the simplex, zero weights included: the ``rho`` term breaks the max's ties.
    """
    return -(w * (1 - u)).amax(-1) + rho * u.mean(-1)


def dominance_matrix(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``D[i, j]``: labelled point ``i`` beats ``j`` (``n x k`` values -> ``n x n`` bool).

    One objective: strictly better. Several: Pareto dominance (no worse everywhere, better once).
    """
    from nagen.multiobjective import to_maximize

    Y = to_maximize(values, directions)  # [n, k]
    ge = (Y[:, None, :] >= Y[None, :, :]).all(-1)  # [n, n]
    gt = (Y[:, None, :] > Y[None, :, :]).any(-1)  # [n, n]
    return ge & gt


def order_preserving_loss(scores: torch.Tensor, beats: torch.Tensor) -> torch.Tensor:
    """OP-GFN listwise loss over subsets.

    Args:
        scores: ``B x m`` learned scores ``f`` of the members of ``B`` subsets.
        beats: ``B x m x m`` bool, ``beats[b, i, j]``: member ``i`` beats member ``j``.

    Returns:
        The mean over subsets of ``CE(uniform over the unbeaten members, softmax(scores))``.
    """
    best = ~beats.any(1)  # [B, m] beaten by nobody in the subset
    target = best.float() / best.float().sum(-1, keepdim=True)  # [B, m]
    return -(target * torch.log_softmax(scores, -1)).sum(-1).mean()


# ---------------------------------------------------------------------- generator
@register("opgfn")
class OPGFNGenerator(Generator):
    """Order-preserving GFlowNet over a fixed-topology or variable-DAG space (see the module docstring).

    Args:
        space: a space (or name): fixed topology (slot filling) or variable DAG (nb101,
            variable custom specs: node-and-edge construction).
        seed: seed of fitting and (default) sampling.
        reward: ``"order"`` (OP-GFN), ``"raw"`` (TB on a regressed ``value^beta``) or
            ``"uniform"`` (plain GFlowNet, uniform over the space); ``fit`` without values
            always trains the uniform one.
        beta: reward sharpness (see the module docstring).
        subset_size: size of the subsets of the listwise loss (2 = pairwise).
        hidden: width of the policy MLP.
        reward_hidden: width of the reward MLP.
        gfn_steps: TB gradient steps per ``fit``.
        reward_steps: reward-model gradient steps per ``fit``.
        trajectories: trajectories per TB step.
        epsilon: epsilon-uniform exploration of the training sampler.
        lr: Adam learning rate of the policy (``logZ`` uses ``100 x lr``).
        warm_start: keep the networks between ``fit`` calls (an active loop refits often).
        engine: ``"torch"`` (default): the tree-TB loss and sampler written out below;
            ``"torchgfn"``: the same model trained with torchgfn's ``TBGFlowNet`` and sampler.
            Both use the same policy module, masks and reward; the hand-written engine exists
            because torchgfn's per-step ``States``/mask bookkeeping costs about 12 ms per
            64-trajectory step on these 7-step trajectories against about 2 ms here, and an
            active loop refits the GFlowNet every round on a shared 2-core CPU.
        pareto_order: with several objectives, ``"dominance"`` (default): a subset's best are
            its members no other member dominates; ``"rank"``: its members of the lowest
            non-dominated-sorting rank among *all* labels (a sharper pull to the labelled front).
        budget_cost: exact, label-free cost of any architecture (``archs -> n floats``, e.g.
            ``ExactCostPredictor(space, "params").exact``). Given, the generator is
            *cost-conditioned* (see ``Cost conditioning`` in the module docstring):
            ``sample(n, budget=c)`` samples cells of the cost band of ``c`` (``budget_mode=
            "band"``) or of cost ``<= c`` (``"upto"``), with probability increasing in the
            learned reward; every returned cell's exact cost is checked, so none is outside
            (fewer than ``n`` only if ``max_rounds`` of redrawing cannot find enough).
        budget_mode: ``"upto"`` (default): level ``k`` holds the cells with cost ``<= c_k``
            (an epsilon-constraint), and the order is dominance on the columns other than
            ``budget_column`` among labelled cells within that budget; ``"band"``: level ``k``
            holds the cells with cost in ``(c_{k-1}, c_k]``, and the order is Pareto dominance
            among labelled cells of the same band (measured worse on NB201: the policy
            collapses onto one prefix in every band; see benchmarks/results/gflownet.md).
        budget_column: the value column of ``fit`` that *is* ``budget_cost`` (minimised); with
            ``budget_mode="upto"`` it is left out of the learned order (the budget enforces it
            exactly). ``None``: every column enters the order.
        budget_levels: the level edges ``c_k`` (sorted; the largest is treated as ``+inf``).
            Default: the distinct costs of 2,048 random cells (NB201: the 28 params values), or
            ``max_budget_levels`` quantiles of them when there are more.
        max_budget_levels: at most this many default levels.
        preference_conditioned: condition on a preference ``w`` over the ``k >= 2`` objectives
            (see ``Preference conditioning`` in the module docstring): ``fit`` learns ``f(x, w)``
            from orders only, ``sample(n, preference=w)`` steers along the front (``w``: ``k``
            non-negative weights, normalised, or ``{column: weight}``; none: a random ``w`` per
            sample). Needs ``reward="order"`` and ``engine="torch"``, and excludes ``budget_cost``.
        preference_alpha: concentration of the ``Dirichlet(alpha, ..., alpha)`` the training
            preferences are drawn from (1: uniform on the simplex; < 1: more mass near its
            corners, i.e. the ends of the front).

    Raises:
        UnsupportedSpaceError: ``engine="torchgfn"`` with a variable-topology space.
        ValueError: a budget with ``engine="torchgfn"`` or ``reward="raw"``.
        InvalidArgumentError: (``sample``, ``log_probs``, ``log_reward``) a ``budget`` no cell
            fits, when the cost is additive (NB201 params/FLOPs: the cheapest cost is exact):
            ``upto``, below the cheapest possible cost; ``band``, in a band that holds no cell.
            Such empty levels (user ``budget_levels``) are skipped in training and by ``opgfn_search``.
        InvalidArgumentError: ``preference_conditioned`` with ``budget_cost``, another engine
            than ``"torch"``, another reward than ``"order"``, or ``pareto_order="rank"``.
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        reward: str = "order",
        beta: float = 8.0,
        subset_size: int = 4,
        hidden: int = 128,
        reward_hidden: int = 64,
        gfn_steps: int = 200,
        reward_steps: int = 200,
        trajectories: int = 64,
        epsilon: float = 0.05,
        lr: float = 1e-3,
        warm_start: bool = True,
        engine: str = "torch",
        pareto_order: str = "dominance",
        budget_cost: Callable[[Sequence[ArchGraph]], np.ndarray] | None = None,
        budget_mode: str = "upto",
        budget_column: int | None = None,
        budget_levels: Sequence[float] | None = None,
        max_budget_levels: int = 32,
        preference_conditioned: bool = False,
        preference_alpha: float = 1.0,
    ) -> None:
        super().__init__(space, seed=seed)
        if not self.space.fixed_topology and engine == "torchgfn":
            raise UnsupportedSpaceError(
                f"engine='torchgfn' supports fixed-topology spaces only; space {self.space.name!r} has "
                "variable topology: use engine='torch' (the default)"
            )
        if reward not in _REWARDS:
            raise InvalidArgumentError(f"reward must be one of {_REWARDS}, got {reward!r}")
        self.reward_kind = reward
        # NaN or negative beta/lr/epsilon would only fail (or silently invert the reward) inside training
        self.beta = check_real(beta, "beta", 0.0)
        self.subset_size = check_int(subset_size, "subset_size", 2)
        self.hidden, self.reward_hidden = check_int(hidden, "hidden", 1), check_int(reward_hidden, "reward_hidden", 1)
        self.gfn_steps, self.reward_steps = check_int(gfn_steps, "gfn_steps"), check_int(reward_steps, "reward_steps")
        self.trajectories = check_int(trajectories, "trajectories", 1)
        self.epsilon = check_real(epsilon, "epsilon", 0.0, 1.0)
        self.lr = check_real(lr, "lr", 0.0, low_open=True)
        self.warm_start = bool(warm_start)
        if engine not in _ENGINES:
            raise InvalidArgumentError(f"engine must be 'torch' or 'torchgfn', got {engine!r}")
        self.engine = engine
        if pareto_order not in ("dominance", "rank"):
            raise InvalidArgumentError(f"pareto_order must be 'dominance' or 'rank', got {pareto_order!r}")
        self.pareto_order = pareto_order
        if budget_cost is not None and (engine != "torch" or reward == "raw"):
            raise InvalidArgumentError("a budget (budget_cost) needs engine='torch' and reward='order' or 'uniform'")
        if budget_mode not in ("band", "upto"):
            raise InvalidArgumentError(f"budget_mode must be 'band' or 'upto', got {budget_mode!r}")
        if budget_cost is not None and not callable(budget_cost):
            raise InvalidArgumentError(f"budget_cost must be a callable (archs -> n costs), got {type(budget_cost).__name__}")
        self.budget_cost, self.budget_mode = budget_cost, budget_mode
        self.budget_column = None if budget_column is None else check_int(budget_column, "budget_column")
        self.max_budget_levels = check_int(max_budget_levels, "max_budget_levels", 1)
        if budget_levels is not None:
            bad = [c for c in budget_levels if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) or math.isnan(c)]
            if bad:
                raise InvalidArgumentError(f"budget_levels must be numbers (costs), got {bad[0]!r} among them")
        self._budget_levels_arg = None if budget_levels is None else sorted(float(c) for c in budget_levels)
        if not isinstance(preference_conditioned, (bool, np.bool_)):
            raise InvalidArgumentError(f"preference_conditioned must be True or False, got {preference_conditioned!r}")
        self.preference_conditioned = bool(preference_conditioned)
        self.preference_alpha = check_real(preference_alpha, "preference_alpha", 0.0, low_open=True)
        if self.preference_conditioned:
            # each of these would need its own conditional design (see the module docstring):
            # budget levels already condition the policy, log Z and the reward's normalisation on
            # a cost level, and the joint (level, w) condition is untested; torchgfn's sampler has
            # no per-trajectory condition here; "raw" regresses one objective and "uniform" has no
            # order; "rank" is a fixed order of all labels, while here the order depends on w
            if budget_cost is not None:
                raise InvalidArgumentError(
                    "preference_conditioned=True cannot be combined with budget_cost (cost conditioning); "
                    "use one of them (opgfn_search: pass budget_conditioned=False)"
                )
            if engine != "torch":
                raise InvalidArgumentError("preference_conditioned=True needs engine='torch'")
            if reward != "order":
                raise InvalidArgumentError(f"preference_conditioned=True needs reward='order', got {reward!r}")
            if pareto_order != "dominance":
                raise InvalidArgumentError("preference_conditioned=True orders by the preference's Chebyshev score; "
                                           "pareto_order='rank' does not apply")
        #: number of objectives the preference-conditioned networks were built for (set by fit)
        self._n_objectives: int | None = None
        self._levels: np.ndarray | None = None  # [K] budgets, the last one +inf (no budget)
        self._level_cut: np.ndarray | None = None  # [K] the same, last one finite (to map a user's budget)
        self._cost_cache: dict[tuple[int, ...], float] = {}
        self._probe: torch.Tensor | None = None  # [M, L] free random cells (see _probe_slots)
        #: known cells per cost level for conditional TB to replay: (cells [M, L], fits [K, M]) or None
        self._replay: tuple[torch.Tensor, torch.Tensor] | None = None
        self._op_mask = _op_mask_fn(self.space)
        self.n_ops = len(self.space.ops)
        self._op_index = {op: k for k, op in enumerate(self.space.ops)}
        self._dag: _DagProcess | None = None
        if self.space.fixed_topology:
            # every architecture has max_nodes nodes, slots are the middle ones
            self.n_slots = self.space.max_nodes - 2
            self.n_tokens, self.n_out = self.n_ops, self.n_ops + 1
            self._template = self.space.sample(1, 0)[0]
        else:
            # variable DAG: a "slot" is one decision of the fixed schedule (see _DagProcess)
            n = self.space.max_nodes
            max_edges = self.space.max_edges if self.space.max_edges is not None else n * (n - 1) // 2
            self._dag = _DagProcess(n, self.n_ops, int(max_edges), _min_nodes(self.space))
            self.n_slots = self._dag.D
            self.n_tokens = self.n_out = self._dag.n_actions
            self._template = ArchGraph((self.space.vocab[0], self.space.vocab[-1]), [(0, 1)])
            # the masks encode every rule of nb101 and of custom variable specs; another space may
            # have more rules, so its invalid terminals get reward 0 and are never returned
            from nagen.spaces.custom import CustomSpace
            from nagen.spaces.nb101 import NB101Space

            self._exact_masks = type(self.space) in (NB101Space, CustomSpace)
        self._policy: _PolicyMLP | None = None
        self._logZ: nn.Parameter | None = None
        self._gfn: Any = None  # torchgfn TBGFlowNet (engine="torchgfn")
        self._env: Any = None  # torchgfn environment (engine="torchgfn")
        self._reward_model: RewardModel | None = None
        self._log_reward: Callable[..., torch.Tensor] = _zero_log_reward
        #: the labels hold no strict comparison (all tied, or all mutually non-dominated): no order to learn
        self._flat_reward = False
        self.fitted = False
        self.losses: dict[str, list[float]] = {"reward": [], "tb": []}

    # ------------------------------------------------------------------ conversions
    def slots(self, archs: Sequence[ArchGraph | str]) -> torch.Tensor:
        """``[B, L]`` long op ids (index into ``space.ops``) of the slots of ``archs``.

        Variable-DAG spaces: the ``[B, D]`` decision vectors (see ``_DagProcess``) instead.
        """
        if self._dag is not None:
            rows = [self._dag.encode(self.space.validate(a), self._op_index) for a in archs]
            return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.n_slots)
        rows = [[self._op_index[op] for op in self.space.validate(a).ops[1:-1]] for a in archs]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.n_slots)

    def _to_arch(self, slots: Sequence[int]) -> ArchGraph:
        if self._dag is not None:
            return self._dag.decode(slots, self.space.ops, self._template.ops[0], self._template.ops[-1])
        ops = (self._template.ops[0], *(self.space.ops[int(k)] for k in slots), self._template.ops[-1])
        return ArchGraph(ops, self._template.edges)

    # ------------------------------------------------------------------ budgets
    def _budget_levels(self) -> np.ndarray:
        """The ``K`` budgets the GFlowNet is conditioned on (sorted; the last is ``+inf``: no budget).

        Costs are free (``budget_cost`` needs no label), so the default levels come from the
        costs of 2,048 random cells: their distinct values (NB201: the 28 params values), or
        ``max_budget_levels`` quantiles when there are more (continuous costs).
        """
        if self._levels is None:
            if self.budget_cost is None:
                raise InvalidArgumentError("this generator has no budget (construct it with budget_cost=...)")
            if self._budget_levels_arg:
                cut = np.asarray(self._budget_levels_arg, dtype=float)
            else:
                costs = self._arch_costs(self.space.sample(2048, self.seed))
                costs = costs[np.isfinite(costs)]
                cut = np.unique(costs)
                if len(cut) > self.max_budget_levels:
                    cut = np.unique(np.quantile(costs, np.linspace(0, 1, self.max_budget_levels)))
            self._level_cut = cut
            # the largest level means "no budget": a cell dearer than every sampled one is still
            # allowed there, so the top level is the unconstrained problem
            self._levels = np.concatenate([cut[:-1], [np.inf]])
        return self._levels

    @property
    def budget_levels(self) -> np.ndarray:
        """The budgets the GFlowNet is trained for (``K`` floats, the last ``+inf``: no budget)."""
        return self._budget_levels().copy()

    def budget_level(self, budget: float | None) -> int:
        """The level of a cost ``budget`` (``None``: the top level).

        ``budget_mode="band"``: the band holding ``budget``; ``"upto"``: the largest level
        whose edge is ``<= budget``. Two budgets have no such level: one at or above the
        largest edge maps to the top level, which is unconstrained (``+inf``), and one below
        the cheapest edge to level 0, which may hold dearer cells. ``sample(budget=...)``
        therefore also filters by exact cost, so what it returns always fits ``budget``.
        """
        levels = self._budget_levels()
        if budget is None:
            return len(levels) - 1
        assert self._level_cut is not None
        if self.budget_mode == "band":
            k = np.searchsorted(self._level_cut, float(budget), side="left")
        else:
            k = np.searchsorted(self._level_cut, float(budget), side="right") - 1
        return int(np.clip(k, 0, len(levels) - 1))

    def _fit_matrix(self, costs: torch.Tensor) -> torch.Tensor:
        """``[K, n]`` bool: cell ``j`` (exact ``costs[j]``) belongs to level ``k`` (band or budget)."""
        hi = torch.as_tensor(self._budget_levels(), dtype=torch.float64)  # [K]
        fits = costs[None, :] <= hi[:, None]
        if self.budget_mode == "band":
            lo = torch.cat([torch.tensor([-np.inf], dtype=torch.float64), hi[:-1]])  # [K]
            fits &= costs[None, :] > lo[:, None]
        return fits

    def _fits(self, costs: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """``[B]`` bool: cell ``b`` belongs to level ``levels[b]``."""
        hi = torch.as_tensor(self._budget_levels(), dtype=torch.float64)
        ok = costs <= hi[levels]
        if self.budget_mode == "band":
            ok &= (levels == 0) | (costs > hi[(levels - 1).clamp(min=0)])
        return ok

    def fits_level(self, archs: Sequence[ArchGraph], level: int) -> np.ndarray:
        """Which of ``archs`` belong to cost level ``level`` (``n`` bools; exact, no label)."""
        c = torch.as_tensor(self._arch_costs(archs), dtype=torch.float64)
        return self._fits(c, torch.full((len(c),), int(level), dtype=torch.long)).numpy()

    def _nonempty_levels(self) -> torch.Tensor:
        """``[K]`` bool: level ``k`` holds at least one cell.

        Exact when the cost is additive (``_additive``): then the masks allow no op at all at an
        empty level (user ``budget_levels`` whose cheapest edge is below every cell, a band no
        cell falls into), so training and sampling must skip it. Other costs have no masks and
        no exact minimum: every level counts as non-empty, a rollout there just ends on a cell
        of ``log R = _INVALID_LOG_REWARD`` (finite) and ``sample`` drops it by its exact cost.
        """
        hi = self._budget_levels()
        add = self._additive()
        if add is None:
            return torch.ones(len(hi), dtype=torch.bool)
        base, _, suffix = add
        sums = base + suffix[0]  # [S] sorted: every cost a cell can have
        lo = np.concatenate([[-np.inf], hi[:-1]]) if self.budget_mode == "band" else np.full(len(hi), -np.inf)
        # the masks' tolerance (_allowed): some cost in (lo, hi]
        n_hi = np.searchsorted(sums, hi + 1e-6, side="right")
        n_lo = np.searchsorted(sums, lo + 1e-6, side="right")
        return torch.as_tensor(n_hi > n_lo)

    def _sampling_level(self, budget: float | None) -> int:
        """The level ``sample(budget=...)`` (and ``log_probs``) draws from: ``budget_level(budget)``,
        or, ``upto``, the cheapest non-empty level above it when that level holds no cell but some
        cell fits ``budget`` (its edge is below every cell; ``sample`` filters by exact cost).

        Raises:
            InvalidArgumentError: no cell fits ``budget``: ``upto``, it is below the cheapest
                possible cost; ``band``, its band holds no cell (known exactly for additive costs only).
        """
        k = self.budget_level(budget)
        live = self._nonempty_levels()
        add = self._additive()
        cheapest = None if add is None else add[0] + float(add[2][0][0])
        if self.budget_mode == "upto":
            if budget is not None and cheapest is not None and float(budget) < cheapest - 1e-6:
                raise InvalidArgumentError(
                    f"no cell costs at most the budget {float(budget):g}: the cheapest possible cost is {cheapest:g}"
                )
            return k if live[k] else k + int(live[k:].nonzero()[0, 0])  # the top level (+inf) is never empty
        if live[k]:
            return k
        hi = self._budget_levels()
        lo = [-np.inf, *hi[:-1]]
        asked = "no budget" if budget is None else f"the budget {float(budget):g}"
        raise InvalidArgumentError(
            f"{asked} falls in the cost band ({lo[k]:g}, {hi[k]:g}] (level {k}), which holds no cell (the cheapest "
            f"possible cost is {cheapest:g}); budgets must fall in a non-empty band: "
            + ", ".join(f"({a:g}, {b:g}]" for a, b, ok in zip(lo, hi, live.tolist()) if ok)
        )

    def _arch_costs(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """``budget_cost`` of ``archs`` (``n`` floats); an architecture it cannot cost gets ``inf``."""
        assert self.budget_cost is not None
        try:
            return np.asarray(self.budget_cost(list(archs)), dtype=float).reshape(len(archs))
        except Exception:  # a terminal outside the space's rules (only when masks are not exact)
            out = []
            for a in archs:
                try:
                    out.append(float(np.asarray(self.budget_cost([a]), dtype=float).reshape(-1)[0]))
                except Exception:
                    out.append(np.inf)
            return np.asarray(out, dtype=float)

    def _costs(self, slots: torch.Tensor) -> torch.Tensor:
        """Exact costs of terminal states ``[B, L]`` -> ``[B]`` float64 (cached: TB asks for the same cells often)."""
        rows = [tuple(r) for r in slots.tolist()]
        miss = [r for r in dict.fromkeys(rows) if r not in self._cost_cache]
        if miss:
            self._cost_cache.update(zip(miss, self._arch_costs([self._to_arch(r) for r in miss]).tolist()))
        return torch.tensor([self._cost_cache[r] for r in rows], dtype=torch.float64)

    def _preference_code(self, w: torch.Tensor) -> torch.Tensor:
        """``[B, k]`` preferences -> ``[B, k * (1 + _PREF_BINS)]`` policy condition: ``w`` and a thermometer code of each ``w_j``."""
        edges = (torch.arange(_PREF_BINS, dtype=torch.float32) + 0.5) / _PREF_BINS  # [bins]
        thermo = (w.float()[:, :, None] >= edges).float().flatten(1)  # [B, k * bins]
        return torch.cat([w.float(), thermo], 1)

    def _cond(self, levels: torch.Tensor | None, n: int | None = None) -> torch.Tensor | None:
        """``[B, K]`` thermometer codes of budget indices (``None`` without a budget).

        A thermometer (``code[j] = 1`` for ``j <= level``) makes neighbouring budgets similar
        inputs, so what the policy learns at one budget carries over to the next.
        Preference-conditioned: ``levels`` holds the preferences ``[B, k]`` and the code is
        ``_preference_code`` of them (the callers pass either condition through one argument).
        """
        if self.preference_conditioned:
            # preference-conditioned: the "levels" argument carries the preferences [B, k] themselves
            return None if levels is None else self._preference_code(levels)
        if self.budget_cost is None:
            return None
        K = len(self._budget_levels())
        if levels is None:
            levels = torch.full((int(n or 0),), K - 1, dtype=torch.long)
        return (torch.arange(K)[None, :] <= levels[:, None]).float()

    # ------------------------------------------------------------------ model pieces
    def _build(self) -> None:
        if self.preference_conditioned:
            # the policy reads w next to the state; log Z(w) is a small function of w
            assert self._n_objectives is not None
            k = self._n_objectives
            self._policy = _PolicyMLP(self.n_slots, self.n_tokens, self.n_out, self.hidden, cond_dim=k * (1 + _PREF_BINS))
            self._logZ = _PreferenceLogZ(k)
            self._reward_model = None  # f(x, w) for this k is built by _fit_reward
            self._gfn = self._env = None
            return
        if self.budget_cost is None:
            self._policy = _PolicyMLP(self.n_slots, self.n_tokens, self.n_out, self.hidden)
            self._logZ = nn.Parameter(torch.zeros(()))
        else:
            # budget-conditioned: the policy reads the budget's thermometer code, log Z is one per budget
            K = len(self._budget_levels())
            self._policy = _PolicyMLP(self.n_slots, self.n_tokens, self.n_out, self.hidden, cond_dim=K)
            self._logZ = nn.Parameter(torch.zeros(K))
        self._gfn = self._env = None
        if self.engine == "torchgfn":
            from gfn.estimators import DiscretePolicyEstimator
            from gfn.gflownet import TBGFlowNet
            from gfn.preprocessors import IdentityPreprocessor

            self._env = self._make_env()
            pf = DiscretePolicyEstimator(self._policy, self._env.n_actions, IdentityPreprocessor(output_dim=self.n_slots))
            self._gfn = TBGFlowNet(pf=pf, pb=None, constant_pb=True, logZ=self._logZ)
            # torchgfn 2.4.1 takes ``logZ or nn.Parameter(...)``: our log Z, a zero-valued tensor, is
            # false, so it made a parameter of its own that the optimiser (given ours) never trained
            self._gfn.logZ = self._logZ

    def _make_env(self) -> Any:
        """The torchgfn environment (``engine="torchgfn"``): this generator's masks, and its current ``log R``."""
        env = _env_class()(self.n_slots, self.n_ops, self._op_mask)
        env.log_reward_fn = lambda s: self._log_reward(s)
        return env

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # torchgfn's environment is an instance of a class made inside _env_class() (so that gfn
        # is imported lazily), which pickle cannot name: it holds no learned state (only the masks
        # and a link to log R), so __setstate__ rebuilds it. Everything else pickles as it is:
        # masks and log R are partials of module-level functions, and the torchgfn TBGFlowNet
        # (kept, so the copy shares the very policy and log Z objects the original trains)
        state = dict(self.__dict__)
        state["_env"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._gfn is not None:
            self._env = self._make_env()

    # ------------------------------------------------------------------ hand-written tree TB
    def _step_log_probs(
        self, states: torch.Tensor, cond: torch.Tensor | None = None, levels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[B, L]`` states with a free slot -> ``[B, V]`` masked log-probabilities of its op.

        The exit action (``V``) is never allowed before every slot is set, and is the only
        action once they are, so it contributes ``log 1 = 0`` and is left out. ``cond``,
        ``levels``: ``[B, C]`` codes and ``[B]`` indices of the cost levels of a cost-conditioned
        generator (``levels`` adds the exact cost masks when the cost is additive).
        """
        logits = self._policy(states, cond)[:, : self.n_ops]  # [B, V]
        allowed = self._allowed(states, levels)
        # a prefix with no allowed op (log_probs of a cell outside the level: its prefix cannot
        # complete in the level) is unreachable, log P = -inf; log_softmax over no logit would be
        # NaN, so those rows are normalised unmasked (no NaN in the gradient either) and then blanked
        dead = ~allowed.any(-1, keepdim=True)  # [B, 1]
        lp = torch.log_softmax(logits.masked_fill(~(allowed | dead), float("-inf")), -1)
        return lp.masked_fill(dead, float("-inf"))

    def _allowed(self, states: torch.Tensor, levels: torch.Tensor | None) -> torch.Tensor:
        """``[B, V]`` ops allowed at the next slot: the space's rules and, for an additive exact
        cost, "some completion still lands in the level" (so every sample is in its level)."""
        mask = self._op_mask(states)
        if levels is None or self.budget_cost is None or self._additive() is None:
            return mask
        base, w, suffix = self._additive()  # w [L, V]; suffix[t]: sorted reachable sums of slots >= t
        B, L = states.shape
        t = (states >= 0).sum(-1)  # [B] next slot
        hi = torch.as_tensor(self._budget_levels(), dtype=torch.float64)
        lo = torch.cat([torch.tensor([-np.inf], dtype=torch.float64), hi[:-1]])
        lo = lo[levels] if self.budget_mode == "band" else torch.full((B,), -np.inf, dtype=torch.float64)
        hi = hi[levels]  # [B]
        wt = torch.as_tensor(w)  # [L, V]
        so_far = base + torch.where(states >= 0, wt.gather(1, states.clamp(min=0).T).T, 0.0).sum(-1)  # [B]
        out = torch.zeros_like(mask)
        for tt in t.unique().tolist():
            if tt >= L:
                continue
            rows = (t == tt).nonzero()[:, 0]
            rest = torch.as_tensor(suffix[tt + 1])  # sorted sums over the slots after tt
            tot = so_far[rows, None] + wt[tt][None, :]  # [b, V] cost once slot tt is set
            n_hi = torch.searchsorted(rest, (hi[rows, None] - tot + 1e-6).contiguous(), right=True)
            n_lo = torch.searchsorted(rest, (lo[rows, None] - tot + 1e-6).contiguous(), right=True)
            out[rows] = n_hi > n_lo  # some completion has cost in (lo, hi]
        return mask & out

    def _additive(self) -> tuple[float, np.ndarray, list[np.ndarray]] | None:
        """``(base, w [L, V], suffix sums)`` when ``budget_cost`` is exactly ``base + sum_t
        w[t, op_t]`` (NB201: params/FLOPs; checked on 256 random cells), else ``None``.

        Then the cost masks are exact: ``suffix[t]`` holds every sum the slots ``t..L-1`` can
        reach. Only for fixed topologies without op rules, and while those sets stay small.
        """
        if hasattr(self, "_additive_cache"):
            return self._additive_cache
        self._additive_cache = None
        import nagen.spaces

        if self._dag is not None or self.budget_cost is None or nagen.spaces.is_space(self.space, "mbv3"):
            return None
        L, V = self.n_slots, self.n_ops
        zero = [0] * L
        cells = [zero] + [[a if i == t else 0 for i in range(L)] for t in range(L) for a in range(V)]
        c = self._arch_costs([self._to_arch(r) for r in cells])
        base = float(c[0])
        w = (c[1:] - base).reshape(L, V)
        probe = self.space.sample(256, self.seed + 1)
        slots = self.slots(probe).numpy()
        pred = base + w[np.arange(L)[None, :], slots].sum(1)
        true = self._arch_costs(probe)
        if not np.allclose(pred, true, rtol=1e-9, atol=1e-6):
            return None
        suffix: list[np.ndarray] = [np.zeros(0)] * (L + 1)
        suffix[L] = np.zeros(1)
        for t in range(L - 1, -1, -1):
            sums = np.unique(np.round((w[t][:, None] + suffix[t + 1][None, :]).ravel(), 6))
            if len(sums) > 100_000:  # too many distinct sums to keep: fall back to the reward penalty
                return None
            suffix[t] = sums
        self._additive_cache = (base, w, suffix)
        return self._additive_cache

    def _masked_log_probs(self, states: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Variable DAG: ``[B, D]`` states, ``[B, A]`` allowed actions -> ``[B, A]`` log-probabilities."""
        return torch.log_softmax(self._policy(states, cond).masked_fill(~mask, float("-inf")), -1)

    def _rollout(
        self, n: int, gen: torch.Generator, epsilon: float = 0.0, levels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n`` terminal states ``[n, L]`` sampled from ``P_F`` (epsilon-uniform over allowed ops).

        ``levels``: ``[n]`` budget indices (budget-conditioned generator only).
        """
        cond = self._cond(levels, n)
        if self._dag is not None:
            return self._rollout_dag(n, gen, epsilon, cond)
        states = torch.full((n, self.n_slots), -1, dtype=torch.long)  # [n, L]
        with torch.no_grad():
            for t in range(self.n_slots):
                probs = self._step_log_probs(states, cond, levels).exp()  # [n, V]
                if epsilon > 0:
                    allowed = self._allowed(states, levels).float()  # [n, V]
                    probs = (1 - epsilon) * probs + epsilon * allowed / allowed.sum(-1, keepdim=True)
                states[:, t] = torch.multinomial(probs, 1, generator=gen)[:, 0]
        return states

    def _rollout_dag(self, n: int, gen: torch.Generator, epsilon: float, cond: torch.Tensor | None = None) -> torch.Tensor:
        dag = self._dag
        states = torch.full((n, dag.D), -1, dtype=torch.long)  # [n, D]
        st = dag.init(n)
        with torch.no_grad():
            for t in range(dag.D):
                mask = dag.mask(st, t)  # [n, A]
                forced = mask.sum(-1) == 1
                if bool(forced.all()):  # e.g. every trajectory stopped early: no policy call
                    a = mask.float().argmax(-1)
                else:
                    probs = self._masked_log_probs(states, mask, cond).exp()  # [n, A]
                    if epsilon > 0:
                        allowed = mask.float()
                        probs = (1 - epsilon) * probs + epsilon * allowed / allowed.sum(-1, keepdim=True)
                    a = torch.multinomial(probs, 1, generator=gen)[:, 0]
                states[:, t] = a
                dag.update(st, t, a)
        return states

    def _trajectory_log_pf(self, slots: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_t log P_F(a_t | s_t)`` along the one trajectory of each ``[B, L]`` terminal state -> ``[B]``.

        ``levels``: ``[B]`` budget indices (budget-conditioned generator only).
        """
        B, L = slots.shape
        cond = self._cond(levels, B)
        if cond is not None:
            cond = cond.repeat_interleave(L, 0)  # [B*L, C], one row per prefix
        if self._dag is not None:
            masks = self._dag.masks(slots)  # [B, D, A]
            keep = torch.arange(L)[None, :] < torch.arange(L)[:, None]  # [L, L] step t sees decisions < t
            prefixes = torch.where(keep[None], slots[:, None, :], torch.full_like(slots[:, None, :], -1))
            lp = self._masked_log_probs(prefixes.reshape(B * L, L), masks.reshape(B * L, -1), cond)  # [B*L, A]
            # forced steps give log 1 = 0; an action the masks forbid gives -inf (unreachable)
            return lp.gather(1, slots.reshape(B * L, 1)).reshape(B, L).sum(-1)
        keep = torch.arange(L)[None, :] < torch.arange(L)[:, None]  # [L, L] step t sees slots < t
        prefixes = torch.where(keep[None], slots[:, None, :], torch.full_like(slots[:, None, :], -1))  # [B, L, L]
        lv = None if levels is None else levels.repeat_interleave(L, 0)  # [B*L]
        lp = self._step_log_probs(prefixes.reshape(B * L, L), cond, lv)  # [B*L, V]
        return lp.gather(1, slots.reshape(B * L, 1)).reshape(B, L).sum(-1)

    def _fit_reward(
        self, slots: torch.Tensor, values: np.ndarray, directions: list[str], gen: torch.Generator, steps: int
    ) -> None:
        """Train ``f`` (order: listwise OP loss on comparisons; raw: MSE on values)."""
        if self.preference_conditioned:
            self._fit_preference_reward(slots, values, directions, gen, steps)
            return
        if self._reward_model is None or not self.warm_start:
            self._reward_model = RewardModel(self.n_slots, self.n_tokens, self.reward_hidden)
        model = self._reward_model
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        n = len(slots)
        if self.reward_kind == "raw":
            y = torch.as_tensor(values[:, 0], dtype=torch.float32)  # [n], n >= 2 (checked in fit)
            mu, sd = y.mean(), y.std().clamp(min=1e-6)
            for _ in range(steps):
                idx = torch.randint(n, (min(n, 64),), generator=gen)
                pred = model(slots[idx]) * sd + mu  # regression in the values' own units
                loss = ((pred - y[idx]) / sd).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses["reward"].append(loss.item())
            self._raw_scale = (float(mu), float(sd), float(y.max()))
            return
        if self.budget_cost is not None and self.budget_column is not None and self.budget_mode == "upto":
            # the budget column is known exactly for every cell and enforced by the budget itself:
            # the order to learn is the one among cells that fit the same budget, i.e. (Pareto)
            # dominance on the remaining columns
            keep = [j for j in range(values.shape[1]) if j != self.budget_column]
            values, directions = values[:, keep], [directions[j] for j in keep]
        if self.pareto_order == "rank" and values.shape[1] > 1:
            from nagen.multiobjective import pareto_ranks

            ranks = pareto_ranks(values, directions)  # [n] non-dominated sorting of all labels
            beats = torch.as_tensor(ranks[:, None] < ranks[None, :])  # [n, n]
        else:
            beats = torch.as_tensor(dominance_matrix(values, directions))  # [n, n]
        # without a single "x beats y" the listwise loss pins every labelled f equal, so their
        # spread (the reward's scale) is ~0 and dividing by it would blow f's noise on unlabelled
        # cells up into a reward that collapses sampling onto one arbitrary cell
        self._flat_reward = not bool(beats.any())
        m = min(self.subset_size, n)
        feas = None
        if self.budget_cost is not None:
            # budget-conditioned: each subset is drawn among the labelled cells that fit one budget
            # (a random level among those at least 2 cells fit), so the order among cheap cells
            # is trained as often as the order among dear ones, not swamped by "dearer is better"
            feas = self._fit_matrix(self._costs(slots))  # [K, n]
            feas = feas[feas.sum(1) >= 2]  # [K', n]
        for _ in range(steps):
            if feas is None or not len(feas):
                # 64 random subsets of m distinct labelled archs
                sub = torch.rand(64, n, generator=gen).argsort(-1)[:, :m]  # [64, m]
                loss = order_preserving_loss(model(slots[sub.flatten()]).view(64, m), beats[sub[:, :, None], sub[:, None, :]])
            else:
                f_k = feas[torch.randint(len(feas), (64,), generator=gen)]  # [64, n] who fits each subset's budget
                r = torch.rand(64, n, generator=gen).masked_fill(~f_k, 2.0)  # infeasible sort last
                sub = r.argsort(-1)[:, :m]  # [64, m]
                inside = f_k.gather(1, sub)  # [64, m] fewer than m fit: the rest are padding
                scores = model(slots[sub.flatten()]).view(64, m).masked_fill(~inside, -1e9)
                b = beats[sub[:, :, None], sub[:, None, :]] & inside[:, :, None] & inside[:, None, :]
                b = b | (inside[:, :, None] & ~inside[:, None, :])  # padding is beaten, never a target
                loss = order_preserving_loss(scores, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses["reward"].append(loss.item())

    # ------------------------------------------------------------------ preference conditioning
    def _dirichlet(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``[n, k]`` preferences drawn from ``Dirichlet(preference_alpha)`` (float32)."""
        assert self._n_objectives is not None
        w = rng.dirichlet([self.preference_alpha] * self._n_objectives, size=n)
        # a tiny alpha can underflow every component of a draw to 0 (then NaN): use a corner instead
        bad = ~np.isfinite(w).all(1) | (w.sum(1) <= 0)
        if bad.any():
            w[bad] = np.eye(self._n_objectives)[rng.integers(self._n_objectives, size=int(bad.sum()))]
        return torch.as_tensor(w / w.sum(1, keepdims=True), dtype=torch.float32)

    def _fit_preference_reward(
        self, slots: torch.Tensor, values: np.ndarray, directions: list[str], gen: torch.Generator, steps: int
    ) -> None:
        """Train ``f(x, w)`` with the listwise OP loss; each subset gets its own ``w ~ Dirichlet`` and is
        ranked by the Chebyshev score of the members' normalised ranks (orders only, never values)."""
        k = values.shape[1]
        if self._reward_model is None or not self.warm_start:
            self._reward_model = RewardModel(self.n_slots, self.n_tokens, self.reward_hidden, cond_dim=k)
        model = self._reward_model
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        n = len(slots)
        u = torch.as_tensor(preference_ranks(values, directions), dtype=torch.float64)  # [n, k]
        # all labels tied in every column: no w orders them, so no order to learn (see _flat_reward)
        self._flat_reward = bool((u == u[:1]).all())
        m = min(self.subset_size, n)
        for _ in range(steps):
            sub = torch.rand(64, n, generator=gen).argsort(-1)[:, :m]  # [64, m]
            w = self._dirichlet(64, self._pref_rng)  # [64, k]
            score = chebyshev_scalarize(u[sub], w.double()[:, None, :])  # [64, m]
            # float64 and an absolute margin far below the smallest rank step (rho / (k (n - 1)))
            beats = score[:, :, None] > score[:, None, :] + 1e-12  # [64, m, m]
            f = model(slots[sub.flatten()], w.repeat_interleave(m, 0)).view(64, m)
            loss = order_preserving_loss(f, beats)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses["reward"].append(loss.item())

    def _make_preference_log_reward(self, slots: torch.Tensor, beta: float) -> Callable[..., torch.Tensor]:
        """``log R(states [B, L], prefs [B, k]) -> [B]`` = ``beta * (f(x, w) - top_w) / std_w``.

        ``top_w``, ``std_w``: max and spread of ``f(., w)`` over (up to 256 of) the labelled
        cells. ``top_w`` only shifts ``log R(. | w)`` by a constant, which ``log Z(w)`` absorbs
        (it keeps ``log R`` near 0, where ``log Z`` starts); ``std_w`` pins the scale per ``w``,
        for the reason the unconditioned reward pins it on the labelled set.
        """
        model = None if self._flat_reward else self._reward_model
        if model is None or not len(slots):
            return _zero_log_reward
        ref = slots
        if len(ref) > 256:
            ref = ref[torch.as_tensor(self._pref_rng.permutation(len(ref))[:256])]
        return functools.partial(_preference_log_reward, model, ref, beta)

    def _check_preference(self, preference: Any) -> torch.Tensor:
        """A user's preference (``k`` non-negative numbers, or ``{column: weight}``) -> ``[k]`` float32 on the simplex."""
        if not self.preference_conditioned:
            raise InvalidArgumentError(
                "preference=... needs a preference-conditioned generator (OPGFNGenerator(..., preference_conditioned=True))"
            )
        k = self._n_objectives
        assert k is not None
        if isinstance(preference, Mapping):
            w = np.zeros(k)
            for col, weight in preference.items():
                if isinstance(col, bool) or not isinstance(col, (int, np.integer)) or not 0 <= col < k:
                    raise InvalidArgumentError(f"preference keys must be value column indices 0..{k - 1}, got {col!r}")
                w[int(col)] = self._preference_weight(weight)
        else:
            if isinstance(preference, (str, bytes)) or not isinstance(preference, (Sequence, np.ndarray, torch.Tensor)):
                raise InvalidArgumentError(
                    f"preference must be {k} non-negative weights (one per objective) or {{column: weight}}, "
                    f"got {type(preference).__name__}"
                )
            items = preference.tolist() if isinstance(preference, (np.ndarray, torch.Tensor)) else list(preference)
            items = items if isinstance(items, list) else [items]  # a 0-d array
            if len(items) != k:
                raise InvalidArgumentError(f"preference must have {k} weights (one per objective), got {len(items)}")
            w = np.array([self._preference_weight(x) for x in items])
        if w.sum() <= 0:
            raise InvalidArgumentError(f"preference needs a positive weight on at least one objective, got {w.tolist()}")
        return torch.as_tensor(w / w.sum(), dtype=torch.float32)

    @staticmethod
    def _preference_weight(x: Any) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not math.isfinite(float(x)) or x < 0:
            raise InvalidArgumentError(f"preference weights must be finite non-negative numbers, got {x!r}")
        return float(x)

    def _prefs_of(self, n: int, preference: Any) -> torch.Tensor | None:
        """``[n, k]`` preferences for inspection (``None``: equal weights); ``None`` when not preference-conditioned."""
        if not self.preference_conditioned:
            if preference is not None:
                self._check_preference(preference)  # raises: not preference-conditioned
            return None
        w = torch.full((self._n_objectives,), 1.0 / self._n_objectives) if preference is None else self._check_preference(preference)
        return w[None, :].expand(n, -1).contiguous()

    def _make_log_reward(self, slots: torch.Tensor, beta: float) -> Callable[..., torch.Tensor]:
        """``log R`` of terminal states ``[B, L] -> [B]`` from the fitted reward model.

        Budget-conditioned: ``log R(x | level k) = beta * (f(x) - top_k) / std f`` for cells of
        cost ``<= budget_k`` (``top_k``: the best ``f`` among labelled cells within that budget)
        and ``_INVALID_LOG_REWARD`` for dearer ones; the function takes ``(states, levels)``.
        """
        if self.budget_cost is not None:
            return self._make_budget_log_reward(slots, beta)
        if self.preference_conditioned:
            return self._make_preference_log_reward(slots, beta)
        if self.reward_kind == "uniform" or self._reward_model is None or self._flat_reward:
            return _zero_log_reward
        model = self._reward_model
        with torch.no_grad():
            f_lab = model(slots)  # [n]
        if self.reward_kind == "raw":
            mu, sd, y_max = self._raw_scale
            # R = (pred / y_max)^beta (dividing by a constant leaves the target distribution as
            # it is but keeps log R near 0, where log Z starts); unshifted, beta * log(pred) is in
            # the hundreds and TB spends its steps moving log Z instead of the policy
            return functools.partial(_raw_log_reward, model, mu, sd, math.log(max(y_max, 1e-6)), beta)
        top, scale = float(f_lab.max()), float(f_lab.std().clamp(min=1e-6)) if len(f_lab) > 1 else 1.0
        return functools.partial(_order_log_reward, model, top, scale, beta)

    def _make_budget_log_reward(self, slots: torch.Tensor, beta: float) -> Callable[..., torch.Tensor]:
        """The budget-conditioned ``log R(states, levels)`` (see ``_make_log_reward``)."""
        levels_t = torch.as_tensor(self._budget_levels(), dtype=torch.float64)  # [K]
        K = len(levels_t)
        model = None if self.reward_kind == "uniform" or self._flat_reward else self._reward_model
        if model is not None and len(slots):
            with torch.no_grad():
                f_lab = model(slots)  # [n]
            feas = self._fit_matrix(self._costs(slots))  # [K, n] labelled cell belongs to level k
            top = torch.where(feas, f_lab[None, :], torch.tensor(float("-inf"))).max(1).values  # [K]
            if self._additive() is None and not bool(torch.isfinite(top).all()):
                # a budget no labelled cell fits, with a cost the masks cannot enforce (mbv3, nb101): measured
                # against the best labelled cell overall (dearer), its cells' log R fell below the out-of-level
                # penalty, so its GFlowNet sampled only *outside* the level. The best of free random cells
                # within it (exact costs and f need no label) is its own top instead.
                probe = self._probe_slots()
                with torch.no_grad():
                    f_probe = model(probe)
                in_level = self._fit_matrix(self._costs(probe))  # [K, M]
                top_probe = torch.where(in_level, f_probe[None, :], torch.tensor(float("-inf"))).max(1).values
                top = torch.where(torch.isfinite(top), top, top_probe)
                # none probed either (a rare cheap level): a level's conditional target does not depend on its
                # top (its own log Z_k absorbs it), but its weight against the cells outside does: the worst
                # labelled f keeps the level's cells above the out-of-level penalty
                top = torch.where(torch.isfinite(top), top, f_lab.min())
            # a budget no labelled cell fits (additive costs: the masks keep samples within it anyway):
            # measure against the best labelled cell overall
            top = torch.where(torch.isfinite(top), top, f_lab.max())
            # spread of f among the labelled cells within each budget: beta then sets how sharply
            # sampling concentrates *among the cells that budget allows*, at every budget alike
            cnt = feas.sum(1)  # [K]
            mean = torch.where(feas, f_lab[None, :], torch.tensor(0.0)).sum(1) / cnt.clamp(min=1)
            var = torch.where(feas, (f_lab[None, :] - mean[:, None]) ** 2, torch.tensor(0.0)).sum(1) / (cnt - 1).clamp(min=1)
            # pooled over the levels (a level with 2 labelled cells alone would give a wild spread)
            dof = (cnt - 1).clamp(min=0).float()
            pooled = ((var * dof).sum() / dof.sum()).sqrt() if dof.sum() > 0 else f_lab.std()
            scale = torch.full((K,), float(pooled.clamp(min=1e-6)) if len(f_lab) > 1 else 1.0)  # [K]
        else:
            top, scale = torch.zeros(K), torch.ones(K)
        return functools.partial(self._budgeted_log_reward, model, top, scale, beta)

    def _budgeted_log_reward(
        self, model: nn.Module | None, top: torch.Tensor, scale: torch.Tensor, beta: float, s: torch.Tensor,
        levels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``log R(s | levels)`` of ``_make_budget_log_reward`` (a method, bound with ``partial``: picklable)."""
        lv = torch.full((len(s),), len(top) - 1, dtype=torch.long) if levels is None else levels
        ok = self._fits(self._costs(s), lv)  # [B] within the level: exact, never learned
        with torch.no_grad():
            r = beta * (model(s) - top[lv]) / scale[lv] if model is not None else torch.zeros(len(s))
        out = _INVALID_LOG_REWARD
        if self._additive() is None:
            # no masks keep samples in their level: every cell within it must outrank every cell outside,
            # and all the cells outside together must weigh less than one within, or the level's
            # target lies outside it (with additive costs the masks make this moot)
            out = min(_INVALID_LOG_REWARD, -(self.n_slots * math.log(max(self.n_tokens, 2)) + _IN_LEVEL_MARGIN))
            r = r.clamp(min=out + _IN_LEVEL_MARGIN)
        return torch.where(ok, r, torch.full_like(r, out))

    def _probe_slots(self) -> torch.Tensor:
        """``[M, L]`` slots of ``_LEVEL_PROBE`` random cells of the space (free: their exact costs and
        ``f`` need no label), drawn once per generator."""
        if self._probe is None:
            self._probe = self.slots(self.space.sample(_LEVEL_PROBE, self.seed + 7))
        return self._probe

    def _level_replay(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Known cells of each cost level for ``_mix_replay``: the labelled ``slots`` and the free
        probed cells, with which levels each fits; ``None`` unless the cost is non-additive.

        Why: with a non-additive cost no mask keeps a rollout within its level, and a level holding
        a small share of the space (0.2% of nb101 below its cheapest labelled cell) was never hit by
        on-policy rollouts, so its policy never learned where its reward lies. Trajectory balance
        holds for any trajectories with full support, so replaying known in-level cells beside the
        rollouts leaves the target (``P(x | level) ~ R(x | level)``) as it was.
        """
        if self.budget_cost is None or self._additive() is not None:
            return None
        cells = torch.cat([slots, self._probe_slots()]) if len(slots) else self._probe_slots()  # [M, L]
        with torch.no_grad():  # a replayed trajectory the masks forbid has log P_F = -inf: leave it out
            cells = cells[torch.isfinite(self._trajectory_log_pf(cells))]
        fits = self._fit_matrix(self._costs(cells))  # [K, M]
        return (cells, fits) if bool(fits.any()) else None

    def _mix_replay(self, x: torch.Tensor, levels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``x`` ``[T, L]`` (rollouts at ``levels``) with a ``_REPLAY_SHARE`` of its rows replaced by
        known cells of their level (see ``_level_replay``), chosen uniformly among them."""
        cells, fits = self._replay
        known = fits[levels]  # [T, M]
        swap = (torch.rand(len(x), generator=gen) < _REPLAY_SHARE) & known.any(1)  # [T]
        if not bool(swap.any()):
            return x
        pick = torch.multinomial(known[swap].float(), 1, generator=gen)[:, 0]
        x = x.clone()
        x[swap] = cells[pick]
        return x

    def _guard_validity(self, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """Variable DAG with masks that may miss some of the space's rules: ``log R`` of an
        invalid terminal is ``_INVALID_LOG_REWARD`` (reward ~ 0), so TB learns to avoid it."""
        if self._dag is None or self._exact_masks:
            return fn
        return functools.partial(self._guarded_log_reward, fn)

    def _guarded_log_reward(
        self, fn: Callable[..., torch.Tensor], s: torch.Tensor, levels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``fn(s, levels)``, or ``_INVALID_LOG_REWARD`` for invalid terminals (see ``_guard_validity``)."""
        ok = torch.tensor([self.space.is_valid(self._to_arch(row.tolist())) for row in s], dtype=torch.bool)
        return torch.where(ok, fn(s, levels), torch.full((len(s),), _INVALID_LOG_REWARD))

    def _train_gfn(self, steps: int, progress: bool, gen: torch.Generator) -> None:
        if self.preference_conditioned:
            self._train_preference_gfn(steps, progress, gen)
            return
        opt = torch.optim.Adam(
            [{"params": list(self._policy.parameters()), "lr": self.lr}, {"params": [self._logZ], "lr": 100 * self.lr}]
        )

        def loss_fn() -> torch.Tensor:
            if self.engine == "torchgfn":
                traj = self._gfn.sample_trajectories(self._env, n=self.trajectories, epsilon=self.epsilon)
                return self._gfn.loss(self._env, traj, recalculate_all_logprobs=True)
            # trajectory balance on a tree (P_B = 1): (log Z + sum_t log P_F - log R(x))^2
            if self.budget_cost is None:
                x = self._rollout(self.trajectories, gen, self.epsilon)  # [T, L] off-policy when epsilon > 0
                return (self._logZ + self._trajectory_log_pf(x) - self._log_reward(x)).pow(2).mean()
            # conditional TB: each trajectory draws a budget, log Z is that budget's; never a level
            # holding no cell (its exact masks allow no op, so there is no trajectory to train on)
            live = self._nonempty_levels().nonzero()[:, 0]  # [K']
            lv = live[torch.randint(len(live), (self.trajectories,), generator=gen)]  # [T]
            x = self._rollout(self.trajectories, gen, self.epsilon, lv)  # [T, L]
            if self._replay is not None:
                x = self._mix_replay(x, lv, gen)
            return (self._logZ[lv] + self._trajectory_log_pf(x, lv) - self._log_reward(x, lv)).pow(2).mean()

        self._run_tb(opt, loss_fn, steps, progress, f"fit opgfn ({self.reward_kind})")

    def _train_preference_gfn(self, steps: int, progress: bool, gen: torch.Generator) -> None:
        """Conditional TB: each trajectory draws ``w ~ Dirichlet``; ``(log Z(w) + sum log P_F(. | w) - log R(x | w))^2``."""
        logz = self._logZ
        opt = torch.optim.Adam(
            [
                {"params": list(self._policy.parameters()), "lr": self.lr},
                {"params": [logz.offset], "lr": 100 * self.lr},  # as the scalar log Z
                # the w-dependent part: faster than the policy (it only has to track log sum R(. | w))
                {"params": list(logz.net.parameters()), "lr": 10 * self.lr},
            ]
        )

        def loss_fn() -> torch.Tensor:
            w = self._dirichlet(self.trajectories, self._pref_rng)  # [T, k]
            x = self._rollout(self.trajectories, gen, self.epsilon, w)  # [T, L]
            return (logz(w) + self._trajectory_log_pf(x, w) - self._log_reward(x, w)).pow(2).mean()

        self._run_tb(opt, loss_fn, steps, progress, "fit opgfn (order, preference)")

    def _run_tb(self, opt: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor], steps: int, progress: bool, desc: str) -> None:
        """``steps`` optimiser steps on ``loss_fn()`` (a trajectory-balance loss), logged in ``losses["tb"]``."""
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=desc, leave=False)
        for _ in range(steps):
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses["tb"].append(loss.item())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.3g}")
        if bar is not None:
            bar.close()

    # ------------------------------------------------------------------ protocol
    @single_threaded
    def fit(
        self,
        archs: Sequence[ArchGraph | str] | None = None,
        values: np.ndarray | Sequence[float] | None = None,
        directions: Sequence[str] | None = None,
        *,
        progress: bool = False,
        **options: Any,
    ) -> OPGFNGenerator:
        """Learn the reward from labelled ``archs`` (if ``values`` given), then train the GFlowNet on it.

        Args:
            archs: labelled architectures (ignored when ``values`` is None).
            values: ``n`` or ``n x k`` values of ``archs``; rows with NaN (failed) are dropped.
                ``None``, or labels with no strict comparison among them (all tied, or all
                mutually non-dominated): uniform reward over the space (plain GFlowNet).
            directions: ``"max"``/``"min"`` per column (default: all ``"max"``).
            progress: show a tqdm bar for the GFlowNet training.
            options: overrides of constructor settings for this fit (``gfn_steps``,
                ``reward_steps``, ``beta``).

        Raises:
            InvalidTrainingDataError: ``archs`` is not a sequence of architectures (with
                ``values``), lengths disagree, values are not numbers, fewer than 2
                usable rows, or ``reward="raw"`` with several (or minimised) objectives, an
                infinite value or no positive one.
            InvalidArgumentError: an unknown or out-of-range option.
        """
        gfn_steps = check_int(options.pop("gfn_steps", self.gfn_steps), "gfn_steps")
        reward_steps = check_int(options.pop("reward_steps", self.reward_steps), "reward_steps")
        # checked before training: a NaN beta would turn the warm-started policy into NaNs for good
        beta = check_real(options.pop("beta", self.beta), "beta", 0.0)
        if options:
            raise InvalidArgumentError(f"unknown fit options {sorted(options)}; allowed: gfn_steps, reward_steps, beta, progress")
        data = None if values is None else self._check_data(archs, values, directions)
        if self.preference_conditioned:
            # the networks read w, so their input size is the number of objectives: known from the values
            if data is None and self._n_objectives is None:
                raise InvalidTrainingDataError(
                    "a preference-conditioned generator needs values with k >= 2 objective columns in its first fit"
                )
            k = self._n_objectives if data is None else data[1].shape[1]
            if k != self._n_objectives:  # new (or another number of) objectives: nothing to warm-start
                self._n_objectives, self._policy, self._reward_model = k, None, None
        # torchgfn samples with torch's global generator: seed it inside a fork so the
        # caller's global random state is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed(self.seed))
            gen = torch.Generator().manual_seed(torch_seed(self.seed))
            if self.preference_conditioned:
                # Dirichlet draws come from numpy (torch's Dirichlet takes no generator), seeded by gen
                self._pref_rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
            if self._policy is None or not self.warm_start:
                self._build()
            self._flat_reward = False
            if data is None:
                slots = torch.zeros(0, self.n_slots, dtype=torch.long)
                self._reward_model = None
            else:
                slots, vals, dirs = data
                if self.reward_kind != "uniform":
                    self._fit_reward(slots, vals, dirs, gen, reward_steps)
            self._log_reward = self._guard_validity(self._make_log_reward(slots, beta))
            self._replay = self._level_replay(slots)
            self._train_gfn(gfn_steps, progress, gen)
        self.fitted = True
        return self

    def _check_data(
        self, archs: Sequence[ArchGraph | str] | None, values: Any, directions: Sequence[str] | None
    ) -> tuple[torch.Tensor, np.ndarray, list[str]]:
        from nagen.multiobjective import check_directions

        if archs is None:
            raise InvalidTrainingDataError("values were given without the architectures they label")
        archs = arch_list(archs, self.space, InvalidTrainingDataError)
        try:
            vals = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as e:
            raise InvalidTrainingDataError(f"values must be numbers (NaN for a failed label), got {e}") from None
        vals = vals[:, None] if vals.ndim == 1 else vals
        if vals.ndim != 2 or len(vals) != len(archs):
            raise InvalidTrainingDataError(
                f"values must be n or n x k with n = {len(archs)} architectures, got shape {np.shape(values)}"
            )
        dirs = check_directions(directions if directions is not None else ["max"] * vals.shape[1])
        if len(dirs) != vals.shape[1]:
            raise InvalidTrainingDataError(f"{len(dirs)} directions for {vals.shape[1]} value columns")
        if self.preference_conditioned and vals.shape[1] < 2:
            raise InvalidTrainingDataError(
                f"preference_conditioned=True needs k >= 2 objective columns (a preference weighs objectives), "
                f"got {vals.shape[1]}"
            )
        if self.reward_kind == "raw" and vals.shape[1] > 1:
            raise InvalidTrainingDataError(
                f"reward='raw' takes one objective, got {vals.shape[1]} value columns; use reward='order' for Pareto orders"
            )
        if self.reward_kind == "raw" and dirs[0] != "max":
            raise InvalidTrainingDataError("reward='raw' needs a maximised, positive objective (reward = value^beta)")
        if self.budget_cost is not None and self.budget_column is not None:
            if not 0 <= self.budget_column < vals.shape[1] or vals.shape[1] < 2:
                raise InvalidTrainingDataError(
                    f"budget_column={self.budget_column} needs it and at least one other of the {vals.shape[1]} value columns"
                )
            if dirs[self.budget_column] != "min":
                raise InvalidTrainingDataError("the budget column is a cost: its direction must be 'min'")
        ok = ~np.isnan(vals).any(1)
        if ok.sum() < 2:
            raise InvalidTrainingDataError(f"need at least 2 labelled architectures without NaN, got {int(ok.sum())}")
        if self.reward_kind == "raw":
            # the regression target: inf makes its mean and spread NaN, and value^beta needs a positive best
            if np.isinf(vals[ok]).any():
                raise InvalidTrainingDataError("reward='raw' needs finite values, got inf; use NaN for a failed label")
            if vals[ok].max() <= 0:
                raise InvalidTrainingDataError(
                    f"reward='raw' needs a positive objective (reward = value^beta), got a best value of {vals[ok].max():g}"
                )
        keep = [a for a, k in zip(archs, ok) if k]
        return self.slots(keep), vals[ok], dirs

    def _require_fit(self) -> None:
        if not self.fitted:
            raise NotFittedError("OPGFNGenerator: call fit() (with or without labels) before sampling")

    def _sample(self, n: int, seed: int, guides: Sequence[Guide], **options: Any) -> list[ArchGraph]:
        self._require_fit()
        unknown = sorted(set(options) - {"budget", "epsilon", "preference"})
        if unknown:
            raise InvalidArgumentError(f"unknown sampling options {unknown}; allowed: budget, epsilon, preference")
        preference = options.get("preference")
        w = None if preference is None else self._check_preference(preference)  # [k] on the simplex
        if "epsilon" in options:
            options["epsilon"] = check_real(options["epsilon"], "epsilon", 0.0, 1.0)
        budget = options.get("budget")
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) or math.isnan(budget):
                raise InvalidArgumentError(f"budget must be a number (a cost) or None, got {budget!r}")
            if self.budget_cost is None:
                raise InvalidArgumentError("sample(budget=...) needs a budget-conditioned generator (budget_cost=...)")
            level = self._sampling_level(budget)  # raises if no cell fits the budget
        if n == 0:
            return []
        if self.engine == "torchgfn":
            kw = {"epsilon": options["epsilon"]} if "epsilon" in options else {}
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(torch_seed(seed))
                final = self._gfn.sample_trajectories(self._env, n=n, **kw).terminating_states.tensor  # [n, L]
        else:
            levels = None
            g = torch.Generator().manual_seed(torch_seed(seed))
            if self.preference_conditioned:
                # one w for every sample, or (no preference) a random w per sample: the whole front
                levels = w[None, :].expand(n, -1).contiguous() if w is not None else self._dirichlet(
                    n, np.random.default_rng(torch_seed(seed))
                )  # [n, k]
            if self.budget_cost is not None:
                if budget is None and self.budget_mode == "band":
                    # no level asked: each sample a random band (never one holding no cell)
                    live = self._nonempty_levels().nonzero()[:, 0]  # [K']
                    levels = live[torch.randint(len(live), (n,), generator=g)]
                else:
                    levels = torch.full((n,), self.budget_level(None) if budget is None else level, dtype=torch.long)
            final = self._rollout(n, g, float(options.get("epsilon", 0.0)), levels)
        out = [self._to_arch(row.tolist()) for row in final]
        self.last_stats.drawn += len(out)
        valid, rows = [], []
        for r, a in enumerate(out):
            try:
                valid.append(self.space.validate(a))
                rows.append(r)
            except InvalidArchitectureError as e:
                self.last_stats.invalid += 1
                key = f"violates the space's rules ({type(e).__name__})"
                self.last_stats.reasons[key] = self.last_stats.reasons.get(key, 0) + 1
        if budget is not None and valid:
            valid = self._within_budget(valid, final[rows], float(budget), None if levels is None else levels[rows])
        return valid

    def _within_budget(
        self, archs: list[ArchGraph], slots: torch.Tensor, budget: float, levels: torch.Tensor | None
    ) -> list[ArchGraph]:
        """The ``archs`` (terminal ``slots``, sampled at ``levels``) whose exact cost fits ``budget`` (upto) or its band.

        The masks keep samples in their level only for additive costs, and the top ``upto``
        level is unconstrained, so the promise "every sample fits the budget" is kept here; the
        dropped cells are counted in ``last_stats.reasons`` and ``sample`` redraws them.
        """
        costs = self._costs(slots)
        if self.budget_mode == "upto":
            ok = costs <= budget
            why = f"costs more than the budget {budget:g}"
        else:
            assert levels is not None
            ok = self._fits(costs, levels)
            why = f"outside the cost band of the budget {budget:g}"
        dropped = int((~ok).sum())
        if dropped:
            self.last_stats.reasons[why] = self.last_stats.reasons.get(why, 0) + dropped
        return [a for a, keep in zip(archs, ok.tolist()) if keep]

    # ------------------------------------------------------------------ inspection
    def _levels_of(self, slots: torch.Tensor, budget: float | None) -> torch.Tensor | None:
        """Cost levels to evaluate ``slots`` at: that of ``budget``, or (band mode, no budget)
        each cell's own band."""
        if self.budget_cost is None:
            if budget is not None:
                raise InvalidArgumentError("budget=... needs a budget-conditioned generator (budget_cost=...)")
            return None
        if budget is None and self.budget_mode == "band":
            return self._fit_matrix(self._costs(slots)).float().argmax(0)  # [n] own band
        return torch.full((len(slots),), self._sampling_level(budget), dtype=torch.long)

    def log_probs(self, archs: Sequence[ArchGraph | str], budget: float | None = None, preference: Any = None) -> np.ndarray:
        """``log P(x)`` under the trained sampler (``n`` floats; ``-inf`` for unreachable ones).

        The construction DAG is a tree, so ``P(x)`` is the product of the forward policy along
        ``x``'s one trajectory, exit included (variable DAGs: along its fixed decision order).
        ``budget``: condition of a cost-conditioned generator (``None``: no budget; band mode:
        ``log P(x)`` of ``sample`` without a budget, i.e. ``log P(x | band of x) - log K``).
        ``preference``: ``w`` of a preference-conditioned generator, ``log P(x | w)`` (``None``:
        equal weights; ``sample`` without a preference mixes over random ``w`` instead, which has
        no closed form).
        """
        self._require_fit()
        slots = self.slots(archs)
        levels = self._levels_of(slots, budget)
        prefs = self._prefs_of(len(slots), preference)
        if prefs is not None:
            levels = prefs  # [n, k]: the condition of a preference-conditioned generator
        with torch.no_grad():
            lp = self._trajectory_log_pf(slots, levels)
        if budget is None and self.budget_cost is not None and self.budget_mode == "band":
            lp = lp - math.log(int(self._nonempty_levels().sum()))  # the band is drawn uniformly first
        return lp.numpy().astype(float)

    def log_reward(self, archs: Sequence[ArchGraph | str], budget: float | None = None, preference: Any = None) -> np.ndarray:
        """The GFlowNet's training target ``log R`` of ``archs`` (``n`` floats; ``budget``, ``preference`` as in ``log_probs``)."""
        self._require_fit()
        slots = self.slots(archs)
        levels = self._levels_of(slots, budget)
        prefs = self._prefs_of(len(slots), preference)
        return self._log_reward(slots, levels if prefs is None else prefs).numpy().astype(float)

    def score(self, archs: Sequence[ArchGraph | str], preference: Any = None) -> np.ndarray:
        """The learned order score ``f`` of ``archs`` (higher = better ranked), ``n`` floats.

        ``preference``: ``w`` of a preference-conditioned generator, ``f(x, w)`` (``None``: equal weights).
        """
        if self._reward_model is None:
            raise NotFittedError("no reward model: fit() with values first")
        slots = self.slots(archs)
        prefs = self._prefs_of(len(slots), preference)
        with torch.no_grad():
            if prefs is None:
                return self._reward_model(slots).numpy().astype(float)
            return self._reward_model(slots, prefs).numpy().astype(float)


# ---------------------------------------------------------------------- active loop
def opgfn_search(
    space: Any,
    objective: Callable[[list[ArchGraph]], np.ndarray],
    budget: int,
    seed: int = 0,
    *,
    batch_size: int = 10,
    n_init: int = 10,
    directions: Sequence[str] | None = None,
    exclude: Container[str] = (),
    pool_factor: int = 8,
    select: str = "sample",
    refit_gfn_steps: int = 30,
    refit_reward_steps: int = 60,
    exact_objectives: Mapping[int, Callable[[Sequence[ArchGraph]], np.ndarray]] | None = None,
    budget_conditioned: bool | None = None,
    progress: bool = False,
    **generator_options: Any,
) -> list[tuple[ArchGraph, np.ndarray]]:
    """Active OP-GFN: label a batch, update the order, refit, sample the next batch; repeat.

    Args:
        space: a space (or name), fixed topology or variable DAG.
        objective: labels a list of architectures: ``len(archs)`` (one objective) or
            ``len(archs) x k`` values; NaN marks a failed label (kept in the history, not trained on).
        budget: number of labels; each is a new canonical architecture (``canonical_hash``), or
            with ``exact_objectives`` a new (canonical architecture, exact values) pair.
        seed: same seed, same run.
        batch_size: labels per round after the first.
        n_init: uniformly random labels of the first round.
        directions: ``"max"``/``"min"`` per objective column (default: all ``"max"``).
        exclude: never to propose (labelled elsewhere): ``search_key`` keys, or plain canonical
            hashes, which exclude every twin of that class (whatever its exact costs).
        pool_factor: samples drawn per wanted label, before removing already-labelled ones.
        select: ``"sample"`` labels the first new cells in sampling order (pure GFlowNet
            sampling); ``"top"`` labels the new cells of the pool with the highest learned score
            (GFlowNet as proposal distribution, then a greedy pick, as in Jain et al. 2022).
        refit_gfn_steps, refit_reward_steps: training steps of every fit after the first
            (the networks are warm-started, so a refit only has to follow the updated order).
        exact_objectives: objective columns whose value is exact and free for *any*
            architecture, no label needed (params, FLOPs): ``{column index: archs -> n floats}``.
            Two uses. (1) De-duplication: ``canonical_hash`` merges cells that compute the same
            function, but ops on dead paths still cost parameters, so equivalent cells can differ
            in an exact cost; the key becomes (canonical hash, exact values), so a cheaper twin of a
            labelled cell is still a new point of the objective space and can be labelled, while
            twins equal in every exact value (identical in every objective up to training noise)
            are labelled once. (2) Budget conditioning (below).
        budget_conditioned: condition the GFlowNet on a budget of the first exact, minimised
            column (``None``: yes when there is one and at least two objectives). Each label
            of a round is assigned one of the generator's budget levels (a seeded random cycle
            through all of them), and is the first new cell within that budget drawn from
            ``P(x | budget)``. See ``Budget conditioning`` in the module docstring. ``None``
            with ``preference_conditioned=True`` (a generator option): no, the two exclude
            each other.
        progress: show a tqdm bar over labels.
        generator_options: passed to ``OPGFNGenerator`` (``reward``, ``beta``, ``gfn_steps``, ...).

    Returns:
        ``[(arch, values[k]), ...]`` in label order (``k = 1`` for one objective).
    """
    import nagen.spaces
    from nagen.multiobjective import check_directions

    sp = nagen.spaces.get(space)
    # a 0 batch or pool would end the loop after the first round without a word
    check_int(budget, "budget")
    for name, value in (("batch_size", batch_size), ("n_init", n_init), ("pool_factor", pool_factor)):
        check_int(value, name, 1)
    for name, value in (("refit_gfn_steps", refit_gfn_steps), ("refit_reward_steps", refit_reward_steps)):
        check_int(value, name)
    if not callable(objective):
        raise InvalidArgumentError(f"objective must be a callable (archs -> values), got {type(objective).__name__}")
    if select not in ("sample", "top"):
        raise InvalidArgumentError(f"select must be 'sample' or 'top', got {select!r}")
    exact = dict(exact_objectives or {})
    dirs = None if directions is None else check_directions(directions)
    budget_col = next((j for j in sorted(exact) if dirs is not None and j < len(dirs) and dirs[j] == "min"), None)
    if budget_conditioned is None:
        # a preference-conditioned generator takes no cost levels (see OPGFNGenerator): the exact
        # columns then only de-duplicate, and the cost is one more objective of the preference
        budget_conditioned = (
            budget_col is not None and dirs is not None and len(dirs) >= 2
            and not generator_options.get("preference_conditioned", False)
        )
    if budget_conditioned:
        if budget_col is None:
            raise InvalidArgumentError("budget_conditioned=True needs an exact, minimised objective column (exact_objectives)")
        generator_options = {"budget_cost": exact[budget_col], "budget_column": budget_col, **generator_options}
    gen = OPGFNGenerator(sp, seed=seed, **generator_options)
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    history: list[tuple[ArchGraph, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget, desc="opgfn search", leave=False)

    def key(a: ArchGraph) -> str:
        return search_key(a, exact)

    def unseen(cands: Sequence[ArchGraph]) -> list[ArchGraph]:
        """``cands`` minus labelled (or excluded) cells and repeats, in order."""
        out: list[ArchGraph] = []
        mine: set[str] = set()
        for a in cands:
            h = key(a)
            # a plain canonical hash in exclude stands for its whole class (keys add exact costs after "|")
            if h not in seen and h not in exclude and h.split("|", 1)[0] not in exclude and h not in mine:
                mine.add(h)
                out.append(a)
        return out

    def fresh(cands: Sequence[ArchGraph], want: int) -> list[ArchGraph]:
        out = unseen(cands)[:want]
        seen.update(key(a) for a in out)
        return out

    def label(batch: list[ArchGraph]) -> None:
        got = objective(batch)
        try:
            vals = np.asarray(got, dtype=float)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"objective must return numbers (NaN for a failed label), got {e}") from None
        if vals.ndim not in (1, 2) or len(vals) != len(batch) or vals.ndim == 2 and vals.shape[1] < 1:
            raise InvalidArgumentError(
                f"objective must return {len(batch)} values or a {len(batch)} x k array for {len(batch)} architectures, "
                f"got shape {vals.shape}"
            )
        vals = vals.reshape(len(batch), -1)
        history.extend((a, v) for a, v in zip(batch, vals))
        if bar is not None:
            bar.update(len(batch))

    cycle: list[int] = []  # cost levels still to visit in the current cycle
    spent: set[int] = set()  # levels where neither the sampler nor random draws found a new cell

    def next_levels(n: int) -> list[int]:
        # a seeded random order of all levels, repeated: every level gets labels at the same rate
        out: list[int] = []
        # a level holding no cell (user budget_levels) is never visited: sampling it would raise
        empty = set(np.flatnonzero(~gen._nonempty_levels().numpy()).tolist())
        live = [k for k in range(len(gen.budget_levels)) if k not in spent and k not in empty]
        while len(out) < n and live:
            if not cycle:
                cycle.extend(k for k in rng.permutation(len(gen.budget_levels)).tolist() if k not in spent and k not in empty)
            out.append(cycle.pop())
        return out

    def within(cands: Sequence[ArchGraph], level: int) -> list[ArchGraph]:
        """The members of ``cands`` whose exact cost belongs to ``level``."""
        if not cands:
            return []
        return [a for a, ok in zip(cands, gen.fits_level(cands, level)) if ok]

    def pick(pool: list[ArchGraph], want: int) -> list[ArchGraph]:
        if select == "top" and gen._reward_model is not None:
            pool = unseen(pool)
            if pool:
                pool = [pool[k] for k in np.argsort(-gen.score(pool), kind="stable")]
        return fresh(pool, want)

    round_ = 0
    while len(history) < budget:
        want = min(n_init if round_ == 0 else batch_size, budget - len(history))
        if round_ == 0:
            batch = fresh(sp.sample(want * pool_factor, rng), want)
        else:
            archs = [a for a, _ in history]
            Y = np.stack([v for _, v in history])
            usable = ~np.isnan(Y).any(1)
            steps = {} if not gen.fitted else {"gfn_steps": refit_gfn_steps, "reward_steps": refit_reward_steps}
            if usable.sum() >= 2:
                gen.fit([a for a, u in zip(archs, usable) if u], Y[usable], directions, **steps)
            else:
                gen.fit(**steps)
            sample_seed = seed * 100_003 + round_
            if not budget_conditioned:
                batch = pick(gen.sample(want * pool_factor, seed=sample_seed), want)
            else:
                batch = []
                levels = next_levels(want)
                for lv in sorted(set(levels)):
                    n_lv = levels.count(lv)
                    # the top level: no budget in "upto" mode; in "band" mode no budget means a random
                    # band per sample, so the top band is asked by an unbounded budget
                    top = float("inf") if gen.budget_mode == "band" else None
                    cut = top if lv == len(gen.budget_levels) - 1 else float(gen.budget_levels[lv])
                    pool = within(gen.sample(n_lv * pool_factor, seed=sample_seed * 97 + lv, budget=cut), lv)
                    got = pick(pool, n_lv)
                    if len(got) < n_lv:  # this level's sampler only proposes labelled cells: a random one of it
                        got += fresh(within(sp.sample(n_lv * pool_factor * 4, rng), lv), n_lv - len(got))
                    if len(got) < n_lv:  # (nearly) every cell of this level is labelled: stop visiting it
                        spent.add(lv)
                    batch += got
        if len(batch) < want:  # the sampler keeps proposing labelled cells: top up at random
            batch += fresh(sp.sample(want * pool_factor * 4, rng), want - len(batch))
        if not batch:
            break
        label(batch)
        round_ += 1
    if bar is not None:
        bar.close()
    return history


def search_key(arch: ArchGraph, exact_objectives: Mapping[int, Callable[[Sequence[ArchGraph]], np.ndarray]] | None = None) -> str:
    """The de-duplication key of a search: ``arch.canonical_hash()``, plus the exact values of
    ``exact_objectives`` (``{column: archs -> n floats}``) when given.

    Equivalent cells (same canonical hash: the same function once dead paths are removed) can
    still differ in an exact cost, because ops on dead paths are built and counted; such
    twins are different points of a cost objective, so the key keeps them apart.
    """
    h = arch.canonical_hash()
    if not exact_objectives:
        return h
    vals = [float(np.asarray(exact_objectives[j]([arch]), dtype=float).reshape(-1)[0]) for j in sorted(exact_objectives)]
    return h + "|" + "|".join(repr(v) for v in vals)
