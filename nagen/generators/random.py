"""Uniform random sampling from the space: the baseline every generator must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nagen.errors import InvalidArgumentError
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
        if options:  # e.g. steps=: a diffusion option, which would otherwise be ignored without a word
            raise InvalidArgumentError(f"the random generator takes no sampling options, got {sorted(options)}")
        out = self.space.sample(n, seed)
        self.last_stats.drawn += len(out)
        return out
