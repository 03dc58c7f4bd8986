"""TransferTask.generate review: meta-training progress, unknown options, duplicate target labels."""

from __future__ import annotations

import warnings

import pytest

import nagen
from nagen.errors import InvalidArchitectureError, InvalidArgumentError, InvalidSpecError, UnknownOptionError
from nagen.predictors.meta import MetaPredictor
from nagen.transfer import TransferTask

# meta-trains in about a second (as in test_transfer_generate.py)
SMALL = {"hidden": 32, "layers": 2, "steps_per_epoch": 8}
SOURCES = ["cifar100_test", "imagenet16_test"]
A = "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
# A with another op on the edge 0->1: node 1 feeds nothing (its out-edges are none), so the same network
A_EQUIVALENT = "|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
B = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
C = "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def _task(tmp_path) -> TransferTask:
    """A task whose meta-predictor is not trained yet (a fresh cache folder)."""
    return TransferTask(SOURCES, "cifar10_test", "nb201", epochs=2, cache_dir=tmp_path, meta_options=SMALL)


@pytest.fixture
def no_meta_training(monkeypatch):
    """Any meta-training fails the test: refusals must come before the ~45 s of work."""

    def boom(*a, **k):
        raise AssertionError("meta-trained before the request was checked")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)


def _meta_training_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "meta-training" in str(w.message)]


