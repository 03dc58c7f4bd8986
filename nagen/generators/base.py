"""The ``Generator`` protocol: learn a space's architecture distribution, then sample from it.

The base class validates the request (``n``, guides belong to this space) and applies the
hard filters of guides after sampling, so no generator can skip them (generators that cannot be
steered still take hard constraints, as filters only); subclasses implement
``fit`` and ``_sample``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nagen.errors import InvalidArgumentError, InvalidGuidanceError, check_int
from nagen.generators.guidance import Guide
from nagen.graph import ArchGraph
from nagen.spaces.base import SearchSpace
from nagen._threads import single_threaded

__all__ = ["Generator", "SampleStats"]


def torch_seed(seed: int) -> int:
    """``seed`` folded into the range ``torch.Generator.manual_seed`` accepts (unchanged below 2**64).

    Generators derive per-batch seeds as ``seed * k + j``; numpy takes any size of integer, torch
    overflows past 64 bits, so a large seed (e.g. ``time.time_ns()``) must not crash sampling.
    Torch's CPU generator then uses the low 32 bits: user-facing entry points hash seeds of 2**32
    and more first (:func:`user_seed`), so seeds 0 and 2**32 do not sample alike.
    """
    return int(seed) % 2**64


def user_seed(seed: int) -> int:
    """A user's seed as generators take it: unchanged below 2**32, else hashed (NumPy's
    ``SeedSequence``) into 32 bits, since torch keeps only a seed's low 32 bits."""
    seed = int(seed)
    if 0 <= seed < 2**32:
        return seed
    return int(np.random.SeedSequence(abs(seed)).generate_state(1)[0])


#: ``unique=True`` asks above this many are checked against the space's distinct architectures (enumerated once)
_DISTINCT_CHECK_FROM = 1000


def check_unique_count(space: SearchSpace, n: int, unique: Any) -> None:
    """Refuse ``unique`` that is not a bool, and ``unique=True`` with more than the space's ``size``
    architectures: otherwise every round redraws ever more duplicates (seconds to minutes) to return
    what could be known at once, that a space cannot hold ``n`` distinct architectures.

    Raises:
        InvalidArgumentError: either case.
    """
    if not isinstance(unique, (bool, np.bool_)):
        raise InvalidArgumentError(f"unique must be True or False, got {unique!r}")
    size = getattr(space, "size", None)
    if not unique or not isinstance(size, (int, np.integer)):
        return
    if n > size:
        raise InvalidArgumentError(
            f"space {space.name!r} has only {size:,} architectures, so unique=True cannot return {n:,}; "
            f"ask for at most {size:,} (equivalent ones count once, so possibly fewer come back)"
        )
    if n > _DISTINCT_CHECK_FROM:
        # equivalent cells count once: NB201's 15,625 cells hold 8,765 distinct ones, and asking for 9,000
        # spent every redraw round (hours with diffusion) on what enumeration tells at once
        from nagen.study import _enumerated

        classes = _enumerated(space)
        if classes is not None and n > len(classes[0]):
            raise InvalidArgumentError(
                f"space {space.name!r} has {size:,} architectures but only {len(classes[0]):,} distinct ones "
                f"(equivalent architectures count once), so unique=True cannot return {n:,}; ask for at most {len(classes[0]):,}"
            )


def arch_list(archs: Any, space: SearchSpace, error: type[Exception], what: str = "archs") -> list[Any]:
    """``archs`` as a list, or ``error`` saying it must be a sequence of architectures of
    ``space`` (a lone architecture or string would be iterated item by item, a number not at all)."""
    if isinstance(archs, (str, ArchGraph)):
        raise error(f"{what} must be a sequence of architectures, got one {type(archs).__name__}; wrap it in a list")
    try:
        return list(archs)
    except TypeError:
        raise error(
            f"{what} must be a sequence of architectures (ArchGraph objects or strings of space {space.name!r}), "
            f"got {type(archs).__name__} {archs!r}"
        ) from None


@dataclass
class SampleStats:
    """What happened in the last ``sample`` call.

    Attributes:
        drawn: raw samples drawn from the model.
        invalid: drawn samples that did not decode to a valid architecture.
        reasons: rejection reason -> count (decoding errors, failed hard constraints).
        filtered: valid samples dropped by hard guides.
        duplicates: valid samples dropped as equivalent (same canonical hash) to one already
            returned by the call (``sample(..., unique=True)``).
        repaired: drawn samples whose edge count was cut to the space's ``max_edges``.
        seconds: wall time of the call.
    """

    drawn: int = 0
    invalid: int = 0
    filtered: int = 0
    duplicates: int = 0
    repaired: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def validity(self) -> float:
        """Share of drawn samples that decoded to valid architectures."""
        return 1.0 - self.invalid / self.drawn if self.drawn else float("nan")


