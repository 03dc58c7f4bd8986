"""A misspelled keyword of a public entry point is a named error listing the allowed ones."""

from __future__ import annotations

import inspect

import pytest

import nagen
from nagen.errors import InvalidArgumentError, UnknownOptionError


@pytest.mark.parametrize(
    "call, allowed",
    [
        (lambda: nagen.generate("nb201", n=2, seeds=1), "seed"),
        (lambda: nagen.TransferTask(["cifar100_test"], "cifar10_test", epoch=3), "epochs"),
        (lambda: nagen.pareto("nb201", budget=4, bogus=1), "opgfn"),
        (lambda: nagen.search("nb201", "cifar10_test", budget=2, surogate="gp"), "surrogate"),
    ],
)
def test_unknown_keyword_is_named(call, allowed) -> None:
    with pytest.raises(UnknownOptionError, match=allowed) as err:
        call()
    # still what Python's own check raises, and one of nagen's argument errors
    assert isinstance(err.value, TypeError) and isinstance(err.value, InvalidArgumentError)


def test_signatures_stay_readable() -> None:
    assert "guide_labels" in inspect.signature(nagen.generate).parameters
    assert list(inspect.signature(nagen.TransferTask).parameters)[:2] == ["sources", "target"]
    assert nagen.generate.__doc__.startswith("Generate")
