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
* **Active loop** (``opgfn_search``): label random cells, then repeat: refit the order reward
  and the GFlowNet (warm-started) on every label so far, sample a pool, label the first
  ``batch_size`` cells not labelled before (``canonical_hash``).

>>> gen = OPGFNGenerator("nb201", seed=0).fit(archs, values)        # doctest: +SKIP
>>> gen.sample(10)                                                  # doctest: +SKIP
>>> history = opgfn_search("nb201", objective, budget=100, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Container, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import InvalidArchitectureError, InvalidTrainingDataError, NagenError, NotFittedError
from nagen.generators import register
from nagen.generators.base import Generator
from nagen.generators.guidance import Guide
from nagen.graph import ArchGraph

__all__ = ["OPGFNGenerator", "UnsupportedSpaceError", "opgfn_search", "RewardModel"]

_REWARDS = ("order", "raw", "uniform")
#: ``log R`` of an invalid terminal (variable-DAG spaces whose rules the masks may not cover)
_INVALID_LOG_REWARD = -25.0


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
    """``states [B, L] long`` -> ``[B, V]`` bool: ops allowed at each state's next slot."""
    n_ops = len(space.ops)
    if space.name == "mbv3":
        from nagen.spaces.mbv3 import DEPTHS, SKIP, SLOTS_PER_STAGE

        skip = space.ops.index(SKIP)

        def mbv3_mask(states: torch.Tensor) -> torch.Tensor:
            t = (states >= 0).sum(-1)  # [B] next slot
            j = t % SLOTS_PER_STAGE  # [B] block within the stage
            prev = states.gather(1, (t - 1).clamp(min=0)[:, None])[:, 0]  # [B]
            mask = torch.ones(len(states), n_ops, dtype=torch.bool)
            mask[j < min(DEPTHS), skip] = False  # a stage has at least min(DEPTHS) blocks
            only_skip = (j >= min(DEPTHS)) & (prev == skip)  # skip is followed by skip
            mask[only_skip] = False
            mask[only_skip, skip] = True
            return mask

        return mbv3_mask

    def all_ops(states: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(states), n_ops, dtype=torch.bool)

    return all_ops


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
    """State ``[B, L]`` (slot ops, ``-1`` unset; float or long) -> ``[B, out]`` logits."""

    def __init__(self, n_slots: int, n_ops: int, out: int, hidden: int) -> None:
        super().__init__()
        self.n_slots, self.n_ops = n_slots, n_ops
        self.input_dim = n_slots * (n_ops + 1)
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        x = nn.functional.one_hot(states.long() + 1, self.n_ops + 1).float()  # [B, L, V+1]
        return self.net(x.flatten(1))


class RewardModel(nn.Module):
    """``f``: slot ops ``[B, L]`` long -> ``[B]`` score (an MLP on the flattened one-hots)."""

    def __init__(self, n_slots: int, n_ops: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_ops = n_ops
        self.net = nn.Sequential(
            nn.Linear(n_slots * n_ops, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        x = nn.functional.one_hot(slots.long(), self.n_ops).float()  # [B, L, V]
        return self.net(x.flatten(1))[:, 0]


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

    Raises:
        UnsupportedSpaceError: ``engine="torchgfn"`` with a variable-topology space.
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
    ) -> None:
        super().__init__(space, seed=seed)
        if not self.space.fixed_topology and engine == "torchgfn":
            raise UnsupportedSpaceError(
                f"engine='torchgfn' supports fixed-topology spaces only; space {self.space.name!r} has "
                "variable topology: use engine='torch' (the default)"
            )
        if reward not in _REWARDS:
            raise ValueError(f"reward must be one of {_REWARDS}, got {reward!r}")
        if int(subset_size) < 2:
            raise ValueError(f"subset_size must be >= 2, got {subset_size!r}")
        self.reward_kind = reward
        self.beta = float(beta)
        self.subset_size = int(subset_size)
        self.hidden, self.reward_hidden = int(hidden), int(reward_hidden)
        self.gfn_steps, self.reward_steps = int(gfn_steps), int(reward_steps)
        self.trajectories, self.epsilon, self.lr = int(trajectories), float(epsilon), float(lr)
        self.warm_start = bool(warm_start)
        if engine not in ("torch", "torchgfn"):
            raise ValueError(f"engine must be 'torch' or 'torchgfn', got {engine!r}")
        self.engine = engine
        if pareto_order not in ("dominance", "rank"):
            raise ValueError(f"pareto_order must be 'dominance' or 'rank', got {pareto_order!r}")
        self.pareto_order = pareto_order
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
        self._log_reward: Callable[[torch.Tensor], torch.Tensor] = lambda s: torch.zeros(len(s))
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

    # ------------------------------------------------------------------ model pieces
    def _build(self) -> None:
        self._policy = _PolicyMLP(self.n_slots, self.n_tokens, self.n_out, self.hidden)
        self._logZ = nn.Parameter(torch.zeros(()))
        self._gfn = self._env = None
        if self.engine == "torchgfn":
            from gfn.estimators import DiscretePolicyEstimator
            from gfn.gflownet import TBGFlowNet
            from gfn.preprocessors import IdentityPreprocessor

            self._env = _env_class()(self.n_slots, self.n_ops, self._op_mask)
            self._env.log_reward_fn = lambda s: self._log_reward(s)
            pf = DiscretePolicyEstimator(self._policy, self._env.n_actions, IdentityPreprocessor(output_dim=self.n_slots))
            self._gfn = TBGFlowNet(pf=pf, pb=None, constant_pb=True, logZ=self._logZ)

    # ------------------------------------------------------------------ hand-written tree TB
    def _step_log_probs(self, states: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` states with a free slot -> ``[B, V]`` masked log-probabilities of its op.

        The exit action (``V``) is never allowed before every slot is set, and is the only
        action once they are, so it contributes ``log 1 = 0`` and is left out.
        """
        logits = self._policy(states)[:, : self.n_ops]  # [B, V]
        return torch.log_softmax(logits.masked_fill(~self._op_mask(states), float("-inf")), -1)

    def _masked_log_probs(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Variable DAG: ``[B, D]`` states, ``[B, A]`` allowed actions -> ``[B, A]`` log-probabilities."""
        return torch.log_softmax(self._policy(states).masked_fill(~mask, float("-inf")), -1)

    def _rollout(self, n: int, gen: torch.Generator, epsilon: float = 0.0) -> torch.Tensor:
        """``n`` terminal states ``[n, L]`` sampled from ``P_F`` (epsilon-uniform over allowed ops)."""
        if self._dag is not None:
            return self._rollout_dag(n, gen, epsilon)
        states = torch.full((n, self.n_slots), -1, dtype=torch.long)  # [n, L]
        with torch.no_grad():
            for t in range(self.n_slots):
                probs = self._step_log_probs(states).exp()  # [n, V]
                if epsilon > 0:
                    allowed = self._op_mask(states).float()  # [n, V]
                    probs = (1 - epsilon) * probs + epsilon * allowed / allowed.sum(-1, keepdim=True)
                states[:, t] = torch.multinomial(probs, 1, generator=gen)[:, 0]
        return states

    def _rollout_dag(self, n: int, gen: torch.Generator, epsilon: float) -> torch.Tensor:
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
                    probs = self._masked_log_probs(states, mask).exp()  # [n, A]
                    if epsilon > 0:
                        allowed = mask.float()
                        probs = (1 - epsilon) * probs + epsilon * allowed / allowed.sum(-1, keepdim=True)
                    a = torch.multinomial(probs, 1, generator=gen)[:, 0]
                states[:, t] = a
                dag.update(st, t, a)
        return states

    def _trajectory_log_pf(self, slots: torch.Tensor) -> torch.Tensor:
        """``sum_t log P_F(a_t | s_t)`` along the one trajectory of each ``[B, L]`` terminal state -> ``[B]``."""
        B, L = slots.shape
        if self._dag is not None:
            masks = self._dag.masks(slots)  # [B, D, A]
            keep = torch.arange(L)[None, :] < torch.arange(L)[:, None]  # [L, L] step t sees decisions < t
            prefixes = torch.where(keep[None], slots[:, None, :], torch.full_like(slots[:, None, :], -1))
            lp = self._masked_log_probs(prefixes.reshape(B * L, L), masks.reshape(B * L, -1))  # [B*L, A]
            # forced steps give log 1 = 0; an action the masks forbid gives -inf (unreachable)
            return lp.gather(1, slots.reshape(B * L, 1)).reshape(B, L).sum(-1)
        keep = torch.arange(L)[None, :] < torch.arange(L)[:, None]  # [L, L] step t sees slots < t
        prefixes = torch.where(keep[None], slots[:, None, :], torch.full_like(slots[:, None, :], -1))  # [B, L, L]
        lp = self._step_log_probs(prefixes.reshape(B * L, L))  # [B*L, V]
        return lp.gather(1, slots.reshape(B * L, 1)).reshape(B, L).sum(-1)

    def _fit_reward(
        self, slots: torch.Tensor, values: np.ndarray, directions: list[str], gen: torch.Generator, steps: int
    ) -> None:
        """Train ``f`` (order: listwise OP loss on comparisons; raw: MSE on values)."""
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
        if self.pareto_order == "rank" and values.shape[1] > 1:
            from nagen.multiobjective import pareto_ranks

            ranks = pareto_ranks(values, directions)  # [n] non-dominated sorting of all labels
            beats = torch.as_tensor(ranks[:, None] < ranks[None, :])  # [n, n]
        else:
            beats = torch.as_tensor(dominance_matrix(values, directions))  # [n, n]
        m = min(self.subset_size, n)
        for _ in range(steps):
            # 64 random subsets of m distinct labelled archs
            sub = torch.rand(64, n, generator=gen).argsort(-1)[:, :m]  # [64, m]
            loss = order_preserving_loss(model(slots[sub.flatten()]).view(64, m), beats[sub[:, :, None], sub[:, None, :]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses["reward"].append(loss.item())

    def _make_log_reward(self, slots: torch.Tensor, beta: float) -> Callable[[torch.Tensor], torch.Tensor]:
        """``log R`` of terminal states ``[B, L] -> [B]`` from the fitted reward model."""
        if self.reward_kind == "uniform" or self._reward_model is None:
            return lambda s: torch.zeros(len(s))
        model = self._reward_model
        with torch.no_grad():
            f_lab = model(slots)  # [n]
        if self.reward_kind == "raw":
            mu, sd, y_max = self._raw_scale
            # R = (pred / y_max)^beta (dividing by a constant leaves the target distribution as
            # it is but keeps log R near 0, where log Z starts); unshifted, beta * log(pred) is in
            # the hundreds and TB spends its steps moving log Z instead of the policy
            log_top = math.log(max(y_max, 1e-6))

            def raw(s: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return beta * (torch.log((model(s) * sd + mu).clamp(min=1e-6)) - log_top)

            return raw
        top, scale = float(f_lab.max()), float(f_lab.std().clamp(min=1e-6)) if len(f_lab) > 1 else 1.0

        def order(s: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return beta * (model(s) - top) / scale

        return order

    def _guard_validity(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Variable DAG with masks that may miss some of the space's rules: ``log R`` of an
        invalid terminal is ``_INVALID_LOG_REWARD`` (reward ~ 0), so TB learns to avoid it."""
        if self._dag is None or self._exact_masks:
            return fn

        def guarded(s: torch.Tensor) -> torch.Tensor:
            ok = torch.tensor([self.space.is_valid(self._to_arch(row.tolist())) for row in s], dtype=torch.bool)
            return torch.where(ok, fn(s), torch.full((len(s),), _INVALID_LOG_REWARD))

        return guarded

    def _train_gfn(self, steps: int, progress: bool, gen: torch.Generator) -> None:
        opt = torch.optim.Adam(
            [{"params": list(self._policy.parameters()), "lr": self.lr}, {"params": [self._logZ], "lr": 100 * self.lr}]
        )
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"fit opgfn ({self.reward_kind})", leave=False)
        for _ in range(steps):
            if self.engine == "torchgfn":
                traj = self._gfn.sample_trajectories(self._env, n=self.trajectories, epsilon=self.epsilon)
                loss = self._gfn.loss(self._env, traj, recalculate_all_logprobs=True)
            else:
                # trajectory balance on a tree (P_B = 1): (log Z + sum_t log P_F - log R(x))^2
                x = self._rollout(self.trajectories, gen, self.epsilon)  # [T, L] off-policy when epsilon > 0
                loss = (self._logZ + self._trajectory_log_pf(x) - self._log_reward(x)).pow(2).mean()
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
                ``None``: uniform reward over the space (plain GFlowNet).
            directions: ``"max"``/``"min"`` per column (default: all ``"max"``).
            progress: show a tqdm bar for the GFlowNet training.
            options: overrides of constructor settings for this fit (``gfn_steps``,
                ``reward_steps``, ``beta``).

        Raises:
            InvalidTrainingDataError: lengths disagree, fewer than 2 usable rows, or
                ``reward="raw"`` with several (or minimised) objectives.
        """
        gfn_steps = int(options.pop("gfn_steps", self.gfn_steps))
        reward_steps = int(options.pop("reward_steps", self.reward_steps))
        beta = float(options.pop("beta", self.beta))
        if options:
            raise TypeError(f"unknown fit options {sorted(options)}; allowed: gfn_steps, reward_steps, beta, progress")
        data = None if values is None else self._check_data(archs, values, directions)
        # torchgfn samples with torch's global generator: seed it inside a fork so the
        # caller's global random state is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            if self._policy is None or not self.warm_start:
                self._build()
            if data is None:
                slots = torch.zeros(0, self.n_slots, dtype=torch.long)
                self._reward_model = None
            else:
                slots, vals, dirs = data
                if self.reward_kind != "uniform":
                    self._fit_reward(slots, vals, dirs, gen, reward_steps)
            self._log_reward = self._guard_validity(self._make_log_reward(slots, beta))
            self._train_gfn(gfn_steps, progress, gen)
        self.fitted = True
        return self

    def _check_data(
        self, archs: Sequence[ArchGraph | str] | None, values: Any, directions: Sequence[str] | None
    ) -> tuple[torch.Tensor, np.ndarray, list[str]]:
        from nagen.multiobjective import check_directions

        if archs is None:
            raise InvalidTrainingDataError("values were given without the architectures they label")
        archs = list(archs)
        vals = np.asarray(values, dtype=float)
        vals = vals[:, None] if vals.ndim == 1 else vals
        if vals.ndim != 2 or len(vals) != len(archs):
            raise InvalidTrainingDataError(
                f"values must be n or n x k with n = {len(archs)} architectures, got shape {np.shape(values)}"
            )
        dirs = check_directions(directions if directions is not None else ["max"] * vals.shape[1])
        if len(dirs) != vals.shape[1]:
            raise InvalidTrainingDataError(f"{len(dirs)} directions for {vals.shape[1]} value columns")
        if self.reward_kind == "raw" and vals.shape[1] > 1:
            raise InvalidTrainingDataError(
                f"reward='raw' takes one objective, got {vals.shape[1]} value columns; use reward='order' for Pareto orders"
            )
        if self.reward_kind == "raw" and dirs[0] != "max":
            raise InvalidTrainingDataError("reward='raw' needs a maximised, positive objective (reward = value^beta)")
        ok = ~np.isnan(vals).any(1)
        if ok.sum() < 2:
            raise InvalidTrainingDataError(f"need at least 2 labelled architectures without NaN, got {int(ok.sum())}")
        keep = [a for a, k in zip(archs, ok) if k]
        return self.slots(keep), vals[ok], dirs

    def _require_fit(self) -> None:
        if not self.fitted:
            raise NotFittedError("OPGFNGenerator: call fit() (with or without labels) before sampling")

    def _sample(self, n: int, seed: int, guides: Sequence[Guide], **options: Any) -> list[ArchGraph]:
        self._require_fit()
        if n == 0:
            return []
        if self.engine == "torchgfn":
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(seed)
                final = self._gfn.sample_trajectories(self._env, n=n, **options).terminating_states.tensor  # [n, L]
        else:
            final = self._rollout(n, torch.Generator().manual_seed(seed), float(options.get("epsilon", 0.0)))
        out = [self._to_arch(row.tolist()) for row in final]
        self.last_stats.drawn += len(out)
        valid = []
        for a in out:
            try:
                valid.append(self.space.validate(a))
            except InvalidArchitectureError as e:
                self.last_stats.invalid += 1
                key = f"violates the space's rules ({type(e).__name__})"
                self.last_stats.reasons[key] = self.last_stats.reasons.get(key, 0) + 1
        return valid

    # ------------------------------------------------------------------ inspection
    def log_probs(self, archs: Sequence[ArchGraph | str]) -> np.ndarray:
        """``log P(x)`` under the trained sampler (``n`` floats; ``-inf`` for unreachable ones).

        The construction DAG is a tree, so ``P(x)`` is the product of the forward policy along
        ``x``'s one trajectory, exit included (variable DAGs: along its fixed decision order).
        """
        self._require_fit()
        with torch.no_grad():
            return self._trajectory_log_pf(self.slots(archs)).numpy().astype(float)

    def log_reward(self, archs: Sequence[ArchGraph | str]) -> np.ndarray:
        """The GFlowNet's training target ``log R`` of ``archs`` (``n`` floats)."""
        self._require_fit()
        return self._log_reward(self.slots(archs)).numpy().astype(float)

    def score(self, archs: Sequence[ArchGraph | str]) -> np.ndarray:
        """The learned order score ``f`` of ``archs`` (higher = better ranked), ``n`` floats."""
        if self._reward_model is None:
            raise NotFittedError("no reward model: fit() with values first")
        with torch.no_grad():
            return self._reward_model(self.slots(archs)).numpy().astype(float)


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
    progress: bool = False,
    **generator_options: Any,
) -> list[tuple[ArchGraph, np.ndarray]]:
    """Active OP-GFN: label a batch, update the order, refit, sample the next batch; repeat.

    Args:
        space: a space (or name), fixed topology or variable DAG.
        objective: labels a list of architectures: ``len(archs)`` (one objective) or
            ``len(archs) x k`` values; NaN marks a failed label (kept in the history, not trained on).
        budget: number of labels; each is a new canonical architecture (``canonical_hash``).
        seed: same seed, same run.
        batch_size: labels per round after the first.
        n_init: uniformly random labels of the first round.
        directions: ``"max"``/``"min"`` per objective column (default: all ``"max"``).
        exclude: canonical hashes never to propose (already labelled elsewhere).
        pool_factor: samples drawn per wanted label, before removing already-labelled ones.
        select: ``"sample"`` labels the first new cells in sampling order (pure GFlowNet
            sampling); ``"top"`` labels the new cells of the pool with the highest learned score
            (GFlowNet as proposal distribution, then a greedy pick, as in Jain et al. 2022).
        refit_gfn_steps, refit_reward_steps: training steps of every fit after the first
            (the networks are warm-started, so a refit only has to follow the updated order).
        progress: show a tqdm bar over labels.
        generator_options: passed to ``OPGFNGenerator`` (``reward``, ``beta``, ``gfn_steps``, ...).

    Returns:
        ``[(arch, values[k]), ...]`` in label order (``k = 1`` for one objective).
    """
    import nagen.spaces

    sp = nagen.spaces.get(space)
    if select not in ("sample", "top"):
        raise ValueError(f"select must be 'sample' or 'top', got {select!r}")
    gen = OPGFNGenerator(sp, seed=seed, **generator_options)
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    history: list[tuple[ArchGraph, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget, desc="opgfn search", leave=False)

    def unseen(cands: Sequence[ArchGraph]) -> list[ArchGraph]:
        """``cands`` minus labelled (or excluded) cells and repeats, in order."""
        out: list[ArchGraph] = []
        mine: set[str] = set()
        for a in cands:
            h = a.canonical_hash()
            if h not in seen and h not in exclude and h not in mine:
                mine.add(h)
                out.append(a)
        return out

    def fresh(cands: Sequence[ArchGraph], want: int) -> list[ArchGraph]:
        out = unseen(cands)[:want]
        seen.update(a.canonical_hash() for a in out)
        return out

    def label(batch: list[ArchGraph]) -> None:
        vals = np.asarray(objective(batch), dtype=float).reshape(len(batch), -1)
        history.extend((a, v) for a, v in zip(batch, vals))
        if bar is not None:
            bar.update(len(batch))

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
            pool = gen.sample(want * pool_factor, seed=seed * 100_003 + round_)
            if select == "top" and gen._reward_model is not None:
                pool = unseen(pool)
                if pool:
                    pool = [pool[k] for k in np.argsort(-gen.score(pool), kind="stable")]
            batch = fresh(pool, want)
        if len(batch) < want:  # the sampler keeps proposing labelled cells: top up at random
            batch += fresh(sp.sample(want * pool_factor * 4, rng), want - len(batch))
        if not batch:
            break
        label(batch)
        round_ += 1
    if bar is not None:
        bar.close()
    return history