class Generator(ABC):
    """Samples architectures of one space.

    Args:
        space: the space (or its registered name).
        seed: default seed of fitting and sampling, a non-negative integer.
    """

    #: True when ``sample`` accepts guides
    supports_guidance: ClassVar[bool] = False

    def __init__(self, space: SearchSpace | str, *, seed: int = 0) -> None:
        import nagen.spaces

        self.space = nagen.spaces.get(space)
        self.seed = check_int(seed, "seed")  # int() would silently truncate 1.5 and accept True
        self.last_stats = SampleStats()

    @abstractmethod
    def fit(self, archs: Sequence[ArchGraph | str] | None = None, **options: Any) -> Generator:
        """Learn the distribution of ``archs`` (default: the whole space, or a large sample of it)."""

    @abstractmethod
    def _sample(self, n: int, seed: int, guides: Sequence[Guide], **options: Any) -> list[ArchGraph]:
        """Draw up to ``n`` valid architectures (recording ``self.last_stats``)."""

    @single_threaded
    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        guides: Sequence[Guide] = (),
        max_rounds: int = 20,
        unique: bool = False,
        **options: Any,
    ) -> list[ArchGraph]:
        """``n`` valid architectures (fewer only if ``max_rounds`` of drawing could not find them).

        Args:
            n: how many.
            seed: sampling seed (default: the generator's seed); same seed, same output.
            guides: guidance terms. Hard guides (constraints) also filter the samples; generators
                without guidance support apply hard guides as filters only and refuse soft ones.
            max_rounds: redraw rounds allowed to replace invalid or filtered samples, ``>= 1``.
            unique: no two returned architectures equivalent (canonical hash); duplicates are
                redrawn like rejected samples, so a sharply peaked model may return fewer than ``n``.

        Raises:
            InvalidArgumentError: ``n``, ``seed`` or ``max_rounds`` is not an integer in range, or
                ``unique`` with ``n`` above the space's size.
            InvalidGuidanceError: a guide is not a ``Guide``, predicts another space, or is soft
                for a generator without guidance support.
        """
        n = check_int(n, "n")
        check_int(max_rounds, "max_rounds", 1)  # 0 rounds would silently return nothing
        check_unique_count(self.space, n, unique)
        size = getattr(self.space, "size", None)
        # torch keeps a seed's low 32 bits: hashed first, so seeds 0 and 2**32 do not sample alike
        base_seed = user_seed(self.seed if seed is None else check_int(seed, "seed"))
        if guides is None or isinstance(guides, Guide):
            got = "one Guide (wrap it in a list)" if isinstance(guides, Guide) else "None"
            raise InvalidGuidanceError(f"guides must be a list of nagen Guide objects, got {got}")
        guides = list(guides)
        for g in guides:
            if not isinstance(g, Guide):
                raise InvalidGuidanceError(f"guides must be nagen Guide objects, got {type(g).__name__}")
            # equal, not only identical: a custom space copied with its predictor compares by spec
            if g.predictor.space != self.space:
                raise InvalidGuidanceError(
                    f"guide {g.name or type(g.predictor).__name__!r} predicts for space {g.predictor.space.name!r}, "
                    f"but this generator samples space {self.space.name!r}"
                )
        steer = guides
        if guides and not self.supports_guidance:
            soft = [g.name or type(g.predictor).__name__ for g in guides if not g.hard]
            if soft:
                raise InvalidGuidanceError(
                    f"{type(self).__name__} does not support guidance (got guides {soft}); use method 'diffusion' "
                    "(steered by a predictor's gradient) or, with nagen.generate, 'opgfn' (guide metric names: a reward "
                    "learned from their order), or pass only hard constraints, which every generator applies as filters"
                )
            steer = []  # hard constraints only: this generator cannot be steered, so they act as filters
        import time

        t0 = time.perf_counter()
        self.last_stats = SampleStats()
        out: list[ArchGraph] = []
        seen: set[str] = set()
        hard = [g for g in guides if g.hard]
        for r in range(max_rounds):
            if len(out) >= n or (unique and isinstance(size, int) and len(seen) >= size):
                break
            need = n - len(out)
            # oversample after the first round, when we know some will be rejected: twice what is
            # missing, more when duplicates are being dropped (a peaked model repeats most draws)
            ask = need if r == 0 else max(need * 2, 16)
            if unique and self.last_stats.duplicates:
                ask = min(max(ask, 2 * need * (len(out) + self.last_stats.duplicates) // max(len(out), 1)), 100 * max(n, 16))
            batch = self._sample(ask, base_seed + 7919 * r, steer, **options)
            for g in hard:
                if not batch:
                    break
                ok = g.satisfied(g.predictor.predict(batch).mean)
                dropped = int((~ok).sum())
                if dropped:
                    key = f"violates {g.name or 'constraint'} {g.target} {g.value}"
                    self.last_stats.reasons[key] = self.last_stats.reasons.get(key, 0) + dropped
                    self.last_stats.filtered += dropped
                batch = [a for a, keep in zip(batch, ok) if keep]
            if unique:
                fresh = []
                for a in batch:
                    h = a.canonical_hash()
                    if h in seen:
                        self.last_stats.duplicates += 1
                    else:
                        seen.add(h)
                        fresh.append(a)
                batch = fresh
            out.extend(batch[: n - len(out)])
        self.last_stats.seconds = time.perf_counter() - t0
        return out
