"""MetaPredictor: task embedding invariance, few-shot transfer, guidance gradients, data tasks, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import nagen.benchmarks
import nagen.predictors as P
from nagen.errors import InvalidArchitectureError, InvalidTrainingDataError, NotFittedError
from nagen.noise import VPSchedule
from nagen.predictors.meta import MetaPredictor, Task, data_features

# a tiny model: the tests check mechanics and a clear transfer signal, not the benchmark numbers
TINY = dict(
    hidden=16, layers=2, inducing=4, heads=2, query_size=32, episodes_per_step=4, steps_per_epoch=20, support_range=(5, 30)
)


@pytest.fixture(scope="module")
def nb201():
    """Plain lists from the table: the models below never see the ``Benchmark`` object."""
    nb = nagen.benchmarks.load("nb201")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(nb))[:610]
    archs = [nb.archs[i] for i in idx]
    cols = {c: nb.query_many(archs, c) for c in ("cifar10_test", "cifar100_test", "imagenet16_test")}
    return archs, cols


@pytest.fixture(scope="module")
def sources(nb201):
    archs, cols = nb201
    return [
        Task("cifar100", archs[:300], cols["cifar100_test"][:300]),
        Task("imagenet16", archs[:300], cols["imagenet16_test"][:300]),
    ]


@pytest.fixture(scope="module")
def meta(sources):
    return MetaPredictor("nb201", seed=0, **TINY).meta_fit(sources, epochs=10)


def test_registered_under_meta() -> None:
    assert "meta" in P.names()
    assert isinstance(P.get("meta", "nb201", hidden=8, heads=2), MetaPredictor)


def test_task_embedding_is_permutation_invariant(meta, nb201) -> None:
    archs, cols = nb201
    sup, y = archs[300:320], cols["cifar10_test"][300:320]
    emb = meta.task_embedding(sup, y)
    assert emb.shape == (16,)
    for s in range(3):
        perm = np.random.default_rng(s).permutation(20)
        torch.testing.assert_close(meta.task_embedding([sup[i] for i in perm], y[perm]), emb, atol=1e-5, rtol=1e-5)
    # any k works, including a single pair and the empty set (zero-shot)
    assert torch.isfinite(meta.task_embedding(sup[:1], y[:1])).all()
    assert torch.isfinite(meta.task_embedding([], [])).all()
    # and it does depend on the labels
    assert not torch.allclose(meta.task_embedding(sup, y[::-1].copy()), emb)


def test_ten_labels_transfer_beats_a_constant(meta, nb201) -> None:
    archs, cols = nb201
    y10 = cols["cifar10_test"]
    model = meta.fit(archs[300:310], y10[300:310])
    pred = model.predict(archs[310:610]).mean
    assert pred.shape == (300,) and np.isfinite(pred).all()
    rho = spearmanr(pred, y10[310:610]).correlation
    assert rho > 0.3, f"Spearman {rho:.3f} on 300 held-out cells after 10 target labels"
    # predictions come back in the target's units (accuracy %), from the support statistics
    assert model.y_mean == pytest.approx(y10[300:310].mean()) and model.y_std == pytest.approx(y10[300:310].std())
    assert 0 < np.median(pred) < 100


def test_fit_sees_only_the_k_labels_it_is_given(meta, nb201, monkeypatch) -> None:
    archs, cols = nb201
    sup, y = archs[300:310], np.array(cols["cifar10_test"][300:310])
    before = meta.fit(sup, y).predict(archs[310:400]).mean

    def forbidden(*args, **kwargs):
        raise AssertionError("the meta-predictor read the benchmark table")

    for name in ("query", "query_many", "values", "optimum", "row"):
        monkeypatch.setattr(nagen.benchmarks.Benchmark, name, forbidden)
    y_ro = y.copy()
    y_ro.flags.writeable = False  # fit may not write into the caller's labels either
    after = meta.fit(list(sup), y_ro).predict(archs[310:400]).mean
    np.testing.assert_allclose(after, before, rtol=1e-6)
    # the held-out labels never reach the model: the same k labels give the same model whatever they are
    other = meta.fit(sup, y_ro).predict(archs[310:400]).mean
    np.testing.assert_array_equal(other, after)


def test_finetuning_never_changes_the_meta_trained_weights(meta, nb201) -> None:
    archs, cols = nb201
    state = {k: v.clone() for k, v in meta.net.state_dict().items()}
    meta.finetune_steps = 5
    try:
        tuned = meta.fit(archs[300:310], cols["cifar10_test"][300:310]).predict(archs[310:350]).mean
    finally:
        meta.finetune_steps = 0
    for k, v in meta.net.state_dict().items():
        torch.testing.assert_close(v, state[k])
    plain = meta.fit(archs[300:310], cols["cifar10_test"][300:310]).predict(archs[310:350]).mean
    assert not np.allclose(tuned, plain)


def test_score_is_differentiable_and_matches_predict(meta, nb201) -> None:
    archs, cols = nb201
    meta.fit(archs[300:310], cols["cifar10_test"][300:310])
    X, A = meta.space.encode(archs[400:404])
    X = X.clone().requires_grad_(True)
    s = meta.score(X, A)
    s.sum().backward()
    assert s.shape == (4,)
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    np.testing.assert_allclose(s.detach().numpy(), meta.predict(archs[400:404]).mean, rtol=1e-4)


def test_noise_aware_meta_training_scores_noisy_states(sources, nb201) -> None:
    archs, cols = nb201
    model = MetaPredictor("nb201", noise=VPSchedule(), seed=1, **TINY).meta_fit(sources, epochs=2)
    model.fit(archs[300:310], cols["cifar10_test"][300:310])
    X, A = model.space.encode(archs[400:406])
    Xt = (0.5 * X + 0.5 * torch.randn(X.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    s = model.score(Xt, A, torch.full((6,), 0.5))
    s.sum().backward()
    assert torch.isfinite(Xt.grad).all() and Xt.grad.abs().sum() > 0


def test_meta_fit_is_reproducible(sources, nb201) -> None:
    archs, cols = nb201
    preds = []
    for _ in range(2):
        m = MetaPredictor("nb201", seed=3, **TINY).meta_fit(sources, epochs=1)
        preds.append(m.fit(archs[300:310], cols["cifar10_test"][300:310]).predict(archs[310:330]).mean)
    np.testing.assert_array_equal(preds[0], preds[1])


def test_without_ridge_with_finetuning_and_two_labels(sources, nb201) -> None:
    archs, cols = nb201
    model = MetaPredictor("nb201", ridge=False, task_mixup=0.0, task_augment=1.0, finetune_steps=3, seed=2, **TINY)
    model.meta_fit(sources, epochs=1)
    assert model.net.ridge_raw is None
    pred = model.fit(archs[300:302], cols["cifar10_test"][300:302]).predict(archs[310:320]).mean
    assert pred.shape == (10,) and np.isfinite(pred).all()


# ------------------------------------------------------------------ data-encoded tasks (digits)
@pytest.fixture(scope="module")
def digit_tasks(nb201):
    from sklearn.datasets import load_digits

    digits = load_digits()
    archs, cols = nb201
    subsets = {"0-4": range(0, 5), "5-9": range(5, 10), "even": range(0, 10, 2)}
    labels = ("cifar10_test", "cifar100_test", "imagenet16_test")
    tasks = []
    for (name, classes), col in zip(subsets.items(), labels):
        keep = np.isin(digits.target, list(classes))
        tasks.append(Task(name, archs[:100], cols[col][:100], data=digits.data[keep].astype(np.float32)))
    odd = digits.images[np.isin(digits.target, [1, 3, 5, 7, 9])].astype(np.float32)
    return tasks, odd


def test_data_task_encoding_on_digit_subsets(digit_tasks, nb201) -> None:
    tasks, odd = digit_tasks
    archs, cols = nb201
    model = MetaPredictor("nb201", task_encoding="data", seed=0, data_samples=32, **TINY).meta_fit(tasks, epochs=2)
    # images (m x H x W) and flattened features (m x 64) are the same 64 features
    assert data_features(odd).shape == (len(odd), 64)
    model.set_task_data(odd)
    pred = model.fit(archs[300:310], cols["cifar10_test"][300:310]).predict(archs[310:330]).mean
    assert pred.shape == (20,) and np.isfinite(pred).all()
    emb_odd = model.task_embedding(archs[300:310], cols["cifar10_test"][300:310])
    emb_even = model.task_embedding(archs[300:310], cols["cifar10_test"][300:310], data=tasks[2].data)
    assert emb_odd.shape == (16,) and not torch.allclose(emb_odd, emb_even)
    # "both" concatenates the pairs and data embeddings
    both = MetaPredictor("nb201", task_encoding="both", data=odd, seed=0, data_samples=32, **TINY).meta_fit(tasks, epochs=1)
    assert both.task_embedding(archs[300:310], cols["cifar10_test"][300:310]).shape == (32,)


def test_data_encoding_needs_data(digit_tasks, nb201) -> None:
    tasks, _ = digit_tasks
    archs, cols = nb201
    no_data = [Task(t.name, t.archs, t.values) for t in tasks]
    with pytest.raises(InvalidTrainingDataError, match="has no data"):
        MetaPredictor("nb201", task_encoding="data", **TINY).meta_fit(no_data, epochs=1)
    model = MetaPredictor("nb201", task_encoding="data", data_samples=16, **TINY).meta_fit(tasks, epochs=1)
    with pytest.raises(InvalidTrainingDataError, match="set_task_data"):
        model.fit(archs[300:310], cols["cifar10_test"][300:310])
    with pytest.raises(InvalidTrainingDataError, match="features"):
        model.set_task_data(np.zeros((5, 3), dtype=np.float32)).fit(archs[300:310], cols["cifar10_test"][300:310])
    wide = [Task(t.name, t.archs, t.values, data=np.zeros((4, 64 + i))) for i, t in enumerate(tasks)]
    with pytest.raises(InvalidTrainingDataError, match="one width"):
        MetaPredictor("nb201", task_encoding="data", **TINY).meta_fit(wide, epochs=1)


# ------------------------------------------------------------------ errors
def test_fit_before_meta_fit_raises(nb201) -> None:
    archs, cols = nb201
    model = MetaPredictor("nb201", **TINY)
    with pytest.raises(NotFittedError, match="meta_fit"):
        model.fit(archs[:10], cols["cifar10_test"][:10])
    with pytest.raises(NotFittedError):
        model.task_embedding(archs[:10], cols["cifar10_test"][:10])
    with pytest.raises(NotFittedError):
        model.predict(archs[:3])


def test_predict_after_meta_fit_but_before_fit_raises(sources, nb201) -> None:
    archs, _ = nb201
    model = MetaPredictor("nb201", **TINY).meta_fit(sources, epochs=1)
    with pytest.raises(NotFittedError, match="fit"):
        model.predict(archs[:3])


def test_meta_fit_rejects_bad_tasks(nb201) -> None:
    archs, cols = nb201
    y = cols["cifar10_test"]
    model = MetaPredictor("nb201", **TINY)
    with pytest.raises(InvalidTrainingDataError, match="at least one"):
        model.meta_fit([])
    with pytest.raises(InvalidTrainingDataError, match="10 architectures but values"):
        model.meta_fit([Task("a", archs[:10], y[:9])])
    with pytest.raises(InvalidTrainingDataError, match="finite"):
        model.meta_fit([Task("a", archs[:3], [1.0, float("nan"), 2.0])])
    with pytest.raises(InvalidTrainingDataError, match="at least 2"):
        model.meta_fit([Task("a", archs[:1], y[:1])])
    with pytest.raises(InvalidTrainingDataError, match="sequence of Task"):
        model.meta_fit(Task("a", archs[:10], y[:10]))
    with pytest.raises(InvalidArchitectureError):
        model.meta_fit([Task("a", ["not a cell", archs[0]], [1.0, 2.0])])
    with pytest.raises(ValueError, match="task_encoding"):
        MetaPredictor("nb201", task_encoding="dataset")


def test_task_mixup_with_partly_shared_architectures(monkeypatch) -> None:
    """Source tasks sharing only a few architectures: mixup episodes must still batch.

    Before the fix a mixture had only the shared rows (here 10), fewer than the step's
    ``k + q``, and ``meta_fit`` crashed on a shape error.
    """
    import itertools

    import nagen.spaces

    archs = list(itertools.islice(nagen.spaces.get("nb201").enumerate(), 70))
    rng = np.random.default_rng(0)
    tasks = [Task("A", archs[:40], rng.random(40)), Task("B", archs[30:70], rng.random(40))]  # 10 shared
    model = MetaPredictor(
        "nb201", hidden=8, layers=1, inducing=2, heads=2, query_size=4, episodes_per_step=4, steps_per_epoch=12,
        support_range=(2, 30), task_mixup=1.0, task_augment=0.0, seed=0,
    )
    seen = []  # (episode size the step needs, mixed?, rows available)
    orig = MetaPredictor._episode_task

    def spy(self, sources, mixes, gen, *rest):
        out = orig(self, sources, mixes, gen, *rest)
        seen.append((rest[0] if rest else None, out[1] is not None, len(out[2])))
        return out

    monkeypatch.setattr(MetaPredictor, "_episode_task", spy)
    model.meta_fit(tasks, epochs=2)
    assert np.isfinite(model.meta_history).all()
    mixed = [s for s in seen if s[1]]
    assert mixed, "steps with k + q <= 10 shared architectures should mix"
    assert any(not s[1] for s in seen), "steps needing more than the 10 shared rows fall back to one task"
    assert all(n >= need for need, _, n in mixed)
