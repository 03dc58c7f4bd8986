"""Transfer tasks: meta-train on source metrics (tiny config), cache, zero-shot first label, search."""

from __future__ import annotations

import numpy as np
import pytest

from nagen.errors import NagenError, UnknownMetricError
from nagen.transfer import TransferTask

TINY = {"hidden": 16, "layers": 2, "heads": 2, "inducing": 4, "steps_per_epoch": 4, "query_size": 16}


def _task(tmp_path, seed=0):
    return TransferTask(
        ["cifar100_test", "imagenet16_test"], "cifar10_test", "nb201",
        seed=seed, epochs=1, cache_dir=tmp_path, meta_options=TINY,
    )


def test_transfer_search_caches_and_starts_from_the_zero_shot_argmax(tmp_path, nb201, monkeypatch):
    task = _task(tmp_path)
    study = task.search(budget=4)
    hist = study.history
    assert len(hist) == 4 and len({t.hash for t in hist}) == 4
    assert task.cache_path.is_file()
    # the first label is the argmax of the meta-prediction before any target label
    prop = task.proposer()
    ctx = study.context([])
    pool = prop.candidates(ctx)
    assert hist[0].arch == nb201.space.format(pool[int(np.argmax(prop.zero_shot(pool)))])
    # a second task with the same sources and seed loads the cached model instead of meta-training
    from nagen.predictors.meta import MetaPredictor

    def boom(*a, **k):
        raise AssertionError("meta-trained again despite the cache")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)
    again = _task(tmp_path).search(budget=4)
    assert [t.arch for t in again.history] == [t.arch for t in hist]  # deterministic


def test_transfer_task_validation(tmp_path):
    with pytest.raises(NagenError, match="also a source"):
        TransferTask(["cifar10_test"], "cifar10_test", cache_dir=tmp_path)
    with pytest.raises(UnknownMetricError, match="available metrics"):
        TransferTask(["cifar1000_test"], "cifar10_test", cache_dir=tmp_path)
