"""Uniform random sampling from the space: the baseline every generator must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nagen.generators import register
from nagen.generators.base import Generator
from nagen.generators.guidance import Guide
from nagen.graph import ArchGraph


@register("random")
class RandomGenerator(Generator):
    """Samples with the space's own sampler (``space.sample``); nothing to learn."""

    def fit(self, archs: Sequence[ArchGraph | str] | None = None, **options: Any) -> RandomGenerator:
        """No-op (kept for the protocol)."""
        return self

    def _sample(self, n: int, seed: int, guides: Sequence[Guide], **options: Any) -> list[ArchGraph]:
        out = self.space.sample(n, seed)
        self.last_stats.drawn += len(out)
        return out
