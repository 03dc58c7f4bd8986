"""One intra-op torch thread for work whose result must not depend on the machine.

Floating-point reductions split over threads sum in another order, so a model trained with two
threads differs from one trained with one, and a few hundred optimiser steps amplify that into
other samples and other picks: the same seed gave other architectures on a machine with more
cores, and a cached model kept the thread count of whichever process filled the cache. Every
fit, meta-training and sampling entry point therefore runs with one thread (the models are small:
more threads hardly speed them up) and restores the caller's count afterwards.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``; the caller's thread count is restored."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def single_threaded(fn: F) -> F:
    """Decorator: ``fn`` runs inside :func:`one_thread` (its signature is kept for introspection)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