# ------------------------------------------------------------------ 1. progress of the meta-training
def test_progress_shows_a_meta_training_bar_on_first_use_only(tmp_path, capsys):
    task = _task(tmp_path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = task.generate(3, seed=0, progress=True)
    assert len(res) == 3
    assert "meta-fit (2 tasks)" in capsys.readouterr().err  # the tqdm bar of MetaPredictor.meta_fit
    assert not _meta_training_warnings(record)  # a bar was asked for: no warning on top of it
    task.generate(3, seed=0, progress=True)  # the model is held now: nothing to train, no bar
    assert "meta-fit" not in capsys.readouterr().err


def test_without_progress_the_first_meta_training_warns_and_a_cached_model_does_not(tmp_path, capsys):
    with pytest.warns(UserWarning, match=r"meta-training .* 2 source task\(s\).*progress=True"):
        _task(tmp_path).generate(3, seed=0)
    assert "meta-fit" not in capsys.readouterr().err  # progress defaults to False, as nagen.generate's
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _task(tmp_path).generate(3, seed=0)  # a new task loads the model cached on disk: no training, no warning
    assert not _meta_training_warnings(record)


def test_generate_progress_default_matches_nagen_generate():
    import inspect

    default = lambda f: inspect.signature(f).parameters["progress"].default  # noqa: E731
    assert default(TransferTask.generate) is default(nagen.generate) is False


def test_nagen_generate_transfer_from_passes_progress_to_the_meta_training(tmp_path, monkeypatch):
    seen = []
    real = MetaPredictor.meta_fit

    def spy(self, tasks, epochs=30, progress=False):
        seen.append(progress)
        return real(self, tasks, epochs=epochs, progress=progress)

    monkeypatch.setattr(MetaPredictor, "meta_fit", spy)
    assert len(nagen.generate("nb201", 2, guide="cifar10_test", transfer_from=_task(tmp_path), progress=True)) == 2
    assert seen == [True]


# ------------------------------------------------------------------ 2. unknown options
def test_unknown_option_is_a_named_error_listing_the_allowed_ones(tmp_path, no_meta_training):
    task = _task(tmp_path)
    with pytest.raises(UnknownOptionError) as info:
        task.generate(3, stpes=5)
    err = info.value
    assert isinstance(err, InvalidArgumentError) and isinstance(err, TypeError)  # old `except TypeError` still works
    msg = str(err)
    assert "['stpes']" in msg and "did you mean 'steps'" in msg
    for allowed in ("steps", "guide_labels", "constraint_scale", "device_samples", "generator", "benchmark",
                    "labels", "scale", "constraints", "seed", "unique", "progress"):  # fmt: skip
        assert repr(allowed) in msg
    assert "'transfer_from'" not in msg.split("options are")[1]  # the task's own, never forwarded
    with pytest.raises(UnknownOptionError, match=r"\['bogus', 'labls'\].*'labls' -> did you mean 'labels'"):
        task.generate(0, labls={}, bogus=1)  # even for n=0, and every unknown name is listed
    # guide/method/transfer_from keep their own explanation
    with pytest.raises(InvalidSpecError, match="takes no guide"):
        task.generate(3, guide="cifar10_test")


def test_forwarded_options_are_still_taken(tmp_path):
    res = _task(tmp_path).generate(4, seed=1, steps=5, unique=True)
    assert len(res) == 4


# ------------------------------------------------------------------ 3. duplicate target labels
@pytest.mark.parametrize(
    "labels, equivalent",
    [
        ([(A, 70.0), (B, 90.0), (A, 71.0)], False),  # the same string twice
        ({A: 70.0, A_EQUIVALENT: 72.0, B: 90.0}, True),  # two strings, one network
        ("graph_and_string", False),  # an ArchGraph and its own string as two dict keys
        ("same_graph_twice", False),
    ],
)
def test_duplicate_labels_are_refused_naming_the_architecture(tmp_path, no_meta_training, labels, equivalent):
    space = nagen.spaces.get("nb201")
    if labels == "graph_and_string":
        labels = {space.parse(A): 70.0, A: 70.0, B: 90.0}
    elif labels == "same_graph_twice":
        labels = [(space.parse(A), 70.0), (space.parse(B), 90.0), (space.parse(A), 70.0)]
    task = _task(tmp_path)
    with pytest.raises(InvalidSpecError) as info:
        task.generate(3, labels=labels)
    msg = str(info.value)
    assert "more than once" in msg and repr(A) in msg and "2 times" in msg
    assert repr(B) not in msg  # only the repeated one is named
    assert ("equivalent" in msg and repr(A_EQUIVALENT) in msg) == equivalent
    with pytest.raises(InvalidSpecError, match="more than once"):
        task.guide_predictor(labels)  # the public adaptation refuses them too


def test_distinct_labels_with_equivalent_free_keys_adapt(tmp_path, nb201):
    task = _task(tmp_path)
    space = nagen.spaces.get("nb201")
    labels = {A: 70.0, space.parse(B): 90.0, C: 80.0}  # strings and graphs mixed, all different networks
    res = task.generate(3, labels=labels, seed=0)
    assert len(res) == 3 and res.labels_used == 0
    assert task.guide_predictor(labels).y_std > 1.0  # fitted in the target's units


def test_invalid_label_architecture_is_refused_before_meta_training(tmp_path, no_meta_training):
    with pytest.raises(InvalidArchitectureError, match="labels: 'not a cell'"):
        _task(tmp_path).generate(3, labels={"not a cell": 1.0, B: 2.0})


def _pixel3(arch):
    import nagen.benchmarks

    return nagen.benchmarks.load("nb201").query(arch, "lat_pixel3_ms")


def test_a_users_labeller_of_a_minimised_target_is_minimised_and_fixed_options_are_named() -> None:
    """With a CallableLabeller the study took the labeller's default 'max' for a latency target."""
    from nagen.errors import InvalidArgumentError
    from nagen.labellers import CallableLabeller
    from nagen.transfer import TransferTask

    task = TransferTask(["lat_pixel2_ms"], "lat_pixel3_ms", gp={"w0": 1, "sw": 0, "sf": 1, "l": 2, "sn": 0.3})
    table = task.search(6)
    mine = task.search(6, labeller=CallableLabeller(_pixel3), executor="inline")
    assert table.directions == mine.directions == ["min"]
    assert mine.best.values == table.best.values
    with pytest.raises(InvalidArgumentError, match=r"seed is the task's own: TransferTask\(seed=...\)"):
        task.search(3, seed=1)
    with pytest.raises(InvalidArgumentError, match="proposer is the transfer proposer"):
        task.study(proposer="bo")
    with pytest.raises(InvalidArgumentError, match=r"space is the task's own"):
        task.study(space="nb201")
